//! Stage `runtime`: every program x mode x tool from the sizes stage, run in wasmtime (the
//! asyncified ones through `asyncify-host`, with `env.pause` never pausing: the cost of being
//! able to pause). Timed runs are interleaved across the variants (A B C A B C ...), every run's
//! checksum is checked, and a fuel count (wasm operations executed, deterministic) stands
//! beside the time. Each repeat runs the module in another code layout (`layout.rs`), so a
//! median is over layouts: a hot loop's lucky or unlucky address does not decide it.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use wasmtime::{Config, Engine, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::build::build_all;
use crate::layout::{self, LAYOUTS};
use crate::sizes::{module_path, read_csv, write_csv, SizeRow};
use crate::tools::{Tool, MODES};
use crate::Run;

#[derive(Debug, serde::Serialize, serde::Deserialize, Clone)]
pub struct RuntimeRow {
    pub program: String,
    pub mode: String,
    pub tool: String,
    pub size: u32,
    pub runs: usize,
    pub ms_median: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    /// Median time over the normal build's median, same run.
    pub ratio: f64,
    /// Wasm operations executed (wasmtime fuel), and its ratio to normal's.
    pub fuel: u64,
    pub fuel_ratio: f64,
}

/// Engines for timed runs and for fuel counts: asyncify-host's configuration.
pub fn engine(fuel: bool) -> Result<Engine> {
    engine_with(fuel, |_| {})
}

/// `engine`, with a change to the configuration first (a profiler, `emit_clif`).
pub fn engine_with(fuel: bool, tune: impl FnOnce(&mut Config)) -> Result<Engine> {
    let mut config = Config::new();
    config.consume_fuel(fuel);
    tune(&mut config);
    Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))
}

/// `bytes` compiled in `layouts` code layouts (`layout::shifted`), layout 0 first.
pub fn compile_layouts(engine: &Engine, bytes: &[u8], layouts: u32) -> Result<Vec<Module>> {
    (0..layouts)
        .map(|layout| w(Module::new(engine, &layout::shifted(bytes, layout)?)))
        .collect()
}

pub fn w<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e:#}"))
}

fn wasi(name: &str, size: u32, stdout: &MemoryOutputPipe) -> WasiP1Ctx {
    wasmtime_wasi::WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .args(&[name.to_string(), size.to_string()])
        .build_p1()
}

/// `Ok` for a finished run: returned, or exited with status 0.
fn finished(r: wasmtime::Result<()>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => Ok(()),
            _ => bail!("{e:#}"),
        },
    }
}

/// One run of `_start`: (milliseconds of the call alone, checksum printed, fuel used when
/// `fuel`, which needs an engine from `engine(true)`).
/// `asyncified` modules run through asyncify-host, the others through wasmtime directly; both
/// with synchronous calls into wasm and asyncify-host's WASI preview1 (no call pauses: list
/// modes do not instrument WASI), and `env.pause` an ordinary import.
pub async fn run_once(
    engine: &Engine,
    module: &Module,
    asyncified: bool,
    name: &str,
    size: u32,
    fuel: bool,
) -> Result<(f64, Option<u64>, u64)> {
    let stdout = MemoryOutputPipe::new(1 << 20);
    let (ms, left) = if asyncified {
        let mut linker = asyncify_host::Linker::<WasiP1Ctx>::new(engine);
        w(asyncify_host::wasi::add_to_linker_pausing(
            &mut linker,
            |c| c,
            &[],
        ))?;
        w(linker.inner().func_wrap("env", "pause", || {}).map(|_| ()))?;
        let mut inst = linker
            .instantiate(
                module,
                wasi(name, size, &stdout),
                asyncify_host::Buffer::Grow { size: 1 << 16 },
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if fuel {
            w(inst.store_mut().set_fuel(u64::MAX))?;
        }
        let t = Instant::now();
        let r = inst.call_async("_start", &[]).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match r {
            Ok(_) => {}
            Err(asyncify_host::Error::Trap(e)) => finished(Err(e))?,
            Err(e) => bail!("{e}"),
        }
        let left = if fuel { w(inst.store().get_fuel())? } else { 0 };
        (ms, left)
    } else {
        let mut linker: wasmtime::Linker<WasiP1Ctx> = wasmtime::Linker::new(engine);
        w(asyncify_host::wasi::add_to_wasmtime_linker(
            &mut linker,
            |c| c,
        ))?;
        w(linker.func_wrap("env", "pause", || {}).map(|_| ()))?;
        let mut store = Store::new(engine, wasi(name, size, &stdout));
        if fuel {
            w(store.set_fuel(u64::MAX))?;
        }
        let instance = w(linker.instantiate(&mut store, module))?;
        let start = w(instance.get_typed_func::<(), ()>(&mut store, "_start"))?;
        let t = Instant::now();
        let r = start.call(&mut store, ());
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        finished(r)?;
        let left = if fuel { w(store.get_fuel())? } else { 0 };
        (ms, left)
    };
    let used = if fuel { u64::MAX - left } else { 0 };
    Ok((ms, crate::run::parse_checksum(&stdout.contents())?, used))
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[s.len() / 2]
}

/// (median, min, max) of repeated measurements.
pub fn spread(v: &[f64]) -> (f64, f64, f64) {
    let min = v.iter().cloned().fold(f64::MAX, f64::min);
    let max = v.iter().cloned().fold(0.0, f64::max);
    (median(v), min, max)
}

struct Variant {
    mode: &'static str,
    tool: String,
    asyncified: bool,
    /// The module in each code layout (`layout::shifted`): repeat `i` runs layout
    /// `i % LAYOUTS`.
    timed: Vec<Module>,
    counted: Module,
    times: Vec<f64>,
    fuel: u64,
}

/// Runs the stage on the optimized outputs of the run's tools; writes `reports/runtime.csv`.
pub fn run(run: Run) -> Result<()> {
    let (programs, tools, full, reports) = (run.programs, run.tools, run.full, run.reports);
    let tools: Vec<&Tool> = tools.iter().filter(|t| t.optimized()).collect();
    let repeats = run.repeats.unwrap_or(if full { 7 } else { 3 }).max(1);
    let timed_engine = engine(false)?;
    let fuel_engine = engine(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let built = build_all(programs)?;
    let variants_per = 1 + (MODES.len() - 1) * tools.len();
    let bar = ProgressBar::new((programs.len() * variants_per * (repeats + 1)) as u64);
    bar.set_style(ProgressStyle::with_template("runtime {bar:40} {pos}/{len} {msg}").unwrap());
    // Modules that failed the sizes stage's pause check are no result: not timed.
    let failed: Vec<(String, String, String)> = read_csv::<SizeRow>(&reports.join("sizes.csv"))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r.resumes)
        .map(|r| (r.program, r.mode, r.tool))
        .collect();
    let mut rows = Vec::new();
    for (p, normal_path) in programs.iter().zip(built) {
        let size = p.runtime_size();
        let expected = p.expected(size);
        bar.set_message(format!("{} (compiling)", p.name));
        let mut variants = Vec::new();
        let mut add = |mode: &'static str, tool: String, path: &Path, asyncified: bool| {
            let bytes = std::fs::read(path).with_context(|| {
                format!(
                    "{} (run the sizes stage first: it makes the modules)",
                    path.display()
                )
            })?;
            let timed = compile_layouts(&timed_engine, &bytes, LAYOUTS)?;
            variants.push(Variant {
                mode,
                tool,
                asyncified,
                timed,
                counted: w(Module::new(&fuel_engine, &bytes))?,
                times: Vec::new(),
                fuel: 0,
            });
            anyhow::Ok(())
        };
        add("normal", "clang".into(), &normal_path, false)?;
        for mode in MODES.iter().filter(|m| m.asyncify.is_some()) {
            for tool in tools.iter().copied() {
                let key = (p.name.clone(), mode.name.to_string(), tool.name());
                if failed.contains(&key) {
                    bar.println(format!(
                        "{} {} {}: not timed (it failed the pause check)",
                        key.0, key.1, key.2
                    ));
                    continue;
                }
                add(mode.name, tool.name(), &module_path(p, mode, tool), true)?;
            }
        }
        let check = |v: &Variant, got: Option<u64>| -> Result<()> {
            if got != expected {
                bail!(
                    "{} {} {} at size {size}: checksum {got:?}, expected {expected:?}",
                    p.name,
                    v.mode,
                    v.tool
                );
            }
            Ok(())
        };
        for v in variants.iter_mut() {
            bar.set_message(format!("{} {} {} (fuel)", p.name, v.mode, v.tool));
            let (_, got, fuel) = rt.block_on(run_once(
                &fuel_engine,
                &v.counted,
                v.asyncified,
                &p.name,
                size,
                true,
            ))?;
            check(v, got)?;
            v.fuel = fuel;
            bar.inc(1);
        }
        for repeat in 0..repeats {
            for v in variants.iter_mut() {
                bar.set_message(format!("{} {} {}", p.name, v.mode, v.tool));
                let (ms, got, _) = rt.block_on(run_once(
                    &timed_engine,
                    &v.timed[repeat % v.timed.len()],
                    v.asyncified,
                    &p.name,
                    size,
                    false,
                ))?;
                check(v, got)?;
                v.times.push(ms);
                bar.inc(1);
            }
        }
        let base = median(&variants[0].times);
        let base_fuel = variants[0].fuel.max(1) as f64;
        for v in &variants {
            let (m, min, max) = spread(&v.times);
            rows.push(RuntimeRow {
                program: p.name.clone(),
                mode: v.mode.into(),
                tool: v.tool.clone(),
                size,
                runs: v.times.len(),
                ms_median: m,
                ms_min: min,
                ms_max: max,
                ratio: m / base,
                fuel: v.fuel,
                fuel_ratio: v.fuel as f64 / base_fuel,
            });
        }
    }
    bar.finish_with_message("done");
    write_csv(&reports.join("runtime.csv"), &rows)
}
