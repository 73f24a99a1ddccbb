//! Times wasm32-wasi benchmark modules side by side, the way the runtime stage does (interleaved
//! runs, asyncified modules through asyncify-host, `env.pause` never pausing), and prints each
//! module's median, spread and fuel. For looking into one program's runtime without a whole
//! suite run, e.g. comparing two builds of a transform:
//!
//! ```sh
//! cargo run --release --example time -- --size 16 --repeats 5 \
//!     target/bench/modules/copy.list.ours.wasm target/bench/modules/copy.list.binaryen-132-O2.wasm
//! ```

use anyhow::{Context, Result};
use asyncify_bench::runtime::{engine, run_once, spread, w};

fn main() -> Result<()> {
    let mut size = 1u32;
    let mut repeats = 5usize;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => size = args.next().context("--size N")?.parse()?,
            "--repeats" => repeats = args.next().context("--repeats N")?.parse()?,
            f => files.push(f.to_string()),
        }
    }
    let timed = engine(false)?;
    let counted = engine(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut variants = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).with_context(|| f.clone())?;
        let m = w(wasmtime::Module::new(&timed, &bytes))?;
        let asyncified = m.exports().any(|e| e.name() == "asyncify_start_unwind");
        let c = w(wasmtime::Module::new(&counted, &bytes))?;
        let (_, sum, fuel) = rt.block_on(run_once(&counted, &c, asyncified, "time", size, true))?;
        variants.push((f, asyncified, m, Vec::new(), fuel, sum));
    }
    for _ in 0..repeats {
        for (_, asyncified, m, times, _, _) in variants.iter_mut() {
            let (ms, _, _) = rt.block_on(run_once(&timed, m, *asyncified, "time", size, false))?;
            times.push(ms);
        }
    }
    for (f, _, _, times, fuel, sum) in &variants {
        let (median, min, max) = spread(times);
        println!("{median:>9.2} ms [{min:.2}-{max:.2}]  fuel {fuel:>12}  checksum {sum:?}  {f}");
    }
    Ok(())
}
