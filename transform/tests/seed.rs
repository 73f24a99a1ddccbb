//! The seed article's three examples, run for real: the pure-wasm runtime, the host-driven
//! sleep (in wasmtime and in node), and a C program whose sleeps return to the host. The
//! first two also as the article prints them (`article_*.wat`, Binaryen's text dialect,
//! copied character for character), through the library and the article's command line.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use asyncify::Options;
use wasmtime::{Linker, Module, Store, Val};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// Runs the pure-wasm example (its start function is the runtime); returns what it printed.
fn run_printing(wasm: &[u8], runtime_imports: bool) -> Vec<i32> {
    let engine = common::engine();
    let module = Module::new(engine, wasm).unwrap();
    let printed = Arc::new(Mutex::new(Vec::new()));
    let mut linker: Linker<()> = Linker::new(engine);
    let p = printed.clone();
    linker
        .func_wrap("spectest", "print", move |v: i32| p.lock().unwrap().push(v))
        .unwrap();
    if runtime_imports {
        // The uninstrumented original: the runtime calls do nothing.
        linker
            .func_wrap("asyncify", "start_unwind", |_: i32| {})
            .unwrap();
        linker.func_wrap("asyncify", "stop_unwind", || {}).unwrap();
        linker
            .func_wrap("asyncify", "start_rewind", |_: i32| {})
            .unwrap();
        linker.func_wrap("asyncify", "stop_rewind", || {}).unwrap();
    }
    let mut store = Store::new(engine, ());
    store.set_fuel(1_000_000).unwrap();
    linker.instantiate(&mut store, &module).unwrap();
    let v = printed.lock().unwrap().clone();
    v
}

/// Runs a tool (scripts/setup installs each), asserts it succeeded, returns its stdout.
fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The names of the functions the transform instrumented.
fn instrumented(out: &asyncify::Output) -> Vec<&str> {
    out.report
        .instrumented
        .iter()
        .map(|(f, _)| f.as_str())
        .collect()
}

#[test]
fn pure_wasm_runtime_prints_1_2_3() {
    let text = std::fs::read(fixture("fixtures/seed/pure_runtime.wat")).unwrap();
    let out = asyncify::transform(&text, &Options::default()).unwrap();
    let module = walrus::Module::from_buffer(&out.wasm).unwrap();
    assert!(
        module.imports.iter().all(|i| i.module != "asyncify"),
        "the asyncify.* imports became direct calls"
    );
    assert_eq!(run_printing(&out.wasm, false), [1, 2, 3]);
    // Without the transform the same code cannot pause: main runs to completion twice.
    assert_eq!(
        run_printing(&wat::parse_bytes(&text).unwrap(), true),
        [1, 3, 2, 1, 3]
    );
    // The runtime's top ($nap) and bottom ($scheduler) are not instrumented; main is.
    assert_eq!(instrumented(&out), ["main"]);
}

/// The article's first example exactly as printed: `if` arms are bare `(block ...)`s and the
/// imports follow `(memory 1 1)`, which only Binaryen's text dialect allows.
#[test]
fn article_runtime_verbatim_prints_1_2_3() {
    let text = std::fs::read_to_string(fixture("fixtures/seed/article_runtime.wat")).unwrap();
    assert!(wat::parse_str(&text).is_err(), "not standard text");
    let out = asyncify::transform(text.as_bytes(), &Options::default()).unwrap();
    assert_eq!(run_printing(&out.wasm, false), [1, 2, 3]);
    // "runtime and sleep are not instrumented by Asyncify": only main is.
    assert_eq!(instrumented(&out), ["main"]);
    // The article's comparison: uninstrumented, main cannot pause and prints 1 and 3 twice.
    let original = asyncify::text::parse(&text).unwrap();
    assert_eq!(run_printing(&original, true), [1, 3, 2, 1, 3]);
}

/// `wasm-opt input.wat -O --asyncify --print > output.wat`, with `asyncify` in its place:
/// stdout is a standard text module that prints 1, 2, 3, in wasmtime and, as in the article,
/// in Binaryen's `wasm-shell output.wat`.
#[test]
fn article_command_line_prints_the_result_as_text() {
    let printed = stdout_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_asyncify"))
            .arg(fixture("fixtures/seed/article_runtime.wat"))
            .args(["-O", "--asyncify", "--print"]),
    );
    assert!(printed.starts_with("(module"), "{printed}");
    let wasm = wat::parse_str(&printed).unwrap();
    assert_eq!(run_printing(&wasm, false), [1, 2, 3]);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seed-output.wat");
    std::fs::write(&path, &printed).unwrap();
    let shell = stdout_of(std::process::Command::new("wasm-shell").arg(&path));
    let lines: Vec<&str> = shell.lines().collect();
    assert_eq!(lines, ["1 : i32", "2 : i32", "3 : i32"]);
}

/// The article's second example: the module in its `binaryen.parseText` call, verbatim
/// (imports after the memory), driven by the same host as `sleep.wat`.
#[test]
fn article_sleep_module_verbatim_pauses_in_the_host() {
    let text = std::fs::read_to_string(fixture("fixtures/seed/article_sleep.wat")).unwrap();
    assert!(wat::parse_str(&text).is_err(), "not standard text");
    let out = asyncify::transform(text.as_bytes(), &Options::default()).unwrap();
    assert_eq!(sleep_example_log(&out.wasm), SLEEP_LOG);
}

/// Binaryen's typed-unreachable loop at the end of a function with a result (our fixture; the
/// article has none): the transformed function pauses at each sleep and returns what the
/// original returns.
#[test]
fn binaryen_dialect_loop_ending_in_br_pauses_and_returns() {
    let text = std::fs::read_to_string(fixture("fixtures/seed/binaryen_dialect_loop.wat")).unwrap();
    let original = asyncify::text::parse(&text).unwrap();
    wasmparser::validate(&original).unwrap();
    let out = asyncify::transform(text.as_bytes(), &Options::default()).unwrap();
    let want = common::Runner::new(&original, false, 1_000_000)
        .unwrap()
        .call("sum", &[Val::I32(5)]);
    assert_eq!(want.result, Ok(vec![10]));
    assert_eq!(want.calls.len(), 5);
    let got = common::Runner::new(&out.wasm, true, 1_000_000)
        .unwrap()
        .call("sum", &[Val::I32(5)]);
    assert_eq!(got.pauses, 5, "each sleep unwound to the host");
    assert_eq!(
        (got.result, got.calls, got.memory),
        (want.result, want.calls, want.memory)
    );
}

/// Binaryen 108's own `--print` output (Debian's `wasm-opt`, as the suite uses it) is its
/// dialect too: labelled `(block $block ...)` arms and the loop ending in `br` at the end of a
/// function with a result. `asyncify` reads it and the programs behave as before.
#[test]
fn binaryen_printed_text_is_read() {
    let print = |name: &str| {
        stdout_of(
            std::process::Command::new("wasm-opt")
                .arg(fixture(name))
                .arg("--print"),
        )
    };
    let text = print("fixtures/seed/article_runtime.wat");
    let out = asyncify::transform(text.as_bytes(), &Options::default()).unwrap();
    assert_eq!(run_printing(&out.wasm, false), [1, 2, 3]);
    let text = print("fixtures/seed/binaryen_dialect_loop.wat");
    let out = asyncify::transform(text.as_bytes(), &Options::default()).unwrap();
    let got = common::Runner::new(&out.wasm, true, 1_000_000)
        .unwrap()
        .call("sum", &[Val::I32(5)]);
    assert_eq!((got.result, got.pauses), (Ok(vec![10]), 5));
}

/// A tiny event loop with virtual time: the article's JS timers, in Rust.
#[derive(Default)]
struct EventLoop {
    now: u64,
    timers: Vec<(u64, &'static str)>,
    log: Vec<String>,
    sleeping: bool,
}

/// What the article's JS example logs.
const SLEEP_LOG: [&str; 7] = [
    "before!",
    "sleep...",
    "stack unwound",
    "(an event that happens during the sleep)",
    "timeout ended, starting to rewind the stack",
    "...resume",
    "after!",
];

#[test]
fn host_sleep_unwinds_and_events_run_during_the_pause() {
    let text = std::fs::read(fixture("fixtures/seed/sleep.wat")).unwrap();
    let out = asyncify::transform(&text, &Options::default()).unwrap();
    assert_eq!(sleep_example_log(&out.wasm), SLEEP_LOG);
}

/// Runs the article's JS example host (before, sleep, after and a timer event) over an
/// asyncified module; returns its log.
fn sleep_example_log(wasm: &[u8]) -> Vec<String> {
    let engine = common::engine();
    let module = Module::new(engine, wasm).unwrap();
    let mut linker: Linker<EventLoop> = Linker::new(engine);
    const DATA: i32 = 16;
    linker
        .func_wrap("env", "before", |mut c: wasmtime::Caller<'_, EventLoop>| {
            let el = c.data_mut();
            el.log.push("before!".into());
            el.timers
                .push((el.now + 1000, "(an event that happens during the sleep)"));
        })
        .unwrap();
    linker
        .func_wrap("env", "after", |mut c: wasmtime::Caller<'_, EventLoop>| {
            c.data_mut().log.push("after!".into());
        })
        .unwrap();
    linker
        .func_wrap(
            "env",
            "sleep",
            |mut c: wasmtime::Caller<'_, EventLoop>, ms: i32| {
                let memory = c.get_export("memory").unwrap().into_memory().unwrap();
                if !c.data().sleeping {
                    c.data_mut().log.push("sleep...".into());
                    memory
                        .write(&mut c, DATA as usize, &(DATA + 8).to_le_bytes())
                        .unwrap();
                    memory
                        .write(&mut c, DATA as usize + 4, &1024i32.to_le_bytes())
                        .unwrap();
                    let start = c
                        .get_export("asyncify_start_unwind")
                        .unwrap()
                        .into_func()
                        .unwrap();
                    start
                        .typed::<i32, ()>(&c)
                        .unwrap()
                        .call(&mut c, DATA)
                        .unwrap();
                    let el = c.data_mut();
                    el.sleeping = true;
                    el.timers.push((el.now + ms as u64, "wake"));
                } else {
                    c.data_mut().log.push("...resume".into());
                    let stop = c
                        .get_export("asyncify_stop_rewind")
                        .unwrap()
                        .into_func()
                        .unwrap();
                    stop.typed::<(), ()>(&c).unwrap().call(&mut c, ()).unwrap();
                    c.data_mut().sleeping = false;
                }
            },
        )
        .unwrap();
    let mut store = Store::new(engine, EventLoop::default());
    store.set_fuel(1_000_000).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let main = instance
        .get_typed_func::<(), ()>(&mut store, "main")
        .unwrap();
    let call = |store: &mut Store<EventLoop>, name: &str, arg: Option<i32>| match arg {
        Some(a) => instance
            .get_typed_func::<i32, ()>(&mut *store, name)
            .unwrap()
            .call(store, a)
            .unwrap(),
        None => instance
            .get_typed_func::<(), ()>(&mut *store, name)
            .unwrap()
            .call(store, ())
            .unwrap(),
    };
    main.call(&mut store, ()).unwrap();
    store.data_mut().log.push("stack unwound".into());
    call(&mut store, "asyncify_stop_unwind", None);
    // Run the event loop until no timer is left, in time order.
    while !store.data().timers.is_empty() {
        let el = store.data_mut();
        el.timers.sort();
        let (at, what) = el.timers.remove(0);
        el.now = at;
        if what == "wake" {
            el.log
                .push("timeout ended, starting to rewind the stack".into());
            call(&mut store, "asyncify_start_rewind", Some(DATA));
            main.call(&mut store, ()).unwrap();
        } else {
            el.log.push(what.into());
        }
    }
    store.into_data().log
}

#[test]
fn node_runs_the_same_module() {
    let text = std::fs::read(fixture("fixtures/seed/sleep.wat")).unwrap();
    let out = asyncify::transform(&text, &Options::default()).unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seed-sleep.wasm");
    std::fs::write(&path, &out.wasm).unwrap();
    let stdout = stdout_of(
        std::process::Command::new("node")
            .arg(fixture("node/sleep.cjs"))
            .arg(&path),
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, SLEEP_LOG);
}

struct CHost {
    wasi: wasmtime_wasi::p1::WasiP1Ctx,
    /// The host's clock, in ms: it advances only while the program sleeps, so the number of
    /// polls before the timer fires does not depend on how loaded the machine is.
    clock_ms: u64,
    timer_due: Option<u64>,
    buffer: i32,
    sleeping: bool,
    sleep_ms: u64,
}

#[test]
fn c_program_sleeps_really_return_to_the_host() {
    let wasm = common::build_c(&fixture("c/timer.c"), &[]);
    let opts = Options {
        imports: Some(vec!["env.sleep_ms".into()]),
        ..Options::default()
    };
    let out = asyncify::transform(&wasm, &opts).unwrap();

    let engine = common::engine();
    let module = Module::new(engine, &out.wasm).unwrap();
    let mut linker: Linker<CHost> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut CHost| &mut h.wasi).unwrap();
    linker
        .func_wrap(
            "env",
            "start_timer",
            |mut c: wasmtime::Caller<'_, CHost>, ms: i32| {
                let due = c.data().clock_ms + ms as u64;
                c.data_mut().timer_due = Some(due);
            },
        )
        .unwrap();
    linker
        .func_wrap(
            "env",
            "check_timer",
            |c: wasmtime::Caller<'_, CHost>| -> i32 {
                let h = c.data();
                h.timer_due.is_some_and(|due| h.clock_ms >= due) as i32
            },
        )
        .unwrap();
    linker
        .func_wrap(
            "env",
            "sleep_ms",
            |mut c: wasmtime::Caller<'_, CHost>, ms: i32| {
                let export = |c: &mut wasmtime::Caller<'_, CHost>, n: &str| {
                    c.get_export(n).unwrap().into_func().unwrap()
                };
                if c.data().sleeping {
                    let stop = export(&mut c, "asyncify_stop_rewind");
                    stop.typed::<(), ()>(&c).unwrap().call(&mut c, ()).unwrap();
                    c.data_mut().sleeping = false;
                } else {
                    let buf = c.data().buffer;
                    let memory = c.get_export("memory").unwrap().into_memory().unwrap();
                    memory
                        .write(&mut c, buf as usize, &(buf + 8).to_le_bytes())
                        .unwrap();
                    memory
                        .write(&mut c, buf as usize + 4, &(buf + 16384).to_le_bytes())
                        .unwrap();
                    let start = export(&mut c, "asyncify_start_unwind");
                    start
                        .typed::<i32, ()>(&c)
                        .unwrap()
                        .call(&mut c, buf)
                        .unwrap();
                    c.data_mut().sleeping = true;
                    c.data_mut().sleep_ms = ms as u64;
                }
            },
        )
        .unwrap();
    let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(1 << 16);
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .build_p1();
    let host = CHost {
        wasi,
        clock_ms: 0,
        timer_due: None,
        buffer: 0,
        sleeping: false,
        sleep_ms: 0,
    };
    let mut store = Store::new(engine, host);
    store.set_fuel(u64::MAX).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let buffer = instance
        .get_typed_func::<(), i32>(&mut store, "asyncify_buffer")
        .unwrap();
    store.data_mut().buffer = buffer.call(&mut store, ()).unwrap();
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap();
    let state = instance
        .get_typed_func::<(), i32>(&mut store, "asyncify_get_state")
        .unwrap();
    let stop_unwind = instance
        .get_typed_func::<(), ()>(&mut store, "asyncify_stop_unwind")
        .unwrap();
    let start_rewind = instance
        .get_typed_func::<i32, ()>(&mut store, "asyncify_start_rewind")
        .unwrap();
    let mut returns_to_host = 0;
    loop {
        start.call(&mut store, ()).unwrap();
        if state.call(&mut store, ()).unwrap() != 1 {
            break;
        }
        // The program is paused: the host is in control and really waits.
        returns_to_host += 1;
        stop_unwind.call(&mut store, ()).unwrap();
        let ms = store.data().sleep_ms;
        std::thread::sleep(std::time::Duration::from_millis(ms));
        store.data_mut().clock_ms += ms;
        let buf = store.data().buffer;
        start_rewind.call(&mut store, buf).unwrap();
    }
    let text = String::from_utf8(stdout.contents().to_vec()).unwrap();
    let sleeps = text.lines().filter(|l| *l == "sleeping...").count();
    assert_eq!(sleeps, 5, "a 500 ms timer, 100 ms sleeps:\n{text}");
    assert_eq!(returns_to_host, sleeps, "each sleep returned to the host");
    assert_eq!(
        text.lines().last().unwrap(),
        format!("timer happened after {sleeps} polls!")
    );
}
