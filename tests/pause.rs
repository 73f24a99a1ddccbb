//! Pausing real programs (the rewind contract, issue #9): C programs compiled with clang-16,
//! transformed by our `asyncify` and by Binaryen's `wasm-opt --asyncify`, run under
//! `asyncify_host::check` pausing at *every* import call, and compared with the unpaused
//! original: stdout, exit code, and the number of calls of every import. Binaryen's output
//! passing the same checks shows the host is right.

use std::path::Path;

use asyncify_bench::build::build;
use asyncify_bench::programs::{self, Lang, Program};
use asyncify_bench::run::{check_resumes, compile, run};
use asyncify_bench::tools::{transform_cached, Flags, Tool};
use asyncify_host::check::Pause;

const WORST: Flags = Flags {
    imports: None,
    ignore_indirect: false,
};
const BINARYEN: Tool = Tool::Binaryen {
    version: 108,
    optimize: true,
};

/// A test program of `tests/c/`, built like the suite's programs.
fn test_program(file: &str) -> Program {
    Program {
        name: file.trim_end_matches(".c").to_string(),
        sources: vec![format!("../tests/c/{file}")],
        exclude: Vec::new(),
        quick: true,
        quick_from_cache: false,
        lang: Lang::C,
        sizes: vec![1],
        pause: String::new(),
        expected: Default::default(),
        flags: Vec::new(),
    }
}

fn ours(input: &Path) -> Vec<u8> {
    let bytes = std::fs::read(input).unwrap();
    asyncify::transform(&bytes, &asyncify::Options::default())
        .unwrap_or_else(|e| panic!("{}: {e}", input.display()))
        .wasm
}

fn binaryen(input: &Path) -> Vec<u8> {
    std::fs::read(transform_cached(&BINARYEN, input, WORST).unwrap()).unwrap()
}

/// Runs `p` at `size` unpaused, then ours and Binaryen's worst-mode output paused at every
/// import; returns the original's stdout and the pauses each transformed module took.
fn check(p: &Program, size: u32) -> (String, [u64; 2]) {
    let input = build(p).unwrap();
    let original = run(
        &compile(&std::fs::read(&input).unwrap()).unwrap(),
        &p.name,
        size,
        Pause::Never,
    )
    .unwrap();
    assert!(original.import_calls > 0, "{}: no import calls", p.name);
    let mut pauses = [0; 2];
    for (k, (tool, wasm)) in [("ours", ours(&input)), ("binaryen", binaryen(&input))]
        .into_iter()
        .enumerate()
    {
        let module = compile(&wasm).unwrap();
        let n = check_resumes(&original, &module, &p.name, size, Pause::EveryImport)
            .unwrap_or_else(|e| panic!("{} ({tool}) at size {size}: {e:#}", p.name));
        assert_eq!(
            n, original.import_calls,
            "{} ({tool}): every import call paused",
            p.name
        );
        pauses[k] = n;
    }
    (
        String::from_utf8_lossy(&original.stdout).into_owned(),
        pauses,
    )
}

#[test]
fn printf_hello_world_resumes_at_every_import() {
    let (stdout, pauses) = check(&test_program("hello.c"), 1);
    assert_eq!(stdout, "hello 1\nworld 2\n");
    assert!(pauses[0] >= 2, "{pauses:?}");
}

#[test]
fn every_micro_benchmark_resumes_at_every_import() {
    let manifest = programs::load(&programs::root().join("bench-programs/programs.toml")).unwrap();
    let micro: Vec<&Program> = manifest
        .program
        .iter()
        .filter(|p| p.sources.iter().all(|s| s.starts_with("micro/")))
        .collect();
    assert!(micro.len() >= 14, "{} micro-benchmarks", micro.len());
    for p in micro {
        let size = asyncify_bench::sizes::pause_check_size(p);
        let (stdout, _) = check(p, size);
        let expected = p.expected(size).unwrap();
        assert!(
            stdout.contains(&format!("checksum: {expected}")),
            "{}: {stdout}",
            p.name
        );
    }
}

/// The in-module fiber runtime: our output and Binaryen's print the same trace, and the
/// program checks that each rewind re-entered `fiber_switch` with the arguments of its pause.
#[test]
fn fibers_switch_through_a_runtime_that_reads_its_arguments_during_the_rewind() {
    let p = test_program("fibers.c");
    let input = build(&p).unwrap();
    let mut outputs = Vec::new();
    for wasm in [ours(&input), binaryen(&input)] {
        let report = run(&compile(&wasm).unwrap(), "fibers", 40, Pause::Never).unwrap();
        let stdout = String::from_utf8_lossy(&report.stdout).into_owned();
        assert_eq!(report.exit_code, 0, "{stdout}");
        outputs.push(stdout);
    }
    assert_eq!(outputs[0], outputs[1], "ours and Binaryen's output agree");
    let switches: u32 = outputs[0]
        .lines()
        .find_map(|l| l.strip_prefix("switches: "))
        .and_then(|v| v.parse().ok())
        .expect("a switch count");
    // Three fibers of 40, 43 and 46 rounds switch at least once per round.
    assert!(switches >= 129, "{switches} switches");
}
