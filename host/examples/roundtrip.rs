//! Measures one pause/resume round trip through `call_async` (unwind, await a ready future,
//! rewind) at call depths 1 and 32, against the same calls without a pause. Prints medians
//! and the spread (10th-90th percentile) over interleaved batches.
//!
//! Run: `cargo run --release -p asyncify-host --example roundtrip`

use std::time::Instant;

use asyncify_host::{Buffer, Linker};
use wasmtime::{Engine, FuncType, Module, Val, ValType};

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let wasm = asyncify::transform(MODULE.as_bytes(), &asyncify::Options::default())?.wasm;
    let engine = Engine::new(&asyncify_host::recommended_config())?;
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
            addr: 0x10000,
            size: 0x8000,
        },
    )?;
    const PAUSES: i32 = 1000;
    const BATCHES: usize = 41;
    println!("depth  ns/round trip (median)  p10..p90        (batches of {PAUSES} pauses)");
    for depth in [1, 32] {
        let mut per_pause = Vec::with_capacity(BATCHES);
        for _ in 0..BATCHES {
            // Interleave: the same batch without pauses, then with, so drift hits both.
            let t = Instant::now();
            inst.call_async("run", &[Val::I32(depth), Val::I32(PAUSES), Val::I32(0)])
                .await?;
            let base = t.elapsed().as_nanos() as f64;
            let t = Instant::now();
            inst.call_async("run", &[Val::I32(depth), Val::I32(PAUSES), Val::I32(1)])
                .await?;
            let paused = t.elapsed().as_nanos() as f64;
            per_pause.push((paused - base) / PAUSES as f64);
        }
        per_pause.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{depth:>5}  {:>22.0}  {:.0}..{:.0}",
            percentile(&per_pause, 0.5),
            percentile(&per_pause, 0.1),
            percentile(&per_pause, 0.9)
        );
    }
    Ok(())
}
