//! A WASI preview1 host that **pauses at every import call** (or at a chosen set), to check
//! that an asyncified module resumes exactly where it paused.
//!
//! Each pausing call follows Binaryen's protocol, the way a runtime that makes `fd_read` or
//! `fd_write` asynchronous drives it:
//!
//! 1. The first call (normal state) records the import and its arguments, starts an unwind
//!    and returns zeros. The export returns; the host stops the unwind, starts a rewind and
//!    calls the export again.
//! 2. The rewind must re-enter **the same import with bit-identical arguments** (the rewind
//!    contract); anything else is [`Error::RewindMismatch`], naming both calls. The host stops
//!    the rewind and only then performs the real call, with the re-entry's arguments, so a
//!    transform that loses a pointer or a length shows up as wrong output even where the
//!    arguments happen to match.
//!
//! The real WASI functions are [`crate::wasi`]'s, without pauses (wasmtime-wasi's own
//! synchronous ones would start a nested tokio runtime, which panics inside one). They find
//! the memory through their caller's `memory` export, so the host reaches them through a small
//! generated *shim* module that imports the program's memory, re-exports it and forwards each
//! WASI function; the pausing imports call the shim's exports at re-entry.
//!
//! The unwind buffer is in pages grown at instantiation. wasi-libc's allocator takes every
//! page that exists when it first runs, so the program may own those pages too: the host saves
//! the region before each unwind and puts back the bytes the unwind used once the rewind is
//! complete. No program code runs in between, so the program cannot tell.
//!
//! Besides WASI: `spectest.print*` (the spec test suite's logging, used by the seed article's
//! pure-wasm example) print to stdout, and any other import without results is a no-op (the
//! suite's programs import `env.pause` as their pause point). Other imports are an error.

use std::collections::BTreeMap;

use wasmtime::{Caller, Engine, Func, FuncType, Linker, Memory, Module, Store, Val, ValType};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::p2::OutputStream;

use crate::Error;

const WASI: &str = "wasi_snapshot_preview1";
/// The usual cause of an unwind that does not return to the host.
const UNINSTRUMENTED: &str = "a function on the paused stack was not instrumented, such as \
    the caller of an indirect call under --ignore-indirect, and kept running";

/// Which import calls pause.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pause {
    /// None: run the module as it is (an original, or a transformed module as a baseline).
    #[default]
    Never,
    /// Every import call.
    EveryImport,
    /// Imports whose `module.name` matches one of these patterns (`*` matches any run of
    /// characters, as in `asyncify --imports`).
    Matching(Vec<String>),
}

impl Pause {
    fn pauses(&self, import: &str) -> bool {
        match self {
            Pause::Never => false,
            Pause::EveryImport => true,
            Pause::Matching(patterns) => patterns.iter().any(|p| glob(p, import)),
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut text) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or("");
    for part in parts {
        match text.find(part) {
            Some(i) => text = &text[i + part.len()..],
            None => return false,
        }
    }
    text.len() >= last.len() && text.ends_with(last)
}

/// Where the program's standard output goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stdout {
    /// Into [`Report::stdout`].
    #[default]
    Capture,
    /// This process's stdout (and stderr for the program's stderr).
    Inherit,
}

/// How to run a module.
#[derive(Clone, Debug)]
pub struct Config {
    /// The program's arguments, `argv[0]` included.
    pub args: Vec<String>,
    pub pause: Pause,
    pub stdout: Stdout,
    /// The program's standard input.
    pub stdin: Vec<u8>,
    /// Host directories opened for the program, with the names it sees them by.
    pub dirs: Vec<(std::path::PathBuf, String)>,
    /// The export to call; `None`: `_start` if the module has it, else only instantiate (a
    /// start function runs, unpaused).
    pub invoke: Option<String>,
    /// Bytes of the unwind stack.
    pub stack_size: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            args: vec!["prog".into()],
            pause: Pause::Never,
            stdout: Stdout::Capture,
            stdin: Vec::new(),
            dirs: Vec::new(),
            invoke: None,
            stack_size: 1 << 20,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The exit code: `proc_exit`'s argument, or 0 when the export returned.
    pub exit_code: i32,
    /// Captured stdout (empty with [`Stdout::Inherit`]).
    pub stdout: Vec<u8>,
    /// Logical import calls (a paused call counts once), in total and per import.
    pub import_calls: u64,
    pub calls_by_import: BTreeMap<String, u64>,
    /// Pauses taken: unwinds, each followed by a rewind.
    pub pauses: u64,
    /// The largest number of bytes an unwind wrote.
    pub max_unwind_bytes: u32,
}

/// How one import is served.
enum Real {
    /// Through the shim's export of the same name.
    Wasi,
    /// `spectest.print*`: print the arguments.
    Print,
    /// Does nothing (an import without results that no one implements).
    Nothing,
}

struct Import {
    name: String,
    real: Real,
    pauses: bool,
    results: Vec<Val>,
}

/// The unwind buffer: `header` holds Asyncify's data structure, the stack follows it.
struct Region {
    header: u32,
    end: u32,
    /// The program's bytes of the region, saved before the unwind.
    saved: Vec<u8>,
    /// Bytes the last unwind wrote after the header.
    used: u32,
}

struct Asyncify {
    start_unwind: wasmtime::TypedFunc<i32, ()>,
    stop_unwind: wasmtime::TypedFunc<(), ()>,
    start_rewind: wasmtime::TypedFunc<i32, ()>,
    stop_rewind: wasmtime::TypedFunc<(), ()>,
    region: Region,
}

struct State {
    wasi: WasiP1Ctx,
    imports: Vec<Import>,
    /// The shim's exports, by import index.
    shim: Vec<Option<Func>>,
    memory: Option<Memory>,
    asyncify: Option<Asyncify>,
    /// Pausing starts with the call of the export (not during instantiation).
    armed: bool,
    /// The call that paused: import index and arguments.
    pending: Option<(usize, Vec<Val>)>,
    rewinding: bool,
    /// A typed error raised inside an import, reported instead of wasmtime's trap.
    error: Option<Error>,
    stdout: Option<MemoryOutputPipe>,
    report: Report,
}

/// Runs `module` under WASI, pausing as `config` says; see the module docs.
pub fn run(engine: &Engine, module: &Module, config: &Config) -> Result<Report, Error> {
    let (wasi, stdout) = wasi_ctx(config)?;
    let mut imports = Vec::new();
    let mut linker: Linker<State> = Linker::new(engine);
    for (index, imp) in module.imports().enumerate() {
        let name = format!("{}.{}", imp.module(), imp.name());
        let Some(ty) = imp.ty().func().cloned() else {
            return Err(Error::UnknownImport(name));
        };
        let real = if imp.module() == WASI {
            Real::Wasi
        } else if imp.module() == "spectest" && imp.name().starts_with("print") {
            Real::Print
        } else if ty.results().len() == 0 {
            Real::Nothing
        } else {
            return Err(Error::UnknownImport(name));
        };
        let results = ty
            .results()
            .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
            .collect();
        imports.push(Import {
            pauses: config.pause.pauses(&name),
            name,
            real,
            results,
        });
        linker
            .func_new(imp.module(), imp.name(), ty, move |caller, args, out| {
                import_call(caller, index, args, out)
            })
            .map_err(Error::Instantiate)?;
    }
    let state = State {
        wasi,
        shim: vec![None; imports.len()],
        imports,
        memory: None,
        asyncify: None,
        armed: false,
        pending: None,
        rewinding: false,
        error: None,
        stdout: stdout.clone(),
        report: Report::default(),
    };
    let mut store = Store::new(engine, state);
    let instance = linker
        .instantiate(&mut store, module)
        .map_err(Error::Instantiate)?;
    let memory = instance.get_memory(&mut store, "memory");
    store.data_mut().memory = memory;
    link_shim(engine, module, &mut store)?;
    if config.pause != Pause::Never {
        let asyncify = find_asyncify(&mut store, &instance, config.stack_size)?;
        store.data_mut().asyncify = Some(asyncify);
    }
    let invoke = match &config.invoke {
        Some(name) => Some(name.clone()),
        None => module
            .get_export("_start")
            .is_some()
            .then(|| "_start".to_string()),
    };
    if let Some(name) = invoke {
        let func = instance
            .get_func(&mut store, &name)
            .ok_or_else(|| Error::MissingExport(name.clone()))?;
        if func.ty(&store).params().len() != 0 {
            return Err(Error::Import {
                import: name,
                message: "the export to run must take no parameters".into(),
            });
        }
        store.data_mut().armed = true;
        store.data_mut().report.exit_code = drive(&mut store, func)?;
    }
    let mut report = std::mem::take(&mut store.data_mut().report);
    if let Some(pipe) = stdout {
        report.stdout = pipe.contents().to_vec();
    }
    Ok(report)
}

fn wasi_ctx(config: &Config) -> Result<(WasiP1Ctx, Option<MemoryOutputPipe>), Error> {
    let mut b = wasmtime_wasi::WasiCtxBuilder::new();
    b.args(&config.args);
    b.stdin(MemoryInputPipe::new(config.stdin.clone()));
    for (host, guest) in &config.dirs {
        b.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadWrite)
            .map_err(|e| Error::Import {
                import: format!("{WASI}.path_open"),
                message: format!("cannot open directory {}: {e:#}", host.display()),
            })?;
    }
    let pipe = match config.stdout {
        Stdout::Capture => {
            let pipe = MemoryOutputPipe::new(usize::MAX);
            b.stdout(pipe.clone());
            Some(pipe)
        }
        Stdout::Inherit => {
            b.inherit_stdout().inherit_stderr();
            None
        }
    };
    Ok((b.build_p1(), pipe))
}

/// Instantiates the shim that gives the real WASI functions the program's memory.
fn link_shim(engine: &Engine, module: &Module, store: &mut Store<State>) -> Result<(), Error> {
    let wasi: Vec<(usize, String, FuncType)> = module
        .imports()
        .enumerate()
        .filter(|(_, i)| i.module() == WASI)
        .map(|(k, i)| (k, i.name().to_string(), i.ty().func().cloned().unwrap()))
        .collect();
    if wasi.is_empty() {
        return Ok(());
    }
    let memory = store
        .data()
        .memory
        .ok_or_else(|| Error::MissingExport("memory".into()))?;
    let shim = Module::new(engine, shim_text(&wasi)).map_err(Error::Instantiate)?;
    let mut linker: Linker<State> = Linker::new(engine);
    crate::wasi::add_to_wasmtime_linker(&mut linker, |s: &mut State| &mut s.wasi)
        .map_err(Error::Instantiate)?;
    linker
        .define(&mut *store, "host", "memory", memory)
        .map_err(Error::Instantiate)?;
    let instance = linker
        .instantiate(&mut *store, &shim)
        .map_err(Error::Instantiate)?;
    for (k, name, _) in &wasi {
        let f = instance
            .get_func(&mut *store, name)
            .expect("the shim exports it");
        store.data_mut().shim[*k] = Some(f);
    }
    Ok(())
}

/// `(module (import "host" "memory" ...) (import WASI f) ... (func (export f) ...) ...)`.
fn shim_text(wasi: &[(usize, String, FuncType)]) -> String {
    let names = |tys: &mut dyn Iterator<Item = ValType>| {
        tys.map(|t| match t {
            ValType::I64 => " i64",
            ValType::F32 => " f32",
            ValType::F64 => " f64",
            _ => " i32",
        })
        .collect::<String>()
    };
    let mut text = String::from("(module\n  (import \"host\" \"memory\" (memory 0))\n");
    for (k, name, ty) in wasi {
        let (p, r) = (names(&mut ty.params()), names(&mut ty.results()));
        text += &format!("  (import \"{WASI}\" \"{name}\" (func $f{k} (param{p}) (result{r})))\n");
    }
    text += "  (export \"memory\" (memory 0))\n";
    for (k, name, ty) in wasi {
        let (p, r) = (names(&mut ty.params()), names(&mut ty.results()));
        let gets: String = (0..ty.params().len())
            .map(|i| format!(" local.get {i}"))
            .collect();
        text += &format!("  (func (export \"{name}\") (param{p}) (result{r}){gets} call $f{k})\n");
    }
    text + ")"
}

/// An export of the asyncify ABI, with its signature.
fn abi_export<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    store: &mut Store<State>,
    instance: &wasmtime::Instance,
    name: &str,
) -> Result<wasmtime::TypedFunc<P, R>, Error> {
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| Error::NotAsyncified {
            missing: name.to_string(),
        })?;
    func.typed(&*store).map_err(|_| Error::NotAsyncified {
        missing: format!("{name} with Asyncify's signature"),
    })
}

fn find_asyncify(
    store: &mut Store<State>,
    instance: &wasmtime::Instance,
    size: u32,
) -> Result<Asyncify, Error> {
    let start_unwind = abi_export(store, instance, "asyncify_start_unwind")?;
    let stop_unwind = abi_export(store, instance, "asyncify_stop_unwind")?;
    let start_rewind = abi_export(store, instance, "asyncify_start_rewind")?;
    let stop_rewind = abi_export(store, instance, "asyncify_stop_rewind")?;
    let memory = store
        .data()
        .memory
        .ok_or_else(|| Error::MissingExport("memory".into()))?;
    // The region: header (16 bytes, as Emscripten's runtimes leave room for a field of their
    // own) and the stack, in new pages at the end of memory.
    let total = u64::from(size) + 16;
    let old = memory
        .grow(&mut *store, total.div_ceil(65536))
        .map_err(|e| Error::Import {
            import: "memory".into(),
            message: format!("cannot grow memory for the unwind buffer: {e:#}"),
        })?;
    let header = u32::try_from(old * 65536).map_err(|_| Error::BufferTooSmall { size })?;
    Ok(Asyncify {
        start_unwind,
        stop_unwind,
        start_rewind,
        stop_rewind,
        region: Region {
            header,
            end: header + 16 + size,
            saved: vec![0; total as usize],
            used: 0,
        },
    })
}

/// `name(a, b, ...)` for messages.
fn describe(name: &str, args: &[Val]) -> String {
    let args: Vec<String> = args.iter().map(val_text).collect();
    format!("{name}({})", args.join(", "))
}

fn val_text(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(x) => f32::from_bits(*x).to_string(),
        Val::F64(x) => f64::from_bits(*x).to_string(),
        Val::V128(x) => format!("{:#x}", x.as_u128()),
        other => format!("{other:?}"),
    }
}

fn same_bits(a: &[Val], b: &[Val]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Val::I32(x), Val::I32(y)) => x == y,
            (Val::I64(x), Val::I64(y)) => x == y,
            (Val::F32(x), Val::F32(y)) => x == y,
            (Val::F64(x), Val::F64(y)) => x == y,
            (Val::V128(x), Val::V128(y)) => x.as_u128() == y.as_u128(),
            _ => false,
        })
}

/// Fails the run with `err` (reported instead of wasmtime's generic trap).
fn fail(caller: &mut Caller<'_, State>, err: Error) -> wasmtime::Error {
    let text = err.to_string();
    caller.data_mut().error = Some(err);
    wasmtime::Error::msg(text)
}

fn import_call(
    mut caller: Caller<'_, State>,
    index: usize,
    args: &[Val],
    out: &mut [Val],
) -> wasmtime::Result<()> {
    let st = caller.data();
    if !st.armed || !st.imports[index].pauses {
        return real_call(&mut caller, index, args, out);
    }
    if st.rewinding {
        let Some((paused, paused_args)) = caller.data_mut().pending.take() else {
            let name = caller.data().imports[index].name.clone();
            return Err(fail(
                &mut caller,
                Error::Protocol(format!("{name} was reached while rewinding, with no pause")),
            ));
        };
        if paused != index || !same_bits(&paused_args, args) {
            let imports = &caller.data().imports;
            let err = Error::RewindMismatch {
                paused: describe(&imports[paused].name, &paused_args),
                reentered: describe(&imports[index].name, args),
            };
            return Err(fail(&mut caller, err));
        }
        let a = caller.data().asyncify.as_ref().expect("pausing");
        let (stop, header) = (a.stop_rewind.clone(), a.region.header);
        stop.call(&mut caller, ())?;
        caller.data_mut().rewinding = false;
        let memory = caller.data().memory.expect("checked when pausing");
        let pos = stack_pos(&caller, memory, header);
        if pos != header + 16 {
            let name = caller.data().imports[index].name.clone();
            let used = pos.wrapping_sub(header + 16);
            return Err(fail(
                &mut caller,
                Error::Protocol(format!(
                    "the rewind into {name} left {used} bytes on the asyncify stack \
                     (it must take back exactly what the unwind saved)"
                )),
            ));
        }
        restore_region(&mut caller);
        return real_call(&mut caller, index, args, out);
    }
    if let Some((paused, _)) = &caller.data().pending {
        let msg = format!(
            "{} was called while a pause in {} was pending: the unwind stopped short of the \
             export ({UNINSTRUMENTED})",
            caller.data().imports[index].name,
            caller.data().imports[*paused].name
        );
        return Err(fail(&mut caller, Error::Protocol(msg)));
    }
    let memory = caller.data().memory.expect("checked when pausing");
    let (data, st) = memory.data_and_store_mut(&mut caller);
    let a = st.asyncify.as_mut().expect("pausing");
    let (header, end) = (a.region.header as usize, a.region.end);
    a.region.saved.copy_from_slice(&data[header..end as usize]);
    data[header..header + 4].copy_from_slice(&(header as u32 + 16).to_le_bytes());
    data[header + 4..header + 8].copy_from_slice(&end.to_le_bytes());
    let start_unwind = a.start_unwind.clone();
    st.pending = Some((index, args.to_vec()));
    caller.data_mut().report.pauses += 1;
    start_unwind.call(&mut caller, header as i32)?;
    out.clone_from_slice(&caller.data().imports[index].results);
    Ok(())
}

/// The asyncify stack's current position (the data structure's first field).
fn stack_pos(store: impl wasmtime::AsContext, memory: Memory, header: u32) -> u32 {
    let h = header as usize;
    u32::from_le_bytes(memory.data(&store)[h..h + 4].try_into().unwrap())
}

/// Puts back the program's bytes that the last unwind overwrote (header and used stack).
fn restore_region(caller: &mut Caller<'_, State>) {
    let memory = caller.data().memory.expect("checked when pausing");
    let (data, st) = memory.data_and_store_mut(caller);
    let region = &st.asyncify.as_ref().expect("pausing").region;
    let header = region.header as usize;
    let used = (16 + region.used as usize).min(region.saved.len());
    data[header..header + used].copy_from_slice(&region.saved[..used]);
}

/// The real work of an import call.
fn real_call(
    caller: &mut Caller<'_, State>,
    index: usize,
    args: &[Val],
    out: &mut [Val],
) -> wasmtime::Result<()> {
    let st = caller.data_mut();
    st.report.import_calls += 1;
    let name = &st.imports[index].name;
    *st.report.calls_by_import.entry(name.clone()).or_default() += 1;
    match st.imports[index].real {
        Real::Wasi => {
            let f = st.shim[index].expect("the shim forwards every WASI import");
            f.call(&mut *caller, args, out)
        }
        Real::Print => {
            let line: Vec<String> = args.iter().map(val_text).collect();
            let line = format!("{}\n", line.join(" "));
            match &mut caller.data_mut().stdout {
                Some(pipe) => pipe
                    .write(line.into_bytes().into())
                    .map_err(|e| wasmtime::Error::msg(format!("stdout: {e:?}"))),
                None => {
                    print!("{line}");
                    Ok(())
                }
            }
        }
        Real::Nothing => Ok(()),
    }
}

/// Calls `func` until it returns without having unwound; returns the exit code.
fn drive(store: &mut Store<State>, func: Func) -> Result<i32, Error> {
    let mut out: Vec<Val> = func
        .ty(&*store)
        .results()
        .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
        .collect();
    loop {
        if let Err(e) = func.call(&mut *store, &[], &mut out) {
            if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                return Ok(exit.0);
            }
            if let Some(err) = store.data_mut().error.take() {
                return Err(err);
            }
            let st = store.data();
            return Err(match &st.pending {
                Some((i, _)) if st.rewinding => Error::TrapDuringRewind(
                    e.context(format!("while rewinding into {}", st.imports[*i].name)),
                ),
                Some((i, _)) => Error::Trap(e.context(format!(
                    "while unwinding from {} (either the asyncify stack is too small: \
                     Config::stack_size, --stack-kib; or {UNINSTRUMENTED})",
                    st.imports[*i].name
                ))),
                None => Error::Trap(e),
            });
        }
        let st = store.data();
        if st.rewinding {
            let name = st
                .pending
                .as_ref()
                .map(|(i, _)| st.imports[*i].name.clone());
            return Err(Error::Protocol(format!(
                "the export returned while rewinding: the paused call to {} was never re-entered",
                name.unwrap_or_default()
            )));
        }
        if st.pending.is_none() {
            return Ok(0);
        }
        // It unwound: check the stack, stop, rewind, call again.
        let a = st.asyncify.as_ref().expect("pausing");
        let (header, end) = (a.region.header, a.region.end);
        let (stop, rewind) = (a.stop_unwind.clone(), a.start_rewind.clone());
        let memory = st.memory.expect("checked when pausing");
        let pos = stack_pos(&*store, memory, header);
        if pos > end || pos < header + 16 {
            return Err(Error::Protocol(format!(
                "the unwind left the asyncify stack position at {pos}, outside its {} bytes \
                 (a larger stack: Config::stack_size, asyncify-run --stack-kib)",
                end - header - 16
            )));
        }
        let used = pos - header - 16;
        let st = store.data_mut();
        st.asyncify.as_mut().expect("pausing").region.used = used;
        st.report.max_unwind_bytes = st.report.max_unwind_bytes.max(used);
        stop.call(&mut *store, ()).map_err(Error::Trap)?;
        rewind
            .call(&mut *store, header as i32)
            .map_err(Error::Trap)?;
        store.data_mut().rewinding = true;
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("env.pause", "env.pause"));
        assert!(!glob("env.pause", "env.pauses"));
        assert!(glob(
            "wasi_snapshot_preview1.*",
            "wasi_snapshot_preview1.fd_write"
        ));
        assert!(glob("*.fd_*", "wasi_snapshot_preview1.fd_write"));
        assert!(!glob("*.fd_*", "wasi_snapshot_preview1.poll_oneoff"));
        assert!(glob("*", "x.y"));
        assert!(glob("a*b*c", "abbc"));
        assert!(!glob("a*b*c", "acb"));
    }
}
