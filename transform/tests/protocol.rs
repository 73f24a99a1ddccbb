//! Hand-written drivers of the Asyncify protocol, in two ways real runtimes drive it and the
//! suite's hosts do not:
//!
//! - an import that calls back into the module, into an export that pauses (a JavaScript
//!   shim forwarding to wasm): the pause unwinds through the host's frame, and the rewind
//!   re-enters the import, which calls the export again;
//! - coroutines, each with its own unwind buffer, interleaved by a scheduler that starts the
//!   next rewind without a `stop_unwind` after each pause, as Binaryen's own tests do.
//!
//! Each runs our output and Binaryen's (`wasm-opt --asyncify`, installed by scripts/setup):
//! both must give the same answer, or the test is wrong.

mod common;

use std::path::Path;
use std::process::Command;

use wasmtime::{Caller, Extern, Linker, Module, Store, TypedFunc};

/// Where the drivers put the unwind buffers (the modules leave this memory unused).
const BUFFER: i32 = 0x1000;
const BUFFER_SIZE: i32 = 0x400;

/// The module transformed by ours, then by Binaryen, each with default options (every
/// import may pause); `name` names Binaryen's files under the test's scratch directory.
fn both(name: &str, wat: &str) -> Vec<(&'static str, Vec<u8>)> {
    let ours = asyncify::transform(wat.as_bytes(), &asyncify::Options::default())
        .unwrap()
        .wasm;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let input = dir.join(format!("protocol-{name}.wat"));
    let output = dir.join(format!("protocol-{name}.wasm"));
    std::fs::write(&input, wat).unwrap();
    let status = Command::new("wasm-opt")
        .arg(&input)
        .args(["--asyncify", "-o"])
        .arg(&output)
        .status()
        .expect("wasm-opt (scripts/setup installs it)");
    assert!(status.success(), "wasm-opt failed");
    let binaryen = std::fs::read(&output).unwrap();
    vec![("ours", ours), ("binaryen", binaryen)]
}

fn export<P: wasmtime::WasmParams, R: wasmtime::WasmResults, T>(
    caller: &mut Caller<'_, T>,
    name: &str,
) -> TypedFunc<P, R> {
    match caller.get_export(name) {
        Some(Extern::Func(f)) => f.typed(&*caller).unwrap(),
        _ => panic!("no export {name}"),
    }
}

/// The runtime exports the host calls between an unwind and the rewind.
fn host_calls<T>(
    store: &mut Store<T>,
    instance: &wasmtime::Instance,
) -> (TypedFunc<(), ()>, TypedFunc<i32, ()>) {
    let stop_unwind = instance.get_typed_func(&mut *store, "asyncify_stop_unwind");
    let start_rewind = instance.get_typed_func(&mut *store, "asyncify_start_rewind");
    (stop_unwind.unwrap(), start_rewind.unwrap())
}

/// Writes an unwind buffer's header: its stack starts after the header, ends at `end`.
fn header<T>(caller: &mut Caller<'_, T>, buffer: i32, end: i32) {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        panic!("no memory export")
    };
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&(buffer + 8).to_le_bytes());
    bytes[4..].copy_from_slice(&end.to_le_bytes());
    memory.write(caller, buffer as usize, &bytes).unwrap();
}

const CALLBACK: &str = r#"(module
  (import "env" "pause" (func $pause))
  ;; The host answers by calling the export "scale" with the same argument.
  (import "env" "through_host" (func $through_host (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "scale") (param $x i32) (result i32)
    (local.set $x (i32.mul (local.get $x) (i32.const 100)))
    (call $pause)
    (i32.add (local.get $x) (i32.const 7)))
  (func (export "outer") (param $x i32) (result i32)
    (local.set $x (i32.add (local.get $x) (i32.const 3)))
    (local.set $x (call $through_host (local.get $x)))
    (call $pause)
    (i32.sub (local.get $x) (i32.const 1))))"#;

#[derive(Default)]
struct Callback {
    /// The host started an unwind and has not rewound into its import yet.
    paused: bool,
    pauses: usize,
    /// Every argument `through_host` was called with.
    forwarded: Vec<i32>,
}

/// outer(1): x = 4; through_host(4) calls scale(4), which pauses inside the host's frame;
/// the rewind calls through_host(4) again, scale resumes (407); outer pauses once more and
/// returns 406.
#[test]
fn an_import_that_calls_back_into_a_pausing_export_resumes() {
    for (tool, wasm) in both("callback", CALLBACK) {
        let engine = common::engine();
        let module = Module::new(engine, &wasm).unwrap();
        let mut linker: Linker<Callback> = Linker::new(engine);
        linker
            .func_wrap("env", "pause", |mut caller: Caller<'_, Callback>| {
                if caller.data().paused {
                    caller.data_mut().paused = false;
                    let stop = export::<(), (), _>(&mut caller, "asyncify_stop_rewind");
                    return stop.call(&mut caller, ());
                }
                caller.data_mut().paused = true;
                caller.data_mut().pauses += 1;
                header(&mut caller, BUFFER, BUFFER + BUFFER_SIZE);
                let start = export::<i32, (), _>(&mut caller, "asyncify_start_unwind");
                start.call(&mut caller, BUFFER)
            })
            .unwrap();
        linker
            .func_wrap(
                "env",
                "through_host",
                |mut caller: Caller<'_, Callback>, x: i32| {
                    caller.data_mut().forwarded.push(x);
                    let scale = export::<i32, i32, _>(&mut caller, "scale");
                    scale.call(&mut caller, x)
                },
            )
            .unwrap();
        let mut store = Store::new(engine, Callback::default());
        store.set_fuel(10_000_000).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let outer = instance
            .get_typed_func::<i32, i32>(&mut store, "outer")
            .unwrap();
        let (stop_unwind, start_rewind) = host_calls(&mut store, &instance);
        let mut result = outer.call(&mut store, 1).unwrap();
        while store.data().paused {
            stop_unwind.call(&mut store, ()).unwrap();
            start_rewind.call(&mut store, BUFFER).unwrap();
            // The rewind restores the parameter: what the host passes does not matter.
            result = outer.call(&mut store, 0).unwrap();
        }
        assert_eq!(result, 406, "{tool}");
        assert_eq!(store.data().pauses, 2, "{tool}");
        // The rewind re-enters the import with the operand it paused with.
        assert_eq!(store.data().forwarded, [4, 4], "{tool}");
    }
}

const COROUTINES: &str = r#"(module
  (import "env" "yield" (func $yield (param i32)))
  (memory (export "memory") 1)
  ;; 0, 1, 4, 9, ...
  (func (export "squares") (result i32)
    (local $i i32)
    (loop $next
      (call $yield (i32.mul (local.get $i) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))
    (unreachable))
  ;; 1, 1, 2, 3, 5, ...
  (func (export "fibonacci") (result i32)
    (local $a i32) (local $b i32) (local $t i32)
    (local.set $a (i32.const 1))
    (local.set $b (i32.const 1))
    (loop $next
      (call $yield (local.get $a))
      (local.set $t (i32.add (local.get $a) (local.get $b)))
      (local.set $a (local.get $b))
      (local.set $b (local.get $t))
      (br $next))
    (unreachable))
  ;; no loop: each yield is its own call site
  (func (export "listed") (result i32)
    (call $yield (i32.const -5))
    (call $yield (i32.const 77))
    (call $yield (i32.const 0))
    (call $yield (i32.const 123456))
    (call $yield (i32.const -1))
    (unreachable)))"#;

#[derive(Default)]
struct Scheduler {
    /// The buffer of the coroutine that runs.
    buffer: i32,
    rewinding: bool,
    yielded: Vec<(usize, i32)>,
    running: usize,
}

/// Three coroutines with their own buffers, run round-robin: each starts (and pauses at its
/// first yield), then each is resumed in turn. A resume is `start_rewind` and the export:
/// the coroutine runs to its next yield, which starts an unwind, and the scheduler goes on to
/// the next coroutine's `start_rewind` without a `stop_unwind` in between.
#[test]
fn interleaved_coroutines_with_their_own_buffers_resume() {
    let names = ["squares", "fibonacci", "listed"];
    for (tool, wasm) in both("coroutines", COROUTINES) {
        let engine = common::engine();
        let module = Module::new(engine, &wasm).unwrap();
        let mut linker: Linker<Scheduler> = Linker::new(engine);
        linker
            .func_wrap(
                "env",
                "yield",
                |mut caller: Caller<'_, Scheduler>, value: i32| {
                    if caller.data().rewinding {
                        caller.data_mut().rewinding = false;
                        let stop = export::<(), (), _>(&mut caller, "asyncify_stop_rewind");
                        return stop.call(&mut caller, ());
                    }
                    let (running, buffer) = (caller.data().running, caller.data().buffer);
                    caller.data_mut().yielded.push((running, value));
                    header(&mut caller, buffer, buffer + BUFFER_SIZE);
                    let start = export::<i32, (), _>(&mut caller, "asyncify_start_unwind");
                    start.call(&mut caller, buffer)
                },
            )
            .unwrap();
        let mut store = Store::new(engine, Scheduler::default());
        store.set_fuel(10_000_000).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let exports: Vec<TypedFunc<(), i32>> = names
            .iter()
            .map(|n| instance.get_typed_func(&mut store, n).unwrap())
            .collect();
        let (stop_unwind, start_rewind) = host_calls(&mut store, &instance);
        let buffer = |i: usize| BUFFER + i as i32 * BUFFER_SIZE;
        for (i, f) in exports.iter().enumerate() {
            (store.data_mut().running, store.data_mut().buffer) = (i, buffer(i));
            f.call(&mut store, ()).unwrap();
            stop_unwind.call(&mut store, ()).unwrap();
        }
        for _ in 0..4 {
            for (i, f) in exports.iter().enumerate() {
                let data = store.data_mut();
                (data.running, data.buffer, data.rewinding) = (i, buffer(i), true);
                start_rewind.call(&mut store, buffer(i)).unwrap();
                f.call(&mut store, ()).unwrap();
            }
        }
        let expected = [[0, 1, 4, 9, 16], [1, 1, 2, 3, 5], [-5, 77, 0, 123456, -1]];
        let mut want = Vec::new();
        for round in 0..5 {
            for (i, values) in expected.iter().enumerate() {
                want.push((i, values[round]));
            }
        }
        assert_eq!(store.data().yielded, want, "{tool}");
    }
}
