//! Transform throughput (MB of input per second) of our asyncify in worst mode on a few suite
//! programs, built with clang-16 like the suite does. Run: `cargo bench --bench transform`.

use asyncify_bench::build::build;
use asyncify_bench::programs::{load, root};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn transform(c: &mut Criterion) {
    let manifest = load(&root().join("bench-programs/programs.toml")).unwrap();
    let mut group = c.benchmark_group("transform");
    group.sample_size(20);
    for name in ["life", "havlak", "zlib", "lua"] {
        let program = manifest.program.iter().find(|p| p.name == name).unwrap();
        let wasm = std::fs::read(build(program).unwrap()).unwrap();
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| asyncify::transform(&wasm, &asyncify::Options::default()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, transform);
criterion_main!(benches);
