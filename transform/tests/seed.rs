//! The seed article's three examples, run for real: the pure-wasm runtime, the host-driven
//! sleep (in wasmtime and in node), and a C program whose sleeps return to the host.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use asyncify::Options;
use wasmtime::{Linker, Module, Store};

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
    let names: Vec<&str> = out
        .report
        .instrumented
        .iter()
        .map(|(f, _)| f.as_str())
        .collect();
    assert_eq!(names, ["main"]);
}

/// A tiny event loop with virtual time: the article's JS timers, in Rust.
#[derive(Default)]
struct EventLoop {
    now: u64,
    timers: Vec<(u64, &'static str)>,
    log: Vec<String>,
    sleeping: bool,
}

#[test]
fn host_sleep_unwinds_and_events_run_during_the_pause() {
    let text = std::fs::read(fixture("fixtures/seed/sleep.wat")).unwrap();
    let out = asyncify::transform(&text, &Options::default()).unwrap();
    let engine = common::engine();
    let module = Module::new(engine, &out.wasm).unwrap();
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
    assert_eq!(
        store.data().log,
        [
            "before!",
            "sleep...",
            "stack unwound",
            "(an event that happens during the sleep)",
            "timeout ended, starting to rewind the stack",
            "...resume",
            "after!"
        ]
    );
}

#[test]
fn node_runs_the_same_module() {
    let text = std::fs::read(fixture("fixtures/seed/sleep.wat")).unwrap();
    let out = asyncify::transform(&text, &Options::default()).unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seed-sleep.wasm");
    std::fs::write(&path, &out.wasm).unwrap();
    let run = std::process::Command::new("node")
        .arg(fixture("node/sleep.cjs"))
        .arg(&path)
        .output()
        .expect("node runs (scripts/setup installs it)");
    assert!(
        run.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8(run.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "before!",
            "sleep...",
            "stack unwound",
            "(an event that happens during the sleep)",
            "timeout ended, starting to rewind the stack",
            "...resume",
            "after!"
        ]
    );
}

struct CHost {
    wasi: wasmtime_wasi::p1::WasiP1Ctx,
    timer_due: Option<std::time::Instant>,
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
                c.data_mut().timer_due =
                    Some(std::time::Instant::now() + std::time::Duration::from_millis(ms as u64));
            },
        )
        .unwrap();
    linker
        .func_wrap(
            "env",
            "check_timer",
            |c: wasmtime::Caller<'_, CHost>| -> i32 {
                c.data()
                    .timer_due
                    .is_some_and(|t| std::time::Instant::now() >= t) as i32
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
        std::thread::sleep(std::time::Duration::from_millis(store.data().sleep_ms));
        let buf = store.data().buffer;
        start_rewind.call(&mut store, buf).unwrap();
    }
    let text = String::from_utf8(stdout.contents().to_vec()).unwrap();
    let sleeps = text.lines().filter(|l| *l == "sleeping...").count();
    assert!(sleeps >= 5, "slept {sleeps} times:\n{text}");
    assert_eq!(returns_to_host, sleeps, "each sleep returned to the host");
    assert_eq!(
        text.lines().last().unwrap(),
        format!("timer happened after {sleeps} polls!")
    );
}
