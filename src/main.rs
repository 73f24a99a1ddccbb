//! `asyncify-bench`: the measurement suite's command line. Stages (see the library's docs):
//! `build`, `sizes`, `runtime`, `switch`, `report`; `all` runs them in order and prints where
//! the report is; `expect` prints the checksums of the normal builds; `compare OLD NEW` prints
//! what changed between two report folders.
//!
//! `--full` uses every program and every size in `programs.toml` (default: a quick run with the
//! first two sizes, without the programs marked `quick = false`); `--only a,b` picks programs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use asyncify_bench::tools::{self, Tool};
use asyncify_bench::{build, compare, programs, report, run, runtime, sizes, switch, Run};
use clap::{Parser, ValueEnum};

/// The Asyncify measurement suite: build the programs, transform them in every mode with every
/// tool, measure size, run time and switch cost, and draw the report.
#[derive(Parser)]
#[command(name = "asyncify-bench")]
struct Args {
    /// The stage to run (each reads and writes files in the reports folder).
    #[arg(value_enum, default_value_t = Stage::All)]
    stage: Stage,
    /// For `compare`: the old and the new report folder.
    #[arg(value_name = "DIR")]
    folders: Vec<PathBuf>,
    /// Every program and every size of programs.toml (default: a quick run with the first two
    /// sizes, without the programs marked `quick = false`).
    #[arg(long)]
    full: bool,
    /// Only these programs (comma separated).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Repeats of each timed measurement (default: 3 quick, more with --full).
    #[arg(long)]
    repeats: Option<usize>,
    /// Where the CSVs, charts and index.html go.
    #[arg(long, default_value_os_t = programs::root().join("reports"))]
    reports: PathBuf,
    /// The program list.
    #[arg(long, default_value_os_t = programs::root().join("bench-programs/programs.toml"))]
    programs: PathBuf,
    /// Add a tool to the run, beside ours and Binaryen's, in every CSV and chart (sizes and
    /// runtime stages; repeatable). COMMAND is split at spaces and called like wasm-opt:
    /// `COMMAND INPUT --asyncify [--pass-arg=asyncify-imports@LIST]
    /// [--pass-arg=asyncify-ignore-indirect] -o OUTPUT`, e.g.
    /// `--tool old=../old/target/release/asyncify` or `--tool b132-O3='wasm-opt -O3'`.
    #[arg(long = "tool", value_name = "NAME=COMMAND")]
    tools: Vec<Tool>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Stage {
    /// Compile the programs (cached under target/bench/).
    Build,
    /// Sizes, transform cost, and every output checked (with pauses too).
    Sizes,
    /// Run time and fuel of every module of the sizes stage.
    Runtime,
    /// The fannkuch pause experiment and coroutine ping-pong.
    Switch,
    /// Charts and index.html from the CSVs.
    Report,
    /// sizes, runtime, switch and report, in order.
    All,
    /// Print the checksums of the normal builds (to fill programs.toml).
    Expect,
    /// Size and time changes from one report folder to another: `compare OLD NEW`.
    Compare,
}

fn main() -> std::process::ExitCode {
    match real_main(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asyncify-bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main(args: Args) -> Result<()> {
    let Args {
        stage,
        folders,
        full,
        only,
        repeats,
        reports,
        programs: manifest_path,
        tools,
    } = args;
    let tools = tools::run_tools(&tools);
    if let (false, Some(f)) = (stage == Stage::Compare, folders.first()) {
        bail!(
            "unexpected argument {}: only compare takes folders",
            f.display()
        );
    }
    let manifest = programs::load(&manifest_path)?;
    // The switch stage's experiment is fannkuch's, whatever --only says.
    let fannkuch = manifest
        .program
        .iter()
        .find(|p| p.name == "fannkuch")
        .cloned();
    let fannkuch = || fannkuch.clone().context("programs.toml has no fannkuch");
    if let Some(only) = &only {
        manifest.pick(only, "--only")?; // every name is a program
    }
    // In programs.toml's order, each once.
    let programs: Vec<_> = (manifest.program.into_iter())
        .filter(|p| match &only {
            Some(only) => only.contains(&p.name),
            None => full || p.quick,
        })
        .collect();
    let measure = Run {
        programs: &programs,
        tools: &tools,
        full,
        repeats,
        reports: &reports,
    };
    match stage {
        Stage::Build => {
            for (p, path) in programs.iter().zip(build::build_all(&programs)?) {
                println!("{}: {} (pauses {})", p.name, path.display(), p.pause);
            }
        }
        Stage::Sizes => sizes::run(measure)?,
        Stage::Runtime => runtime::run(measure)?,
        Stage::Switch => switch::run(&fannkuch()?, full, repeats, &reports)?,
        Stage::Report => report::run(&reports)?,
        Stage::All => {
            sizes::run(measure)?;
            runtime::run(measure)?;
            switch::run(&fannkuch()?, full, repeats, &reports)?;
            report::run(&reports)?;
            println!("report: {}", reports.join("index.html").display());
        }
        Stage::Compare => match folders.as_slice() {
            [old, new] => print!("{}", compare::compare(old, new)?),
            _ => bail!("compare takes two report folders: compare OLD NEW"),
        },
        Stage::Expect => {
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
    }
    Ok(())
}
