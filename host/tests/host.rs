//! The host runtime, proven by running modules: the seed's sleep example with tokio timers,
//! a C program whose usleep() yields to tokio (two instances on one thread), coroutines in
//! one instance, and every typed error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncify_host::{Buffer, Error, Linker, Step};
use wasmtime::{Engine, FuncType, Module, Val, ValType};

fn engine() -> Engine {
    Engine::default()
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn asyncified(wasm_or_wat: &[u8], imports: Option<&[&str]>) -> Vec<u8> {
    let opts = asyncify::Options {
        imports: imports.map(|l| l.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    asyncify::transform(wasm_or_wat, &opts).unwrap().wasm
}

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

/// The seed article's JS example against this crate: `sleep` is a tokio timer, and a task
/// spawned by `before` logs an event while the module is paused.
#[tokio::test(start_paused = true)]
async fn sleep_example_runs_other_tasks_during_the_pause() {
    let wat = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../transform/tests/fixtures/seed/sleep.wat"),
    )
    .unwrap();
    let engine = engine();
    let module = Module::new(&engine, asyncified(&wat, None)).unwrap();
    let log: Log = Arc::default();
    let mut linker = Linker::<Log>::new(&engine);
    linker
        .inner()
        .func_wrap(
            "env",
            "before",
            |c: wasmtime::Caller<'_, asyncify_host::Ctx<Log>>| {
                let log = c.data().data.clone();
                push(&log, "before!");
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                    push(&log, "(an event that happens during the sleep)");
                });
            },
        )
        .unwrap();
    linker
        .inner()
        .func_wrap(
            "env",
            "after",
            |c: wasmtime::Caller<'_, asyncify_host::Ctx<Log>>| {
                push(&c.data().data, "after!");
            },
        )
        .unwrap();
    let ty = FuncType::new(&engine, [ValType::I32], []);
    linker
        .func_async("env", "sleep", ty, |caller, args| {
            let log = caller.data().data.clone();
            let ms = args[0].unwrap_i32() as u64;
            push(&log, "sleep...");
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                push(&log, "...resume");
                Ok(vec![])
            })
        })
        .unwrap();
    let mut instance = linker
        .instantiate(
            &module,
            log.clone(),
            Buffer::Fixed {
                addr: 16,
                size: 1024,
            },
        )
        .unwrap();
    let start = tokio::time::Instant::now();
    instance.call_async("main", &[]).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(2000),
        "the sleep really waited"
    );
    assert_eq!(
        *log.lock().unwrap(),
        [
            "before!",
            "sleep...",
            "(an event that happens during the sleep)",
            "...resume",
            "after!"
        ]
    );
}

/// Compiles a C fixture with clang-16 (cached under target/).
fn build_c(name: &str) -> Vec<u8> {
    let src = fixture(name);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.wasm"));
    let fresh = out
        .metadata()
        .and_then(|o| Ok(o.modified()? >= src.metadata()?.modified()?));
    if !matches!(fresh, Ok(true)) {
        let status = std::process::Command::new("clang-16")
            .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-debug", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("clang-16 runs (scripts/setup installs it)");
        assert!(status.success());
    }
    std::fs::read(out).unwrap()
}

struct Wasi {
    wasi: wasmtime_wasi::p1::WasiP1Ctx,
}

/// Two instances of an unmodified C program calling usleep() make progress concurrently on a
/// single-threaded runtime: their output interleaves, which blocking sleeps cannot do.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn c_usleep_yields_to_tokio_and_instances_interleave() {
    let wasm = asyncified(
        &build_c("usleep.c"),
        Some(&["wasi_snapshot_preview1.poll_oneoff"]),
    );
    let engine = engine();
    let module = Module::new(&engine, wasm).unwrap();
    let mut linker = Linker::<Wasi>::new(&engine);
    // The module pauses only in poll_oneoff, so only poll_oneoff may pause.
    asyncify_host::wasi::add_to_linker_pausing(
        &mut linker,
        |w: &mut Wasi| &mut w.wasi,
        &["poll_oneoff"],
    )
    .unwrap();
    let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(1 << 16);
    let run = |name: &'static str, step: &'static str| {
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .args(&["usleep", name, step])
            .build_p1();
        let buffer = Buffer::Export {
            func: "unwind_buffer".into(),
            size: 16384,
        };
        let mut instance = linker.instantiate(&module, Wasi { wasi }, buffer).unwrap();
        async move { instance.call_async("_start", &[]).await }
    };
    let (a, b) = tokio::join!(run("A", "10"), run("B", "15"));
    a.unwrap();
    b.unwrap();
    let text = String::from_utf8(stdout.contents().to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    let last_a = lines.iter().rposition(|l| l.starts_with('A')).unwrap();
    let first_b = lines.iter().position(|l| l.starts_with('B')).unwrap();
    assert!(
        first_b < last_a,
        "the instances ran one after the other:\n{text}"
    );
    for who in ["A", "B"] {
        let mine: Vec<&&str> = lines.iter().filter(|l| l.starts_with(who)).collect();
        let expected: Vec<String> = (0..5).map(|i| format!("{who} {i}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
}

/// An unmodified C program's `sleep(1)` and `read()` pause the wasm and wait on tokio, with
/// plain synchronous calls into wasm: on a single-threaded runtime, a ticker keeps ticking
/// through the sleep, and the line the program reads is written by a task that can only run
/// while the program waits in `read()` (a read that blocked the thread would never return:
/// the watchdog fails the test instead of hanging).
#[test]
fn c_sleep_and_read_yield_to_tokio_with_synchronous_calls() {
    let wasm = asyncified(&build_c("sleep_read.c"), None);
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        done.send(rt.block_on(sleep_and_read(wasm))).unwrap();
    });
    let (stdout, ticks, slept) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the program finished (a blocked thread never would)");
    assert_eq!(stdout, "sleeping\nreading\nread 6: hello\n");
    assert!(slept >= Duration::from_secs(1), "sleep(1) took {slept:?}");
    // A tick every 50 ms through a one-second sleep (20 on an idle machine): far more than a
    // blocked thread's one.
    assert!(ticks >= 5, "the ticker ran {ticks} times during the sleep");
}

async fn sleep_and_read(wasm: Vec<u8>) -> (String, u32, Duration) {
    let engine = engine();
    let module = Module::new(&engine, wasm).unwrap();
    let mut linker = Linker::<Wasi>::new(&engine);
    asyncify_host::wasi::add_to_linker(&mut linker, |w: &mut Wasi| &mut w.wasi).unwrap();
    let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(1 << 16);
    let (mut writer, reader) = tokio::io::duplex(64);
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .stdin(wasmtime_wasi::cli::AsyncStdinStream::new(reader))
        .build_p1();
    let mut instance = linker
        .instantiate(&module, Wasi { wasi }, Buffer::Grow { size: 16384 })
        .unwrap();
    let seen = |s: &str| String::from_utf8_lossy(&stdout.contents()).contains(s);
    let ticker = async {
        let mut ticks = 0;
        while !seen("sleeping") {
            tokio::task::yield_now().await;
        }
        let start = std::time::Instant::now();
        while !seen("reading") {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ticks += 1;
        }
        (ticks, start.elapsed())
    };
    let typist = async {
        while !seen("reading") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        use tokio::io::AsyncWriteExt;
        writer.write_all(b"hello\n").await.unwrap();
    };
    let main = instance.typed_func::<(), ()>("_start").unwrap();
    let (run, (ticks, slept), ()) =
        tokio::join!(instance.call_typed_async(&main, ()), ticker, typist);
    match run {
        Ok(()) => {}
        Err(Error::Trap(e)) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => {}
            _ => panic!("{e:#}"),
        },
        Err(e) => panic!("{e}"),
    }
    let text = String::from_utf8(stdout.contents().to_vec()).unwrap();
    (text, ticks, slept)
}

/// The checking host pauses a C program at every import call from inside a tokio runtime
/// (its WASI is the host's own, not wasmtime-wasi's synchronous functions, which start a
/// nested runtime and panic there), and the program prints what it prints unpaused.
#[tokio::test]
async fn the_check_runs_inside_a_tokio_runtime() {
    use asyncify_host::check::{self, Config, Pause};
    let engine = engine();
    let module = Module::new(&engine, asyncified(&build_c("usleep.c"), None)).unwrap();
    let config = Config {
        args: ["usleep", "C", "1"].map(String::from).to_vec(),
        pause: Pause::EveryImport,
        ..Config::default()
    };
    let report = check::run(&engine, &module, &config).unwrap();
    let text = String::from_utf8(report.stdout).unwrap();
    assert_eq!(text, "C 0\nC 1\nC 2\nC 3\nC 4\n");
    assert_eq!(report.pauses, report.import_calls);
    assert!(report.calls_by_import["wasi_snapshot_preview1.poll_oneoff"] >= 5);
}

fn coroutine_instance(engine: &Engine) -> asyncify_host::Instance<()> {
    let wat = std::fs::read(fixture("yield.wat")).unwrap();
    let module = Module::new(engine, asyncified(&wat, None)).unwrap();
    let mut linker = Linker::<()>::new(engine);
    let ty = FuncType::new(engine, [ValType::I32], [ValType::I32]);
    linker.func_yield("env", "yield", ty).unwrap();
    linker
        .instantiate(
            &module,
            (),
            Buffer::Fixed {
                addr: 0x10000,
                size: 4096,
            },
        )
        .unwrap()
}

/// Two coroutines in one instance ping-pong N times through a yield import, each with its own
/// buffer and a call stack 5 frames deep; the shared log and each total match the sequential
/// expectation.
#[test]
fn coroutines_ping_pong_in_one_instance() {
    let engine = engine();
    let mut inst = coroutine_instance(&engine);
    const N: i32 = 50;
    let args = |id: i32| [Val::I32(id), Val::I32(N), Val::I32(4)];
    let mut a = inst
        .coroutine(
            "worker",
            &args(b'a' as i32),
            Buffer::Fixed {
                addr: 0x10000,
                size: 4096,
            },
        )
        .unwrap();
    let mut b = inst
        .coroutine(
            "worker",
            &args(b'b' as i32),
            Buffer::Fixed {
                addr: 0x12000,
                size: 4096,
            },
        )
        .unwrap();
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    let mut totals = [None, None];
    for round in 0..=N {
        for (k, co, reply) in [(0, &mut a, &mut ra), (1, &mut b, &mut rb)] {
            match inst.resume(co, std::mem::take(reply)).unwrap() {
                Step::Yielded(v) => {
                    assert_eq!(v[0].unwrap_i32(), round, "yielded in iteration order");
                    // The scheduler answers with a value the worker adds to its total.
                    *reply = vec![Val::I32(round * 10 + k)];
                }
                Step::Done(out) => totals[k as usize] = Some(out[0].unwrap_i32()),
            }
        }
    }
    check_ping_pong(&mut inst, totals, N);
    assert!(matches!(inst.resume(&mut a, vec![]), Err(Error::Finished)));
}

#[test]
fn an_unasyncified_module_is_rejected() {
    let engine = engine();
    let wat = std::fs::read(fixture("yield.wat")).unwrap();
    let module = Module::new(&engine, wat::parse_bytes(&wat).unwrap()).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_yield(
            "env",
            "yield",
            FuncType::new(&engine, [ValType::I32], [ValType::I32]),
        )
        .unwrap();
    let err = linker
        .instantiate(&module, (), Buffer::Fixed { addr: 0, size: 64 })
        .err()
        .unwrap();
    assert!(matches!(err, Error::NotAsyncified { .. }), "{err}");
    assert!(err.to_string().contains("run `asyncify` on it first"));
}

#[tokio::test]
async fn a_missing_export_is_named() {
    let engine = engine();
    let mut inst = coroutine_instance(&engine);
    let err = inst.call_async("nope", &[]).await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingExport(n) if n == "nope"),
        "{err}"
    );
}

#[test]
fn a_small_buffer_says_which_size_to_raise() {
    let engine = engine();
    let mut inst = coroutine_instance(&engine);
    // 30 frames deep do not fit in 64 bytes.
    let args = [Val::I32(1), Val::I32(1), Val::I32(30)];
    let mut co = inst
        .coroutine(
            "worker",
            &args,
            Buffer::Fixed {
                addr: 0x10000,
                size: 64,
            },
        )
        .unwrap();
    let err = inst.resume(&mut co, vec![]).unwrap_err();
    assert!(matches!(err, Error::UnwindOverflow { size: 64 }), "{err}");
    assert!(err.to_string().contains("raise the size"), "{err}");
}

fn fake_runtime(engine: &Engine) -> asyncify_host::Instance<()> {
    let module = Module::new(
        engine,
        wat::parse_file(fixture("fake_runtime.wat")).unwrap(),
    )
    .unwrap();
    let mut linker = Linker::<()>::new(engine);
    for name in ["a", "b"] {
        linker
            .func_async("env", name, FuncType::new(engine, [], []), |_, _| {
                Box::pin(async { Ok(vec![]) })
            })
            .unwrap();
    }
    linker
        .instantiate(
            &module,
            (),
            Buffer::Fixed {
                addr: 64,
                size: 256,
            },
        )
        .unwrap()
}

#[tokio::test]
async fn rewinding_into_another_import_is_an_error() {
    let engine = engine();
    let err = fake_runtime(&engine)
        .call_async("diverge", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongRewind { expected, got } if expected == "env.a" && got == "env.b"),
        "{err}"
    );
}

#[tokio::test]
async fn a_trap_during_the_rewind_is_reported_as_such() {
    let engine = engine();
    let err = fake_runtime(&engine)
        .call_async("trap_rewind", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TrapDuringRewind(_)), "{err}");
}

#[tokio::test]
async fn an_async_import_that_fails_names_itself() {
    let engine = engine();
    let wat = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../transform/tests/fixtures/seed/sleep.wat"),
    )
    .unwrap();
    let module = Module::new(&engine, asyncified(&wat, None)).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker.inner().func_wrap("env", "before", || {}).unwrap();
    linker.inner().func_wrap("env", "after", || {}).unwrap();
    linker
        .func_async(
            "env",
            "sleep",
            FuncType::new(&engine, [ValType::I32], []),
            |_, _| Box::pin(async { Err(wasmtime::format_err!("the clock broke")) }),
        )
        .unwrap();
    let mut inst = linker
        .instantiate(
            &module,
            (),
            Buffer::Fixed {
                addr: 16,
                size: 1024,
            },
        )
        .unwrap();
    let err = inst.call_async("main", &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "import `env.sleep` failed: the clock broke"
    );
}

/// `func_maybe_async` pauses only when asked to: here every third call of `env.tick` pauses
/// (and returns 100 + its argument after the await), the others return at once. The sum proves
/// every call got its own result and the loop resumed in the right iteration; the unwind
/// buffer is pages `Buffer::Grow` added.
#[tokio::test]
async fn an_import_can_decide_per_call_whether_to_pause() {
    let wat = r#"(module
      (import "env" "tick" (func $tick (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "run") (param $n i32) (result i32)
        (local $i i32) (local $sum i32)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $sum (i32.add (local.get $sum) (call $tick (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $sum)))"#;
    let engine = engine();
    let module = Module::new(&engine, asyncified(wat.as_bytes(), None)).unwrap();
    let pauses = Arc::new(Mutex::new(0));
    let mut linker = Linker::<()>::new(&engine);
    let counted = pauses.clone();
    linker
        .func_maybe_async(
            "env",
            "tick",
            FuncType::new(&engine, [ValType::I32], [ValType::I32]),
            move |_, args| {
                let i = args[0].unwrap_i32();
                if i % 3 == 2 {
                    *counted.lock().unwrap() += 1;
                    asyncify_host::Reply::Later(Box::pin(async move {
                        tokio::task::yield_now().await;
                        Ok(vec![Val::I32(100 + i)])
                    }))
                } else {
                    asyncify_host::Reply::Now(vec![Val::I32(i)])
                }
            },
        )
        .unwrap();
    let mut inst = linker
        .instantiate(&module, (), Buffer::Grow { size: 1024 })
        .unwrap();
    let out = inst.call_async("run", &[Val::I32(10)]).await.unwrap();
    // 0..10 plus 100 for each of the pausing calls 2, 5, 8.
    assert_eq!(out[0].unwrap_i32(), 45 + 300);
    assert_eq!(*pauses.lock().unwrap(), 3);
    // The buffer lies in the page added after the module's own one.
    let memory = inst
        .instance()
        .get_memory(inst.store_mut(), "memory")
        .unwrap();
    assert_eq!(memory.size(inst.store()), 2);
}

/// The typed API (`func_wrap_maybe_async`, `typed_func`, `call_typed_async`) on the same
/// module: results come back typed from the awaited future, and calls
/// that do not pause return at once.
#[tokio::test]
async fn a_typed_import_decides_per_call_whether_to_pause() {
    let wat = r#"(module
      (import "env" "tick" (func $tick (param i32 i64) (result i32)))
      (memory (export "memory") 1)
      (func (export "run") (param $n i32) (result i32)
        (local $i i32) (local $sum i32)
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $sum (i32.add (local.get $sum)
              (call $tick (local.get $i) (i64.extend_i32_u (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $sum)))"#;
    let engine = engine();
    let module = Module::new(&engine, asyncified(wat.as_bytes(), None)).unwrap();
    let pauses = Arc::new(Mutex::new(Vec::new()));
    let mut linker = Linker::<()>::new(&engine);
    let counted = pauses.clone();
    linker
        .func_wrap_maybe_async("env", "tick", move |_, (i, wide): (i32, i64)| {
            assert_eq!(i64::from(i), wide, "both operands arrive");
            if i % 3 == 2 {
                counted.lock().unwrap().push(i);
                asyncify_host::Reply::Later(async move {
                    tokio::task::yield_now().await;
                    Ok(100 + i)
                })
            } else {
                asyncify_host::Reply::Now(i)
            }
        })
        .unwrap();
    let mut inst = linker
        .instantiate(&module, (), Buffer::Grow { size: 1024 })
        .unwrap();
    let run = inst.typed_func::<i32, i32>("run").unwrap();
    let out = inst.call_typed_async(&run, 10).await.unwrap();
    // 0..10 plus 100 for each of the pausing calls 2, 5, 8.
    assert_eq!(out, 45 + 300);
    assert_eq!(*pauses.lock().unwrap(), [2, 5, 8]);
    // The untyped call of the same instance sees the same import.
    let out = inst.call_async("run", &[Val::I32(3)]).await.unwrap();
    assert_eq!(out[0].unwrap_i32(), 3 + 100);
    let Err(wrong) = inst.typed_func::<(), i64>("run") else {
        panic!("run is (i32) -> i32");
    };
    assert!(
        matches!(&wrong, Error::ExportType { name, .. } if name == "run"),
        "{wrong}"
    );
}

/// A typed async import with no results that always pauses, reached through a call stack:
/// the rewind re-enters it and the export's result is that of the paused computation.
#[tokio::test(start_paused = true)]
async fn a_typed_async_import_sleeps_through_a_call_stack() {
    let wat = r#"(module
      (import "env" "sleep" (func $sleep (param i32)))
      (memory (export "memory") 1)
      (func $inner (param $ms i32) (result i32)
        (call $sleep (local.get $ms))
        (i32.mul (local.get $ms) (i32.const 2)))
      (func (export "run") (param $ms i32) (result i32)
        (i32.add (call $inner (local.get $ms)) (call $inner (i32.const 1)))))"#;
    let engine = engine();
    let module = Module::new(&engine, asyncified(wat.as_bytes(), None)).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap_async("env", "sleep", |_, (ms,): (i32,)| async move {
            tokio::time::sleep(Duration::from_millis(ms as u64)).await;
            Ok(())
        })
        .unwrap();
    let mut inst = linker
        .instantiate(
            &module,
            (),
            Buffer::Fixed {
                addr: 1024,
                size: 1024,
            },
        )
        .unwrap();
    let run = inst.typed_func::<i32, i32>("run").unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(inst.call_typed_async(&run, 500).await.unwrap(), 1002);
    assert!(start.elapsed() >= Duration::from_millis(501));
}

/// The same ping-pong through the typed API (`func_wrap_yield`, `typed_coroutine`,
/// `resume_typed`): yielded arguments and resume results are tuples, not `Val`s. Resuming
/// with the untyped API's types is an error naming the import.
#[test]
fn typed_coroutines_ping_pong_in_one_instance() {
    let engine = engine();
    let wat = std::fs::read(fixture("yield.wat")).unwrap();
    let module = Module::new(&engine, asyncified(&wat, None)).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap_yield::<(i32,), i32>("env", "yield")
        .unwrap();
    let mut inst = linker
        .instantiate(
            &module,
            (),
            Buffer::Fixed {
                addr: 0x10000,
                size: 4096,
            },
        )
        .unwrap();
    const N: i32 = 50;
    let worker = inst.typed_func::<(i32, i32, i32), i32>("worker").unwrap();
    let mut cos: Vec<_> = [(b'a', 0x10000), (b'b', 0x12000)]
        .into_iter()
        .map(|(id, addr)| {
            let buffer = Buffer::Fixed { addr, size: 4096 };
            inst.typed_coroutine(&worker, (id as i32, N, 4), buffer)
                .unwrap()
        })
        .collect();
    let mut replies = [0, 0];
    let mut totals = [None, None];
    for round in 0..=N {
        for (k, co) in cos.iter_mut().enumerate() {
            match inst
                .resume_typed::<(i32,), i32, _, _>(co, replies[k])
                .unwrap()
            {
                Step::Yielded((i,)) => {
                    assert_eq!(i, round, "yielded in iteration order");
                    replies[k] = round * 10 + k as i32;
                }
                Step::Done(total) => totals[k] = Some(total),
            }
        }
    }
    check_ping_pong(&mut inst, totals, N);

    let mut c = inst
        .typed_coroutine(&worker, (b'c' as i32, 2, 1), Buffer::Grow { size: 4096 })
        .unwrap();
    let wrong = inst.resume_typed::<Vec<Val>, (), _, _>(&mut c, ());
    match wrong {
        Err(Error::Import { import, message }) => {
            assert_eq!(import, "env.yield");
            assert!(message.contains("not a"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Both workers of `yield.wat` summed what the scheduler answered, and they ran alternately.
fn check_ping_pong(inst: &mut asyncify_host::Instance<()>, totals: [Option<i32>; 2], n: i32) {
    let expected = |k: i32| (0..n).map(|r| r * 10 + k).sum::<i32>();
    assert_eq!(totals, [Some(expected(0)), Some(expected(1))]);
    let len = inst.call("log_len", &[]).unwrap()[0].unwrap_i32() as usize;
    let memory = inst
        .instance()
        .get_memory(inst.store_mut(), "memory")
        .unwrap();
    assert_eq!(&memory.data(inst.store())[..len], b"ab".repeat(n as usize));
}
