//! Times wasm32-wasi benchmark modules side by side, the way the runtime stage does (interleaved
//! runs, asyncified modules through asyncify-host, `env.pause` never pausing), and prints each
//! module's median, spread and fuel. For looking into one program's runtime without a whole
//! suite run, e.g. comparing two builds of a transform:
//!
//! ```sh
//! cargo run --release --example time -- --size 16 --repeats 5 \
//!     target/bench/modules/copy.list.ours.wasm target/bench/modules/copy.list.binaryen-132-O2.wasm
//! ```
//!
//! To see what Cranelift made of a module: `--profile jitdump` under `perf record -k 1` (then
//! `perf inject --jit` and `perf annotate`), or `--emit-clif DIR` for each function's IR as
//! Cranelift receives it (`docs/transform.md` says what to look for).

use std::path::PathBuf;

use anyhow::{Context, Result};
use asyncify_bench::runtime::{engine_with, run_once, spread, w};
use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(about = "Times wasm32-wasi benchmark modules side by side (interleaved runs)")]
struct Args {
    /// The workload size passed to each program.
    #[arg(long, default_value_t = 1)]
    size: u32,
    /// Timed runs per module.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Tell a profiler about the compiled code.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Write each function's Cranelift IR into this directory.
    #[arg(long)]
    emit_clif: Option<PathBuf>,
    /// The modules: a program's normal build, and asyncified ones.
    #[arg(required = true)]
    modules: Vec<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Profile {
    /// `/tmp/perf-PID.map`, for `perf report`.
    Perfmap,
    /// `jit-PID.dump` in the current directory, for `perf inject --jit`.
    Jitdump,
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
    let tune = |config: &mut wasmtime::Config| {
        match args.profile {
            Some(Profile::Perfmap) => config.profiler(wasmtime::ProfilingStrategy::PerfMap),
            Some(Profile::Jitdump) => config.profiler(wasmtime::ProfilingStrategy::JitDump),
            None => config,
        };
        if let Some(dir) = &args.emit_clif {
            config.emit_clif(dir);
        }
    };
    let timed = engine_with(false, tune)?;
    let counted = engine_with(true, |_| {})?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut variants = Vec::new();
    for f in &args.modules {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let m = w(wasmtime::Module::new(&timed, &bytes))?;
        let asyncified = m.exports().any(|e| e.name() == "asyncify_start_unwind");
        let c = w(wasmtime::Module::new(&counted, &bytes))?;
        let (_, sum, fuel) =
            rt.block_on(run_once(&counted, &c, asyncified, "time", args.size, true))?;
        variants.push((f, asyncified, m, Vec::new(), fuel, sum));
    }
    for _ in 0..args.repeats {
        for (_, asyncified, m, times, _, _) in variants.iter_mut() {
            let (ms, _, _) =
                rt.block_on(run_once(&timed, m, *asyncified, "time", args.size, false))?;
            times.push(ms);
        }
    }
    for (f, _, _, times, fuel, sum) in &variants {
        let (median, min, max) = spread(times);
        println!(
            "{median:>9.2} ms [{min:.2}-{max:.2}]  fuel {fuel:>12}  checksum {sum:?}  {}",
            f.display()
        );
    }
    Ok(())
}
