//! Coroutine switch cost: two coroutines ping-pong through a yield import, asyncified (ours,
//! through asyncify-host) beside wasmtime's fibers, at call-stack depths 1 and 32 with 4 live
//! i64 locals per frame. Throughput is in switches. Run: `cargo bench --bench switch`.

use asyncify_bench::runtime::engine;
use asyncify_bench::switch::{asyncify_ping_pong, fibers_ping_pong, ping_pong_wat};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ITERS: u32 = 200;

fn switch(c: &mut Criterion) {
    let engine = engine(false).unwrap();
    let plain = wat::parse_str(ping_pong_wat(4)).unwrap();
    let options = asyncify::Options {
        imports: Some(vec!["env.yield".into()]),
        ..Default::default()
    };
    let ours = asyncify::transform(&plain, &options).unwrap().wasm;
    let plain = wasmtime::Module::new(&engine, plain).unwrap();
    let ours = wasmtime::Module::new(&engine, ours).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("ping-pong");
    // Two coroutines, ITERS yields each, plus the two final resumes.
    group.throughput(Throughput::Elements(u64::from(2 * ITERS + 2)));
    for depth in [1, 32] {
        group.bench_function(format!("asyncify/depth-{depth}"), |b| {
            b.iter(|| asyncify_ping_pong(&engine, &ours, depth, ITERS).unwrap())
        });
        group.bench_function(format!("fibers/depth-{depth}"), |b| {
            b.iter(|| {
                rt.block_on(fibers_ping_pong(&engine, &plain, depth, ITERS))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
