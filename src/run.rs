//! Checked runs: a module in wasmtime under `asyncify_host::check` (WASI, `env.pause` as a
//! no-op), its checksum read from stdout, and the check that a transformed module, paused at
//! every import its mode lets pause, behaves exactly like the original.

use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use asyncify_host::check::{self, Config, Pause, Report};
use wasmtime::{Engine, Module};

/// wasmtime 48's errors are not `std::error::Error`s; keep their full chain as text.
fn w<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e:#}"))
}

/// Native stack for the checked runs, and how much of it wasm may use. Generous, because the
/// check is about results: Binaryen's unoptimized output for QuickJS has frames so large that
/// its recursion exhausts wasmtime's default 512 KiB.
const THREAD_STACK: usize = 64 << 20;
const WASM_STACK: usize = 48 << 20;
/// The unwind stack of a paused run. Every pause copies it (see `asyncify_host::check`), so
/// it is not larger than the deepest of the suite's stacks needs.
pub const UNWIND_STACK: u32 = 256 << 10;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.max_wasm_stack(WASM_STACK);
        // (wasmtime checks it against the stack of async calls, unused here)
        config.async_stack_size(WASM_STACK + (1 << 20));
        Engine::new(&config).expect("a default engine with a larger stack")
    })
}

/// Compiles `wasm` for [`run`].
pub fn compile(wasm: &[u8]) -> Result<Module> {
    w(Module::new(engine(), wasm)).context("compile")
}

/// Runs `module` with `name size` as arguments, pausing as `pause` says, on a thread with a
/// large stack.
pub fn run(module: &Module, name: &str, size: u32, pause: Pause) -> Result<Report> {
    let config = Config {
        args: vec![name.to_string(), size.to_string()],
        pause,
        stack_size: UNWIND_STACK,
        ..Config::default()
    };
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn_scoped(s, || check::run(engine(), module, &config))
            .context("spawn the run's thread")?
            .join()
            .map_err(|_| anyhow::anyhow!("{name} {size}: the run's thread panicked"))?
            .map_err(|e| anyhow::anyhow!("{name} {size}: {e}"))
    })
}

/// The `checksum: N` line of a run's output (`None` for a run that prints none, such as
/// size 0).
pub fn parse_checksum(stdout: &[u8]) -> Result<Option<u64>> {
    let text = String::from_utf8_lossy(stdout);
    match text.lines().find_map(|l| l.strip_prefix("checksum: ")) {
        Some(v) => Ok(Some(v.trim().parse().context("bad checksum line")?)),
        None => Ok(None),
    }
}

/// Runs `module` unpaused; returns its checksum. A non-zero exit is an error.
pub fn checksum(module: &Module, name: &str, size: u32) -> Result<Option<u64>> {
    let report = run(module, name, size, Pause::Never)?;
    if report.exit_code != 0 {
        bail!("{name} {size}: exit code {}", report.exit_code);
    }
    parse_checksum(&report.stdout)
}

/// Runs `transformed` pausing at every import call `pause` allows and compares it with the
/// unpaused `original` run: stdout, exit code and every import's number of calls. Returns the
/// pauses taken.
pub fn check_resumes(
    original: &Report,
    transformed: &Module,
    name: &str,
    size: u32,
    pause: Pause,
) -> Result<u64> {
    let paused = run(transformed, name, size, pause)?;
    if paused.exit_code != original.exit_code {
        bail!(
            "paused at every import, it exits with {} (the original: {})",
            paused.exit_code,
            original.exit_code
        );
    }
    if paused.stdout != original.stdout {
        bail!(
            "paused at every import, its output differs: {}",
            first_difference(&paused.stdout, &original.stdout)
        );
    }
    if paused.calls_by_import != original.calls_by_import {
        bail!(
            "paused at every import, it calls {:?} (the original: {:?})",
            paused.calls_by_import,
            original.calls_by_import
        );
    }
    Ok(paused.pauses)
}

/// Where two outputs first differ, for messages.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let (got, want) = (String::from_utf8_lossy(got), String::from_utf8_lossy(want));
    let (mut a, mut b) = (got.lines(), want.lines());
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, y) => return format!("line {line}: {x:?}, the original {y:?}"),
        }
    }
}
