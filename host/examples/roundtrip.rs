//! Measures one pause/resume round trip (unwind, await a ready future, rewind) at call depths
//! 1, 8 and 32, against the same calls without a pause: through `asyncify-host`'s
//! `call_async`, and through the floor, a hand-written runtime for this one module (typed
//! calls, a `func_wrap` import, the state kept in the store). Prints medians and the spread
//! (10th-90th percentile) over batches interleaved across both runtimes.
//!
//! Run: `cargo run --release -p asyncify-host --example roundtrip`

use std::time::Instant;

use asyncify_host::{Buffer, Linker};
use wasmtime::{Caller, Engine, FuncType, Module, Store, TypedFunc, Val, ValType};

const BUFFER: i32 = 0x10000;
const BUFFER_SIZE: i32 = 0x8000;

const MODULE: &str = r#"(module
  (import "env" "pause" (func $pause (param i32)))
  (memory (export "memory") 2)
  ;; Recurses to `depth`, then calls the pausing import `n` times (or not, when $doit is 0).
  (func $down (param $depth i32) (param $n i32) (param $doit i32) (result i32)
    (local $i i32)
    (if (result i32) (local.get $depth)
      (then (i32.add (i32.const 1)
              (call $down (i32.sub (local.get $depth) (i32.const 1)) (local.get $n) (local.get $doit))))
      (else
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (if (local.get $doit) (then (call $pause (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $i))))
  (func (export "run") (param i32 i32 i32) (result i32)
    (call $down (local.get 0) (local.get 1) (local.get 2))))"#;

/// The floor: what a runtime written for this module alone does per pause. The import finds
/// the exports it calls in its own closure (no clone per call) and the state is two flags.
struct Floor {
    store: Store<FloorState>,
    run: TypedFunc<(i32, i32, i32), i32>,
    stop_unwind: TypedFunc<(), ()>,
    start_rewind: TypedFunc<i32, ()>,
}

#[derive(Default)]
struct FloorState {
    /// The import paused and the host has not rewound yet / the rewind is under way.
    unwinding: bool,
    rewinding: bool,
}

struct FloorImports {
    start_unwind: TypedFunc<i32, ()>,
    stop_rewind: TypedFunc<(), ()>,
    memory: wasmtime::Memory,
}

impl Floor {
    fn new(engine: &Engine, module: &Module) -> anyhow::Result<Floor> {
        let mut linker = wasmtime::Linker::<FloorState>::new(engine);
        let imports = std::sync::Arc::new(std::sync::OnceLock::<FloorImports>::new());
        let cell = imports.clone();
        linker.func_wrap(
            "env",
            "pause",
            move |mut caller: Caller<'_, FloorState>, _i: i32| -> wasmtime::Result<()> {
                let imports = cell.get().unwrap();
                if caller.data().rewinding {
                    caller.data_mut().rewinding = false;
                    return imports.stop_rewind.call(&mut caller, ());
                }
                caller.data_mut().unwinding = true;
                let mut header = [0u8; 8];
                header[..4].copy_from_slice(&(BUFFER + 8).to_le_bytes());
                header[4..].copy_from_slice(&(BUFFER + BUFFER_SIZE).to_le_bytes());
                imports
                    .memory
                    .write(&mut caller, BUFFER as usize, &header)?;
                imports.start_unwind.call(&mut caller, BUFFER)
            },
        )?;
        let mut store = Store::new(engine, FloorState::default());
        let instance = linker.instantiate(&mut store, module)?;
        let _ = imports.set(FloorImports {
            start_unwind: instance.get_typed_func(&mut store, "asyncify_start_unwind")?,
            stop_rewind: instance.get_typed_func(&mut store, "asyncify_stop_rewind")?,
            memory: instance.get_memory(&mut store, "memory").unwrap(),
        });
        Ok(Floor {
            run: instance.get_typed_func(&mut store, "run")?,
            stop_unwind: instance.get_typed_func(&mut store, "asyncify_stop_unwind")?,
            start_rewind: instance.get_typed_func(&mut store, "asyncify_start_rewind")?,
            store,
        })
    }

    async fn call(&mut self, args: (i32, i32, i32)) -> anyhow::Result<i32> {
        loop {
            let r = self.run.call(&mut self.store, args)?;
            if !self.store.data().unwinding {
                return Ok(r);
            }
            self.store.data_mut().unwinding = false;
            self.stop_unwind.call(&mut self.store, ())?;
            std::future::ready(()).await;
            self.store.data_mut().rewinding = true;
            self.start_rewind.call(&mut self.store, BUFFER)?;
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let wasm = asyncify::transform(MODULE.as_bytes(), &asyncify::Options::default())?.wasm;
    let engine = Engine::default();
    let module = Module::new(&engine, wasm)?;
    let mut linker = Linker::<()>::new(&engine);
    linker.func_async(
        "env",
        "pause",
        FuncType::new(&engine, [ValType::I32], []),
        |_, _| Box::pin(async { Ok(vec![]) }),
    )?;
    let mut inst = linker.instantiate(
        &module,
        (),
        Buffer::Fixed {
            addr: BUFFER as u32,
            size: BUFFER_SIZE as u32,
        },
    )?;
    let mut floor = Floor::new(&engine, &module)?;
    // The same through the typed API: a typed import and a typed export call.
    let mut typed_linker = Linker::<()>::new(&engine);
    typed_linker.func_wrap_async("env", "pause", |_, (_i,): (i32,)| async { Ok(()) })?;
    let mut typed = typed_linker.instantiate(
        &module,
        (),
        Buffer::Fixed {
            addr: BUFFER as u32,
            size: BUFFER_SIZE as u32,
        },
    )?;
    let run = typed.typed_func::<(i32, i32, i32), i32>("run")?;
    const PAUSES: i32 = 1000;
    const BATCHES: usize = 41;
    println!("ns per round trip, median [p10..p90] over {BATCHES} interleaved batches of {PAUSES} pauses");
    println!("depth  floor (hand-written)  asyncify-host typed   asyncify-host untyped  typed / floor  untyped / floor");
    for depth in [1, 8, 32] {
        let (mut host, mut low, mut typed_host) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..BATCHES {
            // Interleave: each runtime's batch without pauses, then with, so drift hits all.
            let t = Instant::now();
            inst.call_async("run", &[Val::I32(depth), Val::I32(PAUSES), Val::I32(0)])
                .await?;
            let base = t.elapsed().as_nanos() as f64;
            let t = Instant::now();
            inst.call_async("run", &[Val::I32(depth), Val::I32(PAUSES), Val::I32(1)])
                .await?;
            let paused = t.elapsed().as_nanos() as f64;
            host.push((paused - base) / PAUSES as f64);
            let t = Instant::now();
            floor.call((depth, PAUSES, 0)).await?;
            let base = t.elapsed().as_nanos() as f64;
            let t = Instant::now();
            floor.call((depth, PAUSES, 1)).await?;
            let paused = t.elapsed().as_nanos() as f64;
            low.push((paused - base) / PAUSES as f64);
            let t = Instant::now();
            typed.call_typed_async(&run, (depth, PAUSES, 0)).await?;
            let base = t.elapsed().as_nanos() as f64;
            let t = Instant::now();
            typed.call_typed_async(&run, (depth, PAUSES, 1)).await?;
            let paused = t.elapsed().as_nanos() as f64;
            typed_host.push((paused - base) / PAUSES as f64);
        }
        let show = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let m = percentile(v, 0.5);
            (
                m,
                format!(
                    "{m:.0} [{:.0}..{:.0}]",
                    percentile(v, 0.1),
                    percentile(v, 0.9)
                ),
            )
        };
        let ((h, host), (f, low)) = (show(&mut host), show(&mut low));
        let (t, typed_host) = show(&mut typed_host);
        println!(
            "{depth:>5}  {low:<20}  {typed_host:<20}  {host:<21}  {:<13.2}  {:.2}",
            t / f,
            h / f
        );
    }
    Ok(())
}
