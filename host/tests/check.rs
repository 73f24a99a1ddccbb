//! The checking host (`asyncify_host::check`) and its command, `asyncify-run`: a rewind that
//! re-enters another call is a typed error naming both calls; a module that keeps the rewind
//! contract runs as it would unpaused; the seed's pure-wasm example runs from the command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use asyncify_host::check::{run, Config, Pause, Report};
use asyncify_host::Error;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn run_fixture(name: &str, pause: Pause) -> Result<Report, Error> {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, fixture(name)).unwrap();
    let config = Config {
        pause,
        ..Config::default()
    };
    run(&engine, &module, &config)
}

#[test]
fn a_rewind_into_other_arguments_names_both_calls() {
    match run_fixture("reenter_other_args.wat", Pause::EveryImport) {
        Err(Error::RewindMismatch { paused, reentered }) => {
            assert_eq!(paused, "spectest.print_i32(1)");
            assert_eq!(reentered, "spectest.print_i32(2)");
        }
        other => panic!("expected a rewind mismatch, got {other:?}"),
    }
    // Unpaused, the same module is fine: the check is about pausing.
    let plain = run_fixture("reenter_other_args.wat", Pause::Never).unwrap();
    assert_eq!(plain.stdout, b"1\n");
}

#[test]
fn a_module_that_keeps_the_contract_runs_as_unpaused() {
    let plain = run_fixture("reenter_same_args.wat", Pause::Never).unwrap();
    let paused = run_fixture("reenter_same_args.wat", Pause::EveryImport).unwrap();
    assert_eq!(paused.stdout, b"7\n8\n");
    assert_eq!(paused.stdout, plain.stdout);
    assert_eq!(paused.import_calls, plain.import_calls);
    assert_eq!((plain.pauses, paused.pauses), (0, 2));
    // Only the chosen imports pause.
    let none = run_fixture(
        "reenter_same_args.wat",
        Pause::Matching(vec!["env.*".into()]),
    )
    .unwrap();
    assert_eq!((none.pauses, none.import_calls), (0, 2));
}

#[test]
fn a_rewind_that_never_reaches_the_import_is_reported() {
    match run_fixture("never_reentered.wat", Pause::EveryImport) {
        Err(Error::Protocol(msg)) => {
            assert!(msg.contains("never re-entered"), "{msg}");
            assert!(msg.contains("spectest.print_i32"), "{msg}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn a_module_that_is_not_asyncified_cannot_be_paused() {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(
        &engine,
        r#"(module (import "spectest" "print_i32" (func (param i32)))
             (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .unwrap();
    let config = Config {
        pause: Pause::EveryImport,
        ..Config::default()
    };
    match run(&engine, &module, &config) {
        Err(e @ Error::NotAsyncified { .. }) => {
            assert!(e.to_string().contains("asyncify_start_unwind"), "{e}")
        }
        other => panic!("expected NotAsyncified, got {other:?}"),
    }
}

fn asyncify_run() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asyncify-run"))
}

#[test]
fn asyncify_run_reports_a_bad_rewind_in_one_line() {
    let out = asyncify_run()
        .arg(fixture("reenter_other_args.wat"))
        .arg("--pause-every-import")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(70));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("spectest.print_i32(2)") && err.contains("spectest.print_i32(1)"),
        "{err}"
    );
}

#[test]
fn asyncify_run_runs_the_seed_example_after_the_transform() {
    // The seed article's workflow: transform, then run. The example's own runtime (its start
    // function) pauses and resumes `main`, printing 1, 2, 3.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncify-run-seed");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read(fixture(
        "../../../transform/tests/fixtures/seed/pure_runtime.wat",
    ))
    .unwrap();
    let out = asyncify::transform(&text, &asyncify::Options::default()).unwrap();
    let wasm = dir.join("seed.wasm");
    std::fs::write(&wasm, out.wasm).unwrap();
    let run = asyncify_run().arg(&wasm).arg("--stats").output().unwrap();
    assert!(run.status.success(), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "1\n2\n3\n");
    assert!(String::from_utf8_lossy(&run.stderr).contains("imports=3"));
}

#[test]
fn asyncify_run_passes_arguments_and_exit_codes() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $sizes (i32.const 0) (i32.const 4)))
        (call $exit (i32.add (i32.const 40) (i32.load (i32.const 0))))))"#;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncify-run-args");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("argc.wat");
    std::fs::write(&path, wat).unwrap();
    let out = asyncify_run()
        .arg(&path)
        .args(["--", "a", "b"])
        .output()
        .unwrap();
    // argc = 3 (the module's name, a, b).
    assert_eq!(out.status.code(), Some(43), "{out:?}");
}
