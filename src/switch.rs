//! Stage `switch`: what a pause costs.
//!
//! 1. The seed article's fannkuch experiment: fannkuch with its pause point in the innermost
//!    loop, run normal, asyncified with no pause taken, and with 1 pause of 1 ms, 1000 pauses
//!    of 1 ms, and 1000 and 100000 pauses of 0 ms; asyncified by us and by Binaryen (through
//!    `asyncify-host`), and uninstrumented on wasmtime's own async support (fibers).
//! 2. Coroutine ping-pong: two coroutines switching through a yield import, at call-stack
//!    depths 1 to 64 and with 0, 4 or 16 live i64 locals per frame; asyncify (two coroutines in
//!    one instance) beside fibers (two instances: wasmtime runs one call per store at a time)
//!    and beside wasm's stack-switching proposal (continuations, scheduled in wasm).
//!
//! Writes `reports/fannkuch.csv` and `reports/switch.csv`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use wasmtime::{Engine, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::build::{build, out_dir};
use crate::programs::Program;
use crate::runtime::{engine, spread, w};
use crate::sizes::write_csv;
use crate::tools::{Flags, Tool};

#[derive(Debug, serde::Serialize, serde::Deserialize, Clone)]
pub struct FannkuchRow {
    pub row: String,
    pub runtime: String,
    pub pauses: u64,
    pub sleep_ms: f64,
    pub runs: usize,
    pub ms_median: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    /// (time - the same runtime's no-pause time) / pauses: what a pause costs, the sleeping
    /// (or the yield to the executor) included; empty when not above `noise_us_per_pause`
    /// (a yield's can be: one run of 1000 was once 3 ms faster than its no-pause run).
    #[serde(default)]
    pub us_per_pause: Option<f64>,
    /// (time - the same runtime's no-pause time - the sleeping itself) / pauses; empty when
    /// that is not above `noise_us_per_pause` (a negative one included: the sleeping itself
    /// is an estimate).
    pub overhead_us_per_pause: Option<f64>,
    /// The run-to-run spread (slowest minus fastest repeat) of this row and of its runtime's
    /// no-pause row, per pause: an overhead within it is no measurement.
    #[serde(default)]
    pub noise_us_per_pause: Option<f64>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, Clone)]
pub struct SwitchRow {
    pub runtime: String,
    pub depth: u32,
    pub locals: u32,
    pub switches: u64,
    pub ns_median: f64,
    pub ns_min: f64,
    pub ns_max: f64,
}

const ASYNCIFIERS: [Tool; 2] = [
    Tool::Ours,
    Tool::Binaryen {
        version: 132,
        optimize: true,
    },
];

const PAUSE_ONLY: Flags = Flags {
    imports: Some("env.pause"),
    ignore_indirect: false,
};

fn transform(tool: &Tool, input: &Path, output: &Path, flags: Flags) -> Result<()> {
    let out = tool
        .command(input, output, flags)
        .output()
        .with_context(|| format!("cannot run {}", tool.label()))?;
    if !out.status.success() {
        bail!(
            "{} failed on {}: {}",
            tool.label(),
            input.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The stage; `full` runs more repeats and bigger batches.
pub fn run(fannkuch: &Program, full: bool, repeats: Option<usize>, reports: &Path) -> Result<()> {
    // Medians of several runs: a pause costs microseconds, a run's noise is milliseconds.
    let repeats = repeats.unwrap_or(if full { 11 } else { 7 }).max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let engine = engine(false)?;
    let rows = rt.block_on(fannkuch_experiment(&engine, fannkuch, full, repeats))?;
    write_csv(&reports.join("fannkuch.csv"), &rows)?;
    let rows = rt.block_on(ping_pong(&engine, full, repeats))?;
    write_csv(&reports.join("switch.csv"), &rows)
}

// ---- 1. fannkuch with a pause point in its innermost loop ----------------------------------

struct Host {
    wasi: WasiP1Ctx,
    schedule: Schedule,
}

/// Which calls of `env.pause` pause: `pauses` of `total`, spread evenly (call `n` pauses when
/// `n * pauses / total` steps up, at `n = ceil(k * total / pauses)` for `k` in 1..=pauses).
/// The next pausing call is known ahead, so a call that does not pause costs a compare: the
/// harness must add no work of its own to the import it measures. (It once divided twice
/// per call, and the "no pause taken" row measured 1.3x normal on a slow machine where the
/// instrumentation and the host cost 1.13x.)
struct Schedule {
    calls: u64,
    /// The call that pauses next (`u64::MAX`: none), and how many have paused.
    next: u64,
    paused: u64,
    pauses: u64,
    total: u64,
}

impl Schedule {
    fn new(pauses: u64, total: u64) -> Schedule {
        let mut s = Schedule {
            calls: 0,
            next: 0,
            paused: 0,
            pauses,
            total,
        };
        s.next = s.following();
        s
    }

    fn following(&self) -> u64 {
        if self.paused < self.pauses {
            ((self.paused + 1) * self.total).div_ceil(self.pauses)
        } else {
            u64::MAX
        }
    }

    /// Counts a call; whether it pauses.
    fn pause_now(&mut self) -> bool {
        self.calls += 1;
        if self.calls != self.next {
            return false;
        }
        self.paused += 1;
        self.next = self.following();
        true
    }
}

#[derive(Clone, Copy)]
enum Runtime {
    /// The uninstrumented module, `env.pause` an ordinary import, synchronous calls with
    /// asyncify-host's WASI: what the asyncified module's "no pause taken" row runs.
    Plain,
    /// The uninstrumented module, `env.pause` an async import on wasmtime's fibers.
    Fibers,
    /// An asyncified module through asyncify-host.
    Asyncify,
}

/// One run: `pauses` of the `total` calls of `env.pause` pause, spread evenly, for `sleep` (a
/// yield to the executor when zero). Returns (ms, checksum, calls).
async fn pausing_run(
    engine: &Engine,
    module: &Module,
    runtime: Runtime,
    (pauses, total): (u64, u64),
    sleep: Duration,
    size: u32,
) -> Result<(f64, Option<u64>, u64)> {
    let stdout = MemoryOutputPipe::new(1 << 16);
    let host = Host {
        wasi: wasmtime_wasi::WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .args(&["fannkuch".to_string(), size.to_string()])
            .build_p1(),
        schedule: Schedule::new(pauses, total),
    };
    let wait = move || async move {
        if sleep.is_zero() {
            tokio::task::yield_now().await
        } else {
            tokio::time::sleep(sleep).await
        }
    };
    let t;
    let (result, calls) = match runtime {
        Runtime::Asyncify => {
            // Only env.pause was asyncified: WASI runs without pausing.
            let mut linker = asyncify_host::Linker::<Host>::new(engine);
            w(asyncify_host::wasi::add_to_linker_pausing(
                &mut linker,
                |h| &mut h.wasi,
                &[],
            ))?;
            w(
                linker.func_wrap_maybe_async("env", "pause", move |caller, ()| {
                    if caller.data_mut().data.schedule.pause_now() {
                        asyncify_host::Reply::Later(async move {
                            wait().await;
                            Ok(())
                        })
                    } else {
                        asyncify_host::Reply::Now(())
                    }
                }),
            )?;
            let mut inst = linker
                .instantiate(module, host, asyncify_host::Buffer::Grow { size: 1 << 16 })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let start = inst
                .typed_func::<(), ()>("_start")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            t = Instant::now();
            let result = match inst.call_typed_async(&start, ()).await {
                Ok(_) => Ok(()),
                Err(asyncify_host::Error::Trap(e)) => Err(e),
                Err(e) => bail!("{e}"),
            };
            (result, inst.data().schedule.calls)
        }
        Runtime::Plain => {
            let mut linker: wasmtime::Linker<Host> = wasmtime::Linker::new(engine);
            w(asyncify_host::wasi::add_to_wasmtime_linker(
                &mut linker,
                |h| &mut h.wasi,
            ))?;
            w(linker
                .func_wrap("env", "pause", |mut caller: wasmtime::Caller<'_, Host>| {
                    caller.data_mut().schedule.pause_now();
                })
                .map(|_| ()))?;
            let mut store = Store::new(engine, host);
            let instance = w(linker.instantiate(&mut store, module))?;
            let start = w(instance.get_typed_func::<(), ()>(&mut store, "_start"))?;
            t = Instant::now();
            (start.call(&mut store, ()), store.data().schedule.calls)
        }
        Runtime::Fibers => {
            let mut linker: wasmtime::Linker<Host> = wasmtime::Linker::new(engine);
            w(wasmtime_wasi::p1::add_to_linker_async(&mut linker, |h| {
                &mut h.wasi
            }))?;
            w(linker
                .func_wrap_async("env", "pause", move |mut caller, ()| {
                    let pause = caller.data_mut().schedule.pause_now();
                    Box::new(async move {
                        if pause {
                            wait().await;
                        }
                    })
                })
                .map(|_| ()))?;
            let mut store = Store::new(engine, host);
            let instance = w(linker.instantiate_async(&mut store, module).await)?;
            let start = w(instance.get_typed_func::<(), ()>(&mut store, "_start"))?;
            t = Instant::now();
            let result = start.call_async(&mut store, ()).await;
            (result, store.data().schedule.calls)
        }
    };
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if let Err(e) = result {
        match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => {}
            _ => bail!("fannkuch: {e:#}"),
        }
    }
    Ok((ms, crate::run::parse_checksum(&stdout.contents())?, calls))
}

/// The mean time of one `sleep` (a yield when zero) on this runtime: the sleeping itself,
/// which a pause's overhead excludes (a mean, since the experiment sums many sleeps).
async fn sleep_cost(sleep: Duration) -> f64 {
    let mut v = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        if sleep.is_zero() {
            tokio::task::yield_now().await
        } else {
            tokio::time::sleep(sleep).await
        }
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.iter().sum::<f64>() / v.len() as f64
}

struct Config {
    row: &'static str,
    runtime: String,
    kind: Runtime,
    module: usize,
    pauses: u64,
    sleep: Duration,
    times: Vec<f64>,
}

async fn fannkuch_experiment(
    engine: &Engine,
    fannkuch: &Program,
    full: bool,
    repeats: usize,
) -> Result<Vec<FannkuchRow>> {
    let mut inner = fannkuch.clone();
    inner.name = "fannkuch-inner".into();
    inner.flags.push("-DPAUSE_INNER".into());
    let size = if full { 9 } else { 8 };
    let normal = build(&inner)?;
    let mut paths = vec![normal.clone()];
    for tool in &ASYNCIFIERS {
        let out = out_dir()
            .join("modules")
            .join(format!("fannkuch-inner.list.{}.wasm", tool.label()));
        std::fs::create_dir_all(out.parent().unwrap())?;
        transform(tool, &normal, &out, PAUSE_ONLY)?;
        paths.push(out);
    }
    let modules = paths
        .iter()
        .map(|p| w(Module::from_file(engine, p)))
        .collect::<Result<Vec<_>>>()?;
    // How often the innermost loop calls the pause point, to spread the pauses evenly.
    let (_, expected, calls) = pausing_run(
        engine,
        &modules[0],
        Runtime::Plain,
        (0, 1),
        Duration::ZERO,
        size,
    )
    .await?;
    let ms1 = Duration::from_millis(1);
    let mut configs = vec![Config {
        row: "normal",
        runtime: "wasmtime".into(),
        kind: Runtime::Plain,
        module: 0,
        pauses: 0,
        sleep: Duration::ZERO,
        times: vec![],
    }];
    let runtimes: Vec<(String, Runtime, usize)> = ASYNCIFIERS
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("asyncify {}", t.name()), Runtime::Asyncify, i + 1))
        .chain([("wasmtime fibers".to_string(), Runtime::Fibers, 0)])
        .collect();
    for (name, kind, module) in &runtimes {
        for (row, pauses, sleep) in [
            ("no pause taken", 0, Duration::ZERO),
            ("1 pause of 1 ms", 1, ms1),
            ("1000 pauses of 1 ms", 1000, ms1),
            ("1000 pauses of 0 ms", 1000, Duration::ZERO),
            // The same cost, with a spread 100 times smaller per pause.
            ("100000 pauses of 0 ms", 100_000, Duration::ZERO),
        ] {
            if pauses > calls {
                bail!("fannkuch at size {size} calls its pause point {calls} times, fewer than the {pauses} pauses of row `{row}`");
            }
            configs.push(Config {
                row,
                runtime: name.clone(),
                kind: *kind,
                module: *module,
                pauses,
                sleep,
                times: vec![],
            });
        }
    }
    let bar = ProgressBar::new((repeats * configs.len()) as u64);
    bar.set_style(ProgressStyle::with_template("fannkuch {bar:40} {pos}/{len} {msg}").unwrap());
    for _ in 0..repeats {
        for c in configs.iter_mut() {
            bar.set_message(format!("{}: {}", c.runtime, c.row));
            let (ms, got, _) = pausing_run(
                engine,
                &modules[c.module],
                c.kind,
                (c.pauses, calls),
                c.sleep,
                size,
            )
            .await?;
            if got != expected {
                bail!(
                    "fannkuch ({}, {}): checksum {got:?}, expected {expected:?}",
                    c.runtime,
                    c.row
                );
            }
            c.times.push(ms);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let sleep_1ms = sleep_cost(ms1).await;
    let yield_cost = sleep_cost(Duration::ZERO).await;
    let mut rows = Vec::new();
    for c in &configs {
        let (m, min, max) = spread(&c.times);
        let (base, base_min, base_max) = configs
            .iter()
            .find(|b| b.runtime == c.runtime && b.pauses == 0)
            .map_or((m, m, m), |b| spread(&b.times));
        let per_sleep = if c.sleep.is_zero() {
            yield_cost
        } else {
            sleep_1ms
        };
        // Microseconds per pause of a time in milliseconds; none for rows without pauses.
        let per_pause = |ms: f64| (c.pauses > 0).then(|| ms * 1000.0 / c.pauses as f64);
        let noise = per_pause((max - min) + (base_max - base_min));
        let us_per_pause = per_pause(m - base).filter(|v| *v > noise.unwrap_or(0.0));
        rows.push(FannkuchRow {
            row: c.row.into(),
            runtime: c.runtime.clone(),
            pauses: c.pauses,
            sleep_ms: c.sleep.as_secs_f64() * 1000.0,
            runs: c.times.len(),
            ms_median: m,
            ms_min: min,
            ms_max: max,
            us_per_pause,
            overhead_us_per_pause: us_per_pause
                .map(|us| us - per_sleep * 1000.0)
                .filter(|v| *v > noise.unwrap_or(0.0)),
            noise_us_per_pause: noise,
        });
    }
    Ok(rows)
}

// ---- 2. coroutine ping-pong ------------------------------------------------------------------

/// The recursive function both ping-pong modules share: `$rec(n)` recurses `n` frames deep
/// and pauses at the bottom with `pause` (a call or a `suspend`); each frame keeps `locals`
/// i64 locals live across the recursive call.
fn rec_wat(locals: u32, pause: &str) -> String {
    let mut decl = String::new();
    let mut set = String::new();
    let mut sum = String::from("(i64.const 0)");
    for i in 0..locals {
        decl.push_str(&format!(" (local $l{i} i64)"));
        set.push_str(&format!(
            "    (local.set $l{i} (i64.mul (i64.extend_i32_u (local.get $n)) (i64.const {})))\n",
            i + 3
        ));
        sum = format!("(i64.add {sum} (local.get $l{i}))");
    }
    format!(
        r#"  (func $rec (param $n i32) (result i64){decl}
{set}    (if (result i64) (i32.gt_u (local.get $n) (i32.const 1))
      (then (i64.add (call $rec (i32.sub (local.get $n) (i32.const 1))) {sum}))
      (else ({pause}) (i64.add (i64.const 1) {sum}))))
"#
    )
}

/// The loop of one coroutine: `iters` times `$rec(depth)`, summed into `$acc`.
const LOOP_WAT: &str = r#"    (local $i i32) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $iters)))
        (local.set $acc (i64.add (local.get $acc) (call $rec (local.get $depth))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
"#;

/// A module whose export `run(depth, iters)` is one coroutine: it recurses `depth` frames deep
/// `iters` times and calls `env.yield` at the bottom; it returns the sum of the results.
pub fn ping_pong_wat(locals: u32) -> String {
    format!(
        r#"(module
  (import "env" "yield" (func $yield))
  (memory (export "memory") 4)
{}  (func (export "run") (param $depth i32) (param $iters i32) (result i64)
{LOOP_WAT}    (local.get $acc)))
"#,
        rec_wat(locals, "call $yield")
    )
}

/// The same two coroutines with wasm's stack-switching proposal: `run(depth, iters)` makes
/// two continuations and resumes them alternately until both finish (scheduling in wasm, no
/// host involved); it returns the number of resumes, `results` the two sums.
pub fn stack_switching_wat(locals: u32) -> String {
    format!(
        r#"(module
  (type $f (func))
  (type $k (cont $f))
  (type $cf (func (param i32 i32 i32)))
  (type $kc (cont $cf))
  (tag $yield)
  (global $r0 (mut i64) (i64.const 0))
  (global $r1 (mut i64) (i64.const 0))
{}  (func $co (param $depth i32) (param $iters i32) (param $which i32)
{LOOP_WAT}    (if (local.get $which)
      (then (global.set $r1 (local.get $acc)))
      (else (global.set $r0 (local.get $acc)))))
  (elem declare func $co)
  (func (export "run") (param $depth i32) (param $iters i32) (result i64)
    (local $a (ref null $k)) (local $b (ref null $k)) (local $resumes i64)
    (local.set $a (cont.bind $kc $k (local.get $depth) (local.get $iters) (i32.const 0)
      (cont.new $kc (ref.func $co))))
    (local.set $b (cont.bind $kc $k (local.get $depth) (local.get $iters) (i32.const 1)
      (cont.new $kc (ref.func $co))))
    (loop $schedule
      (if (i32.eqz (ref.is_null (local.get $a)))
        (then
          (local.set $resumes (i64.add (local.get $resumes) (i64.const 1)))
          (local.set $a
            (block $yielded (result (ref null $k))
              (resume $k (on $yield $yielded) (local.get $a))
              (ref.null $k)))))
      (if (i32.eqz (ref.is_null (local.get $b)))
        (then
          (local.set $resumes (i64.add (local.get $resumes) (i64.const 1)))
          (local.set $b
            (block $yielded (result (ref null $k))
              (resume $k (on $yield $yielded) (local.get $b))
              (ref.null $k)))))
      (br_if $schedule
        (i32.eqz (i32.and (ref.is_null (local.get $a)) (ref.is_null (local.get $b))))))
    (local.get $resumes))
  (func (export "results") (result i64 i64) (global.get $r0) (global.get $r1)))
"#,
        rec_wat(locals, "suspend $yield")
    )
}

/// An engine with the stack-switching proposal (and the proposals it builds on).
pub fn stack_switching_engine() -> Result<Engine> {
    let mut config = wasmtime::Config::new();
    config
        .wasm_function_references(true)
        .wasm_exceptions(true)
        .wasm_stack_switching(true);
    w(Engine::new(&config))
}

/// Stack switching: the whole ping-pong runs in wasm. Returns (ns per switch, switches, each
/// coroutine's result).
pub fn stack_switching_ping_pong(
    engine: &Engine,
    module: &Module,
    depth: u32,
    iters: u32,
) -> Result<(f64, u64, Vec<i64>)> {
    let mut store = Store::new(engine, ());
    let instance = w(wasmtime::Instance::new(&mut store, module, &[]))?;
    let run = w(instance.get_typed_func::<(i32, i32), i64>(&mut store, "run"))?;
    let results = w(instance.get_typed_func::<(), (i64, i64)>(&mut store, "results"))?;
    let t = Instant::now();
    let switches = w(run.call(&mut store, (depth as i32, iters as i32)))? as u64;
    let ns = t.elapsed().as_nanos() as f64 / switches as f64;
    let (a, b) = w(results.call(&mut store, ()))?;
    Ok((ns, switches, vec![a, b]))
}

/// A future that is pending once (waking itself), then ready: a switch out of the fiber.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Asyncify: two coroutines of one instance, resumed alternately. Returns (ns per switch,
/// switches, each coroutine's result).
pub fn asyncify_ping_pong(
    engine: &Engine,
    module: &Module,
    depth: u32,
    iters: u32,
) -> Result<(f64, u64, Vec<i64>)> {
    use asyncify_host::{Buffer, Step};
    let err = |e: asyncify_host::Error| anyhow::anyhow!("{e}");
    let mut linker = asyncify_host::Linker::<()>::new(engine);
    w(linker.func_wrap_yield::<(), ()>("env", "yield").map(|_| ()))?;
    let mut inst = linker
        .instantiate(
            module,
            (),
            Buffer::Fixed {
                addr: 1 << 16,
                size: 1 << 15,
            },
        )
        .map_err(err)?;
    let run = inst.typed_func::<(i32, i32), i64>("run").map_err(err)?;
    let mut cos = Vec::new();
    for addr in [2 << 16, 3 << 16] {
        let buffer = Buffer::Fixed {
            addr,
            size: 1 << 16,
        };
        let params = (depth as i32, iters as i32);
        cos.push(Some(
            inst.typed_coroutine(&run, params, buffer).map_err(err)?,
        ));
    }
    let mut results = Vec::new();
    let mut switches = 0u64;
    let t = Instant::now();
    while cos.iter().any(Option::is_some) {
        for slot in cos.iter_mut() {
            let Some(co) = slot else { continue };
            switches += 1;
            if let Step::<(), _>::Done(v) = inst.resume_typed(co, ()).map_err(err)? {
                results.push(v);
                *slot = None;
            }
        }
    }
    Ok((
        t.elapsed().as_nanos() as f64 / switches as f64,
        switches,
        results,
    ))
}

/// The floor: the same asyncified module driven by a runtime written for it alone (a typed
/// `func_wrap` yield import that finds the exports it calls in its closure, typed calls, the
/// state in two flags), so the difference to `asyncify_ping_pong` is what the general host
/// costs. Returns what `asyncify_ping_pong` returns.
pub fn floor_ping_pong(
    engine: &Engine,
    module: &Module,
    depth: u32,
    iters: u32,
) -> Result<(f64, u64, Vec<i64>)> {
    use std::sync::{Arc, OnceLock};
    use wasmtime::{Caller, TypedFunc};

    #[derive(Default)]
    struct State {
        /// The buffer of the coroutine that runs; whether it yielded; whether it is rewinding.
        buffer: i32,
        unwound: bool,
        rewinding: bool,
    }
    struct Calls {
        start_unwind: TypedFunc<i32, ()>,
        stop_rewind: TypedFunc<(), ()>,
        memory: wasmtime::Memory,
    }
    const SIZE: i32 = 1 << 16;
    let calls = Arc::new(OnceLock::<Calls>::new());
    let cell = calls.clone();
    let mut linker = wasmtime::Linker::<State>::new(engine);
    w(linker.func_wrap(
        "env",
        "yield",
        move |mut caller: Caller<'_, State>| -> wasmtime::Result<()> {
            let calls = cell.get().expect("set after instantiation");
            if caller.data().rewinding {
                caller.data_mut().rewinding = false;
                return calls.stop_rewind.call(&mut caller, ());
            }
            let buffer = caller.data().buffer;
            caller.data_mut().unwound = true;
            let mut header = [0u8; 8];
            header[..4].copy_from_slice(&(buffer + 8).to_le_bytes());
            header[4..].copy_from_slice(&(buffer + SIZE).to_le_bytes());
            calls.memory.write(&mut caller, buffer as usize, &header)?;
            calls.start_unwind.call(&mut caller, buffer)
        },
    ))?;
    let mut store = Store::new(engine, State::default());
    let instance = w(linker.instantiate(&mut store, module))?;
    let typed = |store: &mut Store<State>, name: &str| {
        instance
            .get_func(&mut *store, name)
            .with_context(|| format!("no export {name}"))
    };
    let _ = calls.set(Calls {
        start_unwind: w(typed(&mut store, "asyncify_start_unwind")?.typed(&store))?,
        stop_rewind: w(typed(&mut store, "asyncify_stop_rewind")?.typed(&store))?,
        memory: instance
            .get_memory(&mut store, "memory")
            .context("no memory")?,
    });
    let run: TypedFunc<(i32, i32), i64> = w(typed(&mut store, "run")?.typed(&store))?;
    let stop_unwind: TypedFunc<(), ()> =
        w(typed(&mut store, "asyncify_stop_unwind")?.typed(&store))?;
    let start_rewind: TypedFunc<i32, ()> =
        w(typed(&mut store, "asyncify_start_rewind")?.typed(&store))?;
    // Two coroutines, each a buffer and whether it has started; `None` once finished.
    let mut cos = [Some((2 << 16, false)), Some((3 << 16, false))];
    let mut results = Vec::new();
    let mut switches = 0u64;
    let t = Instant::now();
    while cos.iter().any(Option::is_some) {
        for slot in cos.iter_mut() {
            let Some((buffer, started)) = slot else {
                continue;
            };
            switches += 1;
            store.data_mut().buffer = *buffer;
            if *started {
                store.data_mut().rewinding = true;
                w(start_rewind.call(&mut store, *buffer))?;
            }
            *started = true;
            let r = w(run.call(&mut store, (depth as i32, iters as i32)))?;
            if store.data().unwound {
                store.data_mut().unwound = false;
                w(stop_unwind.call(&mut store, ()))?;
            } else {
                results.push(r);
                *slot = None;
            }
        }
    }
    Ok((
        t.elapsed().as_nanos() as f64 / switches as f64,
        switches,
        results,
    ))
}

/// Fibers: the uninstrumented module in two instances (wasmtime runs one call per store at a
/// time), each call on its own fiber, polled alternately; the yield import's future is
/// pending once, which suspends the fiber.
pub async fn fibers_ping_pong(
    engine: &Engine,
    module: &Module,
    depth: u32,
    iters: u32,
) -> Result<(f64, u64, Vec<i64>)> {
    let mut linker: wasmtime::Linker<()> = wasmtime::Linker::new(engine);
    w(linker
        .func_wrap_async("env", "yield", |_caller, ()| Box::new(YieldOnce(false)))
        .map(|_| ()))?;
    let mut s0 = Store::new(engine, ());
    let mut s1 = Store::new(engine, ());
    let i0 = w(linker.instantiate_async(&mut s0, module).await)?;
    let i1 = w(linker.instantiate_async(&mut s1, module).await)?;
    let f0 = w(i0.get_typed_func::<(i32, i32), i64>(&mut s0, "run"))?;
    let f1 = w(i1.get_typed_func::<(i32, i32), i64>(&mut s1, "run"))?;
    let args = (depth as i32, iters as i32);
    type Call<'a> = Pin<Box<dyn Future<Output = wasmtime::Result<i64>> + Send + 'a>>;
    let mut calls: Vec<Option<Call<'_>>> = vec![
        Some(Box::pin(f0.call_async(&mut s0, args))),
        Some(Box::pin(f1.call_async(&mut s1, args))),
    ];
    let mut cx = TaskContext::from_waker(std::task::Waker::noop());
    let mut results = Vec::new();
    let mut switches = 0u64;
    let t = Instant::now();
    while calls.iter().any(Option::is_some) {
        for slot in calls.iter_mut() {
            let Some(call) = slot else { continue };
            switches += 1;
            if let Poll::Ready(r) = call.as_mut().poll(&mut cx) {
                results.push(w(r)?);
                *slot = None;
            }
        }
    }
    Ok((
        t.elapsed().as_nanos() as f64 / switches as f64,
        switches,
        results,
    ))
}

pub const DEPTHS: [u32; 7] = [1, 2, 4, 8, 16, 32, 64];
pub const LOCALS: [u32; 3] = [0, 4, 16];

async fn ping_pong(engine: &Engine, full: bool, repeats: usize) -> Result<Vec<SwitchRow>> {
    let iters = if full { 5000 } else { 1000 };
    let ss_engine = stack_switching_engine()?;
    let bar = ProgressBar::new((LOCALS.len() * DEPTHS.len() * repeats) as u64);
    bar.set_style(ProgressStyle::with_template("switch {bar:40} {pos}/{len} {msg}").unwrap());
    let dir = out_dir().join("modules");
    std::fs::create_dir_all(&dir)?;
    let mut rows = Vec::new();
    for locals in LOCALS {
        let plain_path: PathBuf = dir.join(format!("pingpong-{locals}.wasm"));
        let wasm = wat::parse_str(ping_pong_wat(locals))?;
        std::fs::write(&plain_path, wasm)?;
        let ours_path = dir.join(format!("pingpong-{locals}.ours.wasm"));
        let yield_only = Flags {
            imports: Some("env.yield"),
            ignore_indirect: false,
        };
        transform(&Tool::Ours, &plain_path, &ours_path, yield_only)?;
        let plain = w(Module::from_file(engine, &plain_path))?;
        let ours = w(Module::from_file(engine, &ours_path))?;
        let switching = w(Module::new(&ss_engine, stack_switching_wat(locals)))?;
        for depth in DEPTHS {
            bar.set_message(format!("depth {depth}, {locals} locals"));
            let (mut a, mut f, mut s, mut l) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut switches = (0, 0, 0, 0);
            for _ in 0..repeats {
                let (ns, n, rl) = floor_ping_pong(engine, &ours, depth, iters)?;
                l.push(ns);
                switches.3 = n;
                let (ns, n, ra) = asyncify_ping_pong(engine, &ours, depth, iters)?;
                a.push(ns);
                switches.0 = n;
                let (ns, n, rf) = fibers_ping_pong(engine, &plain, depth, iters).await?;
                f.push(ns);
                switches.1 = n;
                let (ns, n, rs) = stack_switching_ping_pong(&ss_engine, &switching, depth, iters)?;
                s.push(ns);
                switches.2 = n;
                if ra != rf || rs != rf || rl != rf {
                    bail!(
                        "ping-pong at depth {depth}: asyncify computed {ra:?}, the floor {rl:?}, \
                         fibers {rf:?}, stack switching {rs:?}"
                    );
                }
                bar.inc(1);
            }
            for (runtime, v, n) in [
                ("hand-written floor", &l, switches.3),
                ("asyncify-host", &a, switches.0),
                ("wasmtime fibers", &f, switches.1),
                ("wasm stack switching", &s, switches.2),
            ] {
                let (median, min, max) = spread(v);
                rows.push(SwitchRow {
                    runtime: runtime.into(),
                    depth,
                    locals,
                    switches: n,
                    ns_median: median,
                    ns_min: min,
                    ns_max: max,
                });
            }
        }
    }
    bar.finish_and_clear();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    /// The schedule pauses at exactly the calls where `n * pauses / total` steps up.
    #[test]
    fn schedule_pauses_where_the_even_spread_steps_up() {
        for (pauses, total) in [
            (0, 1),
            (0, 50),
            (1, 1),
            (1, 180_260),
            (7, 50),
            (50, 50),
            (1000, 180_260),
        ] {
            let mut s = Schedule::new(pauses, total);
            let mut taken = 0;
            for n in 1..=total + 10 {
                let expected = n <= total && n * pauses / total > (n - 1) * pauses / total;
                assert_eq!(
                    s.pause_now(),
                    expected,
                    "call {n} of {total}, {pauses} pauses"
                );
                taken += u64::from(expected);
            }
            assert_eq!(taken, pauses);
            assert_eq!(s.calls, total + 10);
        }
    }
}
