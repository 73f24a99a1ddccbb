//! Where the bytes our transform adds go, per program of `programs.toml` (default: all of
//! them): builds each program (cached), transforms it with the library as built now, and
//! splits the growth of the code section into the parts `asyncify_bench::breakdown` names.
//! Then, over the programs, the geomean of the module size ratio to normal, as it is and
//! as it would be with one part, or the whole rewind path, gone. Sizes are deterministic.
//!
//! ```sh
//! cargo run --release --example breakdown -- --mode worst
//! cargo run --release --example breakdown -- --programs fannkuch,sqlite
//! ```

use anyhow::{Context, Result};
use asyncify_bench::breakdown::{breakdown, Breakdown};
use asyncify_bench::{build, programs, tools};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Splits the bytes our transform adds to each benchmark program by purpose")]
struct Args {
    /// Programs of programs.toml (default: every one).
    #[arg(long, value_delimiter = ',')]
    programs: Vec<String>,
    /// The asyncified mode (`worst`, `list`, `list-indirect`).
    #[arg(long, default_value = "worst")]
    mode: String,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let manifest = programs::load(&programs::root().join("bench-programs/programs.toml"))?;
    let picked = if args.programs.is_empty() {
        manifest.program.clone()
    } else {
        manifest.pick(&args.programs, "--programs")?
    };
    let options = tools::Flags::of_mode(&args.mode, "--mode")?.options();
    let mut rows: Vec<(String, usize, usize, Breakdown)> = Vec::new();
    for (p, path) in picked.iter().zip(build::build_all(&picked)?) {
        let normal = std::fs::read(&path)?;
        let ours = asyncify::transform(&normal, &options)
            .with_context(|| format!("ours on {}", p.name))?
            .wasm;
        let b = breakdown(&normal, &ours).with_context(|| p.name.clone())?;
        rows.push((p.name.clone(), normal.len(), ours.len(), b));
    }
    let names: Vec<&str> = rows
        .first()
        .map(|r| r.3.parts().iter().map(|(n, _)| *n).collect())
        .unwrap_or_default();
    println!(
        "{} mode: bytes added to the code, and each part's share of them",
        args.mode
    );
    print!("{:<14} {:>8} {:>6}", "program", "added", "sites");
    for n in &names {
        print!(" {:>8}", n.split(' ').next().unwrap_or(n));
    }
    println!();
    for (name, _, _, b) in &rows {
        print!("{name:<14} {:>8} {:>6}", b.added(), b.sites);
        for (_, bytes) in b.parts() {
            print!(" {:>7.1}%", 100.0 * bytes as f64 / b.added().max(1) as f64);
        }
        println!();
    }
    // Module ratio to normal, geomean, with some bytes taken away from each output.
    let geomean = |less: &dyn Fn(&Breakdown) -> i64| {
        let logs: f64 = rows
            .iter()
            .map(|(_, n, o, b)| ((*o as i64 - less(b)) as f64 / *n as f64).ln())
            .sum();
        (logs / rows.len().max(1) as f64).exp()
    };
    println!(
        "\nmodule size ratio to normal, geomean of {} programs: {:.4}",
        rows.len(),
        geomean(&|_| 0)
    );
    for (k, n) in names.iter().enumerate() {
        println!("  without the {n}: {:.4}", geomean(&|b| b.parts()[k].1));
    }
    println!(
        "  without the whole rewind path (site tests, guards, arm choices, restore tests, result stores): {:.4}",
        geomean(&|b| b.rewind_path() as i64)
    );
    Ok(())
}
