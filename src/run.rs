//! Runs a module in wasmtime with WASI and a no-op `env.pause`, and reads its checksum.

use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// wasmtime 48's errors are not `std::error::Error`s; keep their full chain as text.
fn w<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e:#}"))
}

/// Native stack for the checked runs, and how much of it wasm may use. Generous, because the
/// check is about results: Binaryen's unoptimized output for QuickJS has frames so large that
/// its recursion exhausts wasmtime's default 512 KiB.
const THREAD_STACK: usize = 64 << 20;
const WASM_STACK: usize = 48 << 20;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.max_wasm_stack(WASM_STACK);
        config.async_stack_size(WASM_STACK + (1 << 20));
        Engine::new(&config).expect("a default engine with a larger stack")
    })
}

/// Compiles `wasm` for [`checksum`].
pub fn compile(wasm: &[u8]) -> Result<Module> {
    w(Module::new(engine(), wasm)).context("compile")
}

/// Runs `module` with `name size` as arguments; returns the checksum it printed (`None` for a
/// run that prints nothing, such as size 0). Runs on a thread with a large stack.
pub fn checksum(module: &Module, name: &str, size: u32) -> Result<Option<u64>> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn_scoped(s, || checksum_here(module, name, size))
            .context("spawn the run's thread")?
            .join()
            .map_err(|_| anyhow::anyhow!("{name} {size}: the run's thread panicked"))?
    })
}

fn checksum_here(module: &Module, name: &str, size: u32) -> Result<Option<u64>> {
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine());
    w(wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |c| c))?;
    w(linker.func_wrap("env", "pause", || {}).map(|_| ()))?;
    let stdout = MemoryOutputPipe::new(1 << 20);
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .args(&[name.to_string(), size.to_string()])
        .build_p1();
    let mut store = Store::new(engine(), wasi);
    let instance = w(linker.instantiate(&mut store, module))?;
    let start = w(instance.get_typed_func::<(), ()>(&mut store, "_start"))?;
    if let Err(e) = start.call(&mut store, ()) {
        match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => {}
            _ => bail!("{name} {size}: {e:#}"),
        }
    }
    let text = String::from_utf8_lossy(&stdout.contents()).into_owned();
    let line = text.lines().find_map(|l| l.strip_prefix("checksum: "));
    match line {
        Some(v) => Ok(Some(
            v.trim()
                .parse()
                .with_context(|| format!("{name}: bad checksum line"))?,
        )),
        None => Ok(None),
    }
}
