//! Coroutine switch cost: two coroutines ping-pong through a yield import, at call-stack depths
//! 1 and 32 with 4 live i64 locals per frame, side by side in one process: the asyncified
//! module (ours) through asyncify-host and through the hand-written floor (a runtime written
//! for this module alone), the uninstrumented module on wasmtime's fibers, and wasm's
//! stack-switching proposal. Throughput is in switches. Run: `cargo bench --bench switch`.

use asyncify_bench::runtime::engine;
use asyncify_bench::switch::{
    asyncify_ping_pong, fibers_ping_pong, floor_ping_pong, ping_pong_wat, stack_switching_engine,
    stack_switching_ping_pong, stack_switching_wat,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ITERS: u32 = 200;
const LOCALS: u32 = 4;

fn switch(c: &mut Criterion) {
    let engine = engine(false).unwrap();
    let plain = wat::parse_str(ping_pong_wat(LOCALS)).unwrap();
    let options = asyncify::Options {
        imports: Some(vec!["env.yield".into()]),
        ..Default::default()
    };
    let ours = asyncify::transform(&plain, &options).unwrap().wasm;
    let plain = wasmtime::Module::new(&engine, plain).unwrap();
    let ours = wasmtime::Module::new(&engine, ours).unwrap();
    let ss_engine = stack_switching_engine().unwrap();
    let switching = wasmtime::Module::new(&ss_engine, stack_switching_wat(LOCALS)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("ping-pong");
    // Two coroutines, ITERS yields each, plus the two final resumes.
    group.throughput(Throughput::Elements(u64::from(2 * ITERS + 2)));
    for depth in [1, 32] {
        group.bench_function(format!("floor/depth-{depth}"), |b| {
            b.iter(|| floor_ping_pong(&engine, &ours, depth, ITERS).unwrap())
        });
        group.bench_function(format!("asyncify-host/depth-{depth}"), |b| {
            b.iter(|| asyncify_ping_pong(&engine, &ours, depth, ITERS).unwrap())
        });
        group.bench_function(format!("fibers/depth-{depth}"), |b| {
            b.iter(|| {
                rt.block_on(fibers_ping_pong(&engine, &plain, depth, ITERS))
                    .unwrap()
            })
        });
        group.bench_function(format!("stack-switching/depth-{depth}"), |b| {
            b.iter(|| stack_switching_ping_pong(&ss_engine, &switching, depth, ITERS).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
