//! Times wasm32-wasi benchmark modules side by side, the way the runtime stage does (interleaved
//! runs, asyncified modules through asyncify-host, `env.pause` never pausing, each module in
//! `--layouts` code layouts), and prints each module's median, spread and fuel, and each
//! layout's median. For looking into one program's runtime without a whole
//! suite run, e.g. comparing two builds of a transform:
//!
//! ```sh
//! cargo run --release --example time -- --size 16 --repeats 5 \
//!     target/bench/modules/copy.list.ours.wasm target/bench/modules/copy.list.binaryen-132-O2.wasm
//! ```
//!
//! Or name programs of `programs.toml`, and it makes their modules itself (the normal build,
//! ours through the library as built now, Binaryen 108 and 132 with `-O2` from the cache
//! under `target/bench/cache/`) and prints one table per mode: each module's median and
//! spread, its time and fuel as ratios to normal. Issue #10's table is
//!
//! ```sh
//! cargo run --release --example time -- --programs sqlite,quickjs,lua --size 2 --repeats 5
//! ```
//!
//! To see what Cranelift made of a module: `--profile jitdump` under `perf record -k 1` (then
//! `perf inject --jit` and `perf annotate`), or `--emit-clif DIR` for each function's IR as
//! Cranelift receives it (`docs/transform.md` says what to look for).

use std::path::PathBuf;

use anyhow::{Context, Result};
use asyncify_bench::runtime::{compile_layouts, engine_with, run_once, spread, w};
use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(about = "Times wasm32-wasi benchmark modules side by side (interleaved runs)")]
struct Args {
    /// The workload size passed to each program.
    #[arg(long, default_value_t = 1)]
    size: u32,
    /// Timed rounds: each runs every module once in every layout.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Code layouts per module (`asyncify_bench::layout`): the median is over all of them, so
    /// a hot loop's lucky or unlucky address does not decide it. 1: the module as it is.
    #[arg(long, default_value_t = asyncify_bench::layout::LAYOUTS, value_parser = clap::value_parser!(u32).range(1..))]
    layouts: u32,
    /// Tell a profiler about the compiled code.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Write each function's Cranelift IR into this directory.
    #[arg(long)]
    emit_clif: Option<PathBuf>,
    /// Programs of programs.toml to build, transform and time (instead of modules).
    #[arg(long, value_delimiter = ',', conflicts_with = "modules")]
    programs: Vec<String>,
    /// With --programs: the modes to time.
    #[arg(long, value_delimiter = ',', default_value = "worst")]
    modes: Vec<String>,
    /// The modules: a program's normal build, and asyncified ones.
    #[arg(required_unless_present = "programs")]
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

/// The modules `--programs` names: per program, the normal build, then per mode ours,
/// Binaryen 108 -O2 and Binaryen 132 -O2. Labels are `program mode tool`.
fn program_modules(args: &Args) -> Result<Vec<(String, PathBuf)>> {
    use asyncify_bench::{build, programs, tools};
    let manifest = programs::load(&programs::root().join("bench-programs/programs.toml"))?;
    let picked = manifest.pick(&args.programs, "--programs")?;
    let modes = args
        .modes
        .iter()
        .map(|m| Ok((m.as_str(), tools::Flags::of_mode(m, "--modes")?)))
        .collect::<Result<Vec<_>>>()?;
    let dir = programs::root().join("target/bench/time");
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    for (p, normal) in picked.iter().zip(build::build_all(&picked)?) {
        out.push((format!("{} normal", p.name), normal.clone()));
        let bytes = std::fs::read(&normal)?;
        for &(mode, flags) in &modes {
            let ours = asyncify::transform(&bytes, &flags.options())
                .with_context(|| format!("ours on {}", p.name))?;
            let path = dir.join(format!("{}.{mode}.ours.wasm", p.name));
            std::fs::write(&path, ours.wasm)?;
            out.push((format!("{} {mode} ours", p.name), path));
            for version in [108, 132] {
                let tool = tools::Tool::Binaryen {
                    version,
                    optimize: true,
                };
                let path = tools::transform_cached(&tool, &normal, flags)?;
                out.push((format!("{} {mode} {}", p.name, tool.label()), path));
            }
        }
    }
    Ok(out)
}

fn run(args: Args) -> Result<()> {
    if let Some(dir) = &args.emit_clif {
        // Cranelift writes into it and panics if it does not exist.
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--emit-clif: cannot create {}", dir.display()))?;
    }
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
    let modules: Vec<(String, PathBuf)> = if args.programs.is_empty() {
        let label = |f: &PathBuf| f.display().to_string();
        args.modules.iter().map(|f| (label(f), f.clone())).collect()
    } else {
        program_modules(&args)?
    };
    let mut variants = Vec::new();
    let mut normal_sum = None;
    for (label, f) in &modules {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let m = compile_layouts(&timed, &bytes, args.layouts)?;
        let asyncified = m[0].exports().any(|e| e.name() == "asyncify_start_unwind");
        let c = w(wasmtime::Module::new(&counted, &bytes))?;
        let (_, sum, fuel) =
            rt.block_on(run_once(&counted, &c, asyncified, "time", args.size, true))?;
        match (asyncified, &normal_sum) {
            (false, _) => normal_sum = Some(sum),
            (true, Some(n)) if *n != sum => {
                anyhow::bail!("{label}: checksum {sum:?}, but the normal build printed {n:?}")
            }
            _ => {}
        }
        variants.push((label, asyncified, m, Vec::new(), fuel, sum));
    }
    for _ in 0..args.repeats {
        for (_, asyncified, layouts, times, _, _) in variants.iter_mut() {
            for m in layouts.iter() {
                let (ms, _, _) =
                    rt.block_on(run_once(&timed, m, *asyncified, "time", args.size, false))?;
                times.push(ms);
            }
        }
    }
    // Ratios to the last normal build above each row (with --programs, its program's).
    let mut normal: Option<(f64, u64)> = None;
    for (label, asyncified, _, times, fuel, sum) in &variants {
        let (median, min, max) = spread(times);
        if !asyncified {
            normal = Some((median, *fuel));
        }
        let ratios = match normal {
            Some((ms, f)) if *asyncified => {
                format!(
                    "{:>5.2}x time {:>5.2}x fuel",
                    median / ms,
                    *fuel as f64 / f as f64
                )
            }
            _ => format!("{:>22}", ""),
        };
        println!(
            "{median:>9.2} ms [{min:.2}-{max:.2}] {ratios}  fuel {fuel:>12}  checksum {sum:?}  {label}"
        );
        if args.layouts > 1 {
            // Runs go round the layouts, so layout i's runs are every layouts-th.
            let per_layout: Vec<String> = (0..args.layouts as usize)
                .map(|i| {
                    let runs: Vec<f64> = times
                        .iter()
                        .skip(i)
                        .step_by(args.layouts as usize)
                        .copied()
                        .collect();
                    format!("{:.2}", asyncify_bench::runtime::median(&runs))
                })
                .collect();
            println!("{:>12} layouts: {} ms", "", per_layout.join(" "));
        }
    }
    Ok(())
}
