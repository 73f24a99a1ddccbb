//! `asyncify-bench`: the measurement suite. Stages read and write files in `reports/`, so each
//! can be rerun alone:
//!
//! - `build`: compile the programs (clang-16, cached under `target/bench/`);
//! - `sizes`: every program x mode x tool: sizes, transform cost, checked runs;
//! - `report`: charts from the CSVs;
//! - `all`: the three in order; `expect`: print the checksums of the normal builds.
//!
//! `--full` uses every size in `programs.toml` (default: a quick run with the first two);
//! `--only a,b` restricts the programs.

mod build;
mod programs;
mod report;
mod run;
mod sizes;
mod tools;

use anyhow::{bail, Result};

const USAGE: &str =
    "usage: asyncify-bench [build|sizes|report|all|expect] [--full] [--only NAME,...] \
                     [--repeats N] [--reports DIR] [--programs FILE]";

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asyncify-bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut stage = None;
    let mut full = false;
    let mut only: Option<Vec<String>> = None;
    let mut reports = programs::root().join("reports");
    let mut manifest_path = programs::root().join("bench-programs/programs.toml");
    let mut repeats: Option<usize> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--full" => full = true,
            "--only" => {
                only = Some(
                    args.next()
                        .unwrap_or_default()
                        .split(',')
                        .map(String::from)
                        .collect(),
                )
            }
            "--reports" => reports = args.next().unwrap_or_default().into(),
            "--programs" => manifest_path = args.next().unwrap_or_default().into(),
            "--repeats" => {
                let v = args.next().unwrap_or_default();
                repeats = Some(
                    v.parse()
                        .map_err(|_| anyhow::anyhow!("--repeats: `{v}` is not a count"))?,
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if stage.is_none() && !s.starts_with('-') => stage = Some(s.to_string()),
            s => bail!("unknown argument `{s}`\n{USAGE}"),
        }
    }
    let manifest = programs::load(&manifest_path)?;
    let mut programs = manifest.program;
    if let Some(only) = &only {
        for name in only {
            if !programs.iter().any(|p| &p.name == name) {
                bail!("--only: no program `{name}` in programs.toml");
            }
        }
        programs.retain(|p| only.contains(&p.name));
    }
    match stage.as_deref().unwrap_or("all") {
        "build" => {
            for p in &programs {
                println!(
                    "{}: {} (pauses {})",
                    p.name,
                    build::build(p)?.display(),
                    p.pause
                );
            }
        }
        "sizes" => sizes::run(&programs, full, repeats, &reports)?,
        "report" => report::run(&reports)?,
        "all" => {
            sizes::run(&programs, full, repeats, &reports)?;
            report::run(&reports)?;
            println!("report written to {}", reports.display());
        }
        "expect" => {
            for p in &programs {
                let wasm = std::fs::read(build::build(p)?)?;
                println!("[{}]", p.name);
                for &size in &p.sizes {
                    if let Some(c) = run::checksum(&wasm, &p.name, size)? {
                        println!("\"{size}\" = \"{c}\"");
                    }
                }
            }
        }
        s => bail!("unknown stage `{s}`\n{USAGE}"),
    }
    Ok(())
}
