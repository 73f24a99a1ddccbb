//! `asyncify-bench`: the measurement suite's command line. Stages (see the library's docs):
//! `build`, `sizes`, `runtime`, `switch`, `report`; `all` runs them in order and prints where
//! the report is; `expect` prints the checksums of the normal builds.
//!
//! `--full` uses every program and every size in `programs.toml` (default: a quick run with the
//! first two sizes, without the programs marked `quick = false`); `--only a,b` picks programs.

use anyhow::{bail, Context, Result};
use asyncify_bench::{build, programs, report, run, runtime, sizes, switch};

const USAGE: &str =
    "usage: asyncify-bench [build|sizes|runtime|switch|report|all|expect] [--full] [--only NAME,...] \
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
    // The switch stage's experiment is fannkuch's, whatever --only says.
    let fannkuch = programs.iter().find(|p| p.name == "fannkuch").cloned();
    let fannkuch = || fannkuch.clone().context("programs.toml has no fannkuch");
    if let Some(only) = &only {
        for name in only {
            if !programs.iter().any(|p| &p.name == name) {
                bail!("--only: no program `{name}` in programs.toml");
            }
        }
        programs.retain(|p| only.contains(&p.name));
    } else if !full {
        programs.retain(|p| p.quick);
    }
    match stage.as_deref().unwrap_or("all") {
        "build" => {
            for (p, path) in programs.iter().zip(build::build_all(&programs)?) {
                println!("{}: {} (pauses {})", p.name, path.display(), p.pause);
            }
        }
        "sizes" => sizes::run(&programs, full, repeats, &reports)?,
        "runtime" => runtime::run(&programs, full, repeats, &reports)?,
        "switch" => switch::run(&fannkuch()?, full, repeats, &reports)?,
        "report" => report::run(&reports)?,
        "all" => {
            sizes::run(&programs, full, repeats, &reports)?;
            runtime::run(&programs, full, repeats, &reports)?;
            switch::run(&fannkuch()?, full, repeats, &reports)?;
            report::run(&reports)?;
            println!("report: {}", reports.join("index.html").display());
        }
        "expect" => {
            for (p, path) in programs.iter().zip(build::build_all(&programs)?) {
                let module = run::compile(&std::fs::read(path)?)?;
                println!("[{}]", p.name);
                for &size in &p.sizes {
                    if let Some(c) = run::checksum(&module, &p.name, size)? {
                        println!("\"{size}\" = \"{c}\"");
                    }
                }
            }
        }
        s => bail!("unknown stage `{s}`\n{USAGE}"),
    }
    Ok(())
}
