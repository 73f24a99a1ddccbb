//! `asyncify-bench`: the measurement suite's harness. Not implemented yet; the stages (build,
//! size, run, switch, report) arrive with the suite issues.

fn main() -> std::process::ExitCode {
    eprintln!("asyncify-bench: the measurement suite is not implemented yet");
    std::process::ExitCode::from(2)
}
