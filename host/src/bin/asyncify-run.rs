//! `asyncify-run MODULE [--pause-every-import] [-- ARGS]`: runs a module (asyncified or not) in
//! wasmtime with WASI preview1 and `spectest.print`, optionally pausing at every import call
//! to check that it resumes exactly where it paused (see `asyncify_host::check`).
//!
//! Exits with the program's exit code; a host error (a rewind that re-enters another call, a
//! trap, a missing export) prints one line on stderr and exits with 70.

use std::path::PathBuf;
use std::process::ExitCode;

use asyncify_host::check::{self, Config, Pause, Stdout};
use clap::Parser;

/// Run a WebAssembly module with WASI, pausing (unwinding and rewinding) at its import calls.
#[derive(Parser)]
#[command(name = "asyncify-run", version)]
struct Args {
    /// The module (.wasm or .wat).
    module: PathBuf,
    /// Pause at every import call: unwind, rewind, and perform the call when the rewind
    /// re-enters it (which must be the same import with the same arguments).
    #[arg(long)]
    pause_every_import: bool,
    /// Pause only at these imports (`module.name` patterns, `*` matches anything;
    /// comma separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "pause_every_import")]
    pause: Vec<String>,
    /// The export to call (default: `_start` if exported, else only instantiate).
    #[arg(long)]
    invoke: Option<String>,
    /// Give the program this host directory, under the same name (repeatable).
    #[arg(long = "dir", value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Size of the unwind stack in KiB.
    #[arg(long, default_value_t = 1024)]
    stack_kib: u32,
    /// Print pauses and import calls on stderr at the end.
    #[arg(long)]
    stats: bool,
    /// Arguments for the program (after `--`); argv[0] is the module's file name.
    #[arg(last = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let name = args.module.display().to_string();
    // Asyncified code, Binaryen's unoptimized output in particular, has large frames: run on
    // a thread with a big native stack and give wasm most of it.
    let run = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || run(args))
        .expect("spawn the run's thread")
        .join();
    match run {
        Ok(Ok(code)) => ExitCode::from(code as u8),
        Ok(Err(e)) => {
            eprintln!("asyncify-run: {name}: {e}");
            ExitCode::from(70)
        }
        Err(_) => {
            eprintln!("asyncify-run: {name}: the run's thread panicked");
            ExitCode::from(70)
        }
    }
}

fn run(args: Args) -> Result<i32, String> {
    let mut config = wasmtime::Config::new();
    config.max_wasm_stack(48 << 20);
    config.wasm_backtrace_max_frames(None);
    // (wasmtime checks it against the stack of async calls, unused here)
    config.async_stack_size(49 << 20);
    let engine = wasmtime::Engine::new(&config).map_err(|e| format!("{e:#}"))?;
    let bytes = std::fs::read(&args.module).map_err(|e| format!("cannot read: {e}"))?;
    let module = wasmtime::Module::new(&engine, &bytes).map_err(|e| format!("{e:#}"))?;
    let argv0 = args
        .module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pause = if args.pause_every_import {
        Pause::EveryImport
    } else if !args.pause.is_empty() {
        Pause::Matching(args.pause)
    } else {
        Pause::Never
    };
    let dirs = args
        .dirs
        .into_iter()
        .map(|d| {
            let guest = d.to_string_lossy().into_owned();
            (d, guest)
        })
        .collect();
    let config = Config {
        args: std::iter::once(argv0).chain(args.args).collect(),
        pause,
        stdout: Stdout::Inherit,
        stdin: Vec::new(),
        dirs,
        invoke: args.invoke,
        stack_size: args.stack_kib.saturating_mul(1024),
    };
    let report = check::run(&engine, &module, &config).map_err(|e| e.to_string())?;
    if args.stats {
        let by: Vec<String> = report
            .calls_by_import
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        eprintln!(
            "asyncify-run: pauses={} imports={} max_unwind_bytes={} exit={} by_import={}",
            report.pauses,
            report.import_calls,
            report.max_unwind_bytes,
            report.exit_code,
            by.join(",")
        );
    }
    Ok(report.exit_code)
}
