//! A test host for asyncified modules: runs an export in wasmtime, answering every import
//! call with a deterministic value, and optionally *pausing* at each one (unwind to the host,
//! stop, rewind, continue), the protocol of Binaryen's ABI. Original and transformed modules
//! run through the same host, so their observable behaviour can be compared exactly.
#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use wasmtime::{Caller, Engine, Instance, Linker, Module, Store, Val, ValType};

/// Where the host puts the asyncify data structure, and how large its stack is. Modules
/// under test reserve this region (see the fixtures) or get a private memory for it.
pub const DATA: u32 = 0x1_0000 - 0x2000;
pub const STACK_END: u32 = 0x1_0000;

pub fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut c = wasmtime::Config::new();
        c.consume_fuel(true);
        c.cranelift_opt_level(wasmtime::OptLevel::None);
        Engine::new(&c).expect("engine")
    })
}

/// What a run observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Results (as bit patterns) or the trap message.
    pub result: Result<Vec<u128>, String>,
    /// Every logical import call: import name and argument bit patterns.
    pub calls: Vec<(String, Vec<u128>)>,
    /// Hash of the module's memory 0 (when it exports it) after the run.
    pub memory: Option<u64>,
    /// How many times the host unwound the stack.
    pub pauses: usize,
}

#[derive(Default)]
pub struct HostState {
    pub pause: bool,
    /// Pause only at this import (`module.name`), as a host of a list-mode module does.
    pub pause_only: Option<String>,
    armed: bool,
    counter: u64,
    /// The call that paused: import, argument bits, and the results it returns on re-entry.
    pending: Option<(String, Vec<u128>, Vec<Val>)>,
    calls: Vec<(String, Vec<u128>)>,
    pauses: usize,
    /// Address of the data structure, and the end of its stack.
    pub data: u32,
    pub stack_end: u32,
    /// Name of the memory that holds the data structure.
    pub data_memory: String,
}

pub fn bits(v: &Val) -> u128 {
    match v {
        Val::I32(x) => *x as u32 as u128,
        Val::I64(x) => *x as u64 as u128,
        Val::F32(x) => *x as u128,
        Val::F64(x) => *x as u128,
        Val::V128(x) => x.as_u128(),
        _ => 0,
    }
}

pub fn value_for(ty: &ValType, n: u64) -> Val {
    match ty {
        ValType::I32 => Val::I32(n as i32),
        ValType::I64 => Val::I64((n as i64).wrapping_mul(0x1_0000_0001)),
        ValType::F32 => Val::F32((n as f32 + 0.5).to_bits()),
        ValType::F64 => Val::F64((n as f64 * 1.25).to_bits()),
        ValType::V128 => Val::V128((n as u128 * 0x0101_0101_0101_0101_0101).into()),
        _ => Val::null_func_ref(),
    }
}

fn zero_for(ty: &ValType) -> Val {
    Val::default_for_ty(ty).unwrap_or(Val::I32(0))
}

fn get_state(caller: &mut Caller<'_, HostState>) -> Option<i32> {
    let f = caller.get_export("asyncify_get_state")?.into_func()?;
    let f = f.typed::<(), i32>(&caller).ok()?;
    f.call(caller, ()).ok()
}

fn call0(caller: &mut Caller<'_, HostState>, name: &str, arg: Option<u32>) -> wasmtime::Result<()> {
    let f = caller
        .get_export(name)
        .and_then(|e| e.into_func())
        .expect("asyncify export");
    match arg {
        Some(a) => f.typed::<i32, ()>(&caller)?.call(caller, a as i32),
        None => f.typed::<(), ()>(&caller)?.call(caller, ()),
    }
}

/// Exported by modules whose code reads them to compute import arguments and table indices:
/// the host changes them at every logical import call (paused or not, so runs stay
/// comparable). A transform that recomputed such an operand during a rewind, instead of
/// keeping the value it had at the unwind, re-enters with other arguments and is caught.
pub const HOOK_GLOBAL: &str = "__hook_global";
pub const HOOK_MEMORY: &str = "__hook_memory";

fn change_world(caller: &mut Caller<'_, HostState>, n: u64) -> wasmtime::Result<()> {
    if let Some(g) = caller.get_export(HOOK_GLOBAL).and_then(|e| e.into_global()) {
        g.set(&mut *caller, Val::I32((n as i32).wrapping_mul(3)))?;
    }
    if let Some(m) = caller.get_export(HOOK_MEMORY).and_then(|e| e.into_memory()) {
        let words = [n as u32, (n as u32).wrapping_mul(7)];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        m.write(&mut *caller, 0, &bytes)?;
    }
    Ok(())
}

/// Links every import of `module` to the deterministic, optionally pausing host function.
pub fn linker(module: &Module) -> Linker<HostState> {
    let mut linker: Linker<HostState> = Linker::new(engine());
    for imp in module.imports() {
        let Some(fty) = imp.ty().func().cloned() else {
            continue;
        };
        let name = format!("{}.{}", imp.module(), imp.name());
        let results: Vec<ValType> = fty.results().collect();
        linker
            .func_new(
                imp.module(),
                imp.name(),
                fty.clone(),
                move |mut caller, args, out| {
                    let h = caller.data();
                    let pauses_here = h.pause_only.as_ref().is_none_or(|only| *only == name);
                    let state = if h.pause && h.armed && pauses_here {
                        get_state(&mut caller)
                    } else {
                        None
                    };
                    let arg_bits: Vec<u128> = args.iter().map(bits).collect();
                    if state == Some(2) {
                        // Rewinding into the call that paused: the rewind contract says it is
                        // the same import with identical arguments. Finish it with its result.
                        let (paused, paused_args, saved) =
                            caller.data_mut().pending.take().expect("a pending result");
                        if paused != name || paused_args != arg_bits {
                            wasmtime::bail!(
                                "rewind re-entered {name}{arg_bits:x?}, but the paused call was \
                                 {paused}{paused_args:x?}"
                            );
                        }
                        call0(&mut caller, "asyncify_stop_rewind", None)?;
                        out.clone_from_slice(&saved);
                        return Ok(());
                    }
                    let h = caller.data_mut();
                    h.counter += 1;
                    let n = h.counter;
                    h.calls.push((name.clone(), arg_bits.clone()));
                    let vals: Vec<Val> = results.iter().map(|t| value_for(t, n)).collect();
                    change_world(&mut caller, n)?;
                    if state == Some(0) {
                        caller.data_mut().pending = Some((name.clone(), arg_bits, vals));
                        caller.data_mut().pauses += 1;
                        let (data, end, mem) = {
                            let h = caller.data();
                            (h.data, h.stack_end, h.data_memory.clone())
                        };
                        let memory = caller
                            .get_export(&mem)
                            .and_then(|e| e.into_memory())
                            .expect("data memory");
                        memory.write(&mut caller, data as usize, &(data + 8).to_le_bytes())?;
                        memory.write(&mut caller, data as usize + 4, &end.to_le_bytes())?;
                        call0(&mut caller, "asyncify_start_unwind", Some(data))?;
                        for (o, t) in out.iter_mut().zip(&results) {
                            *o = zero_for(t);
                        }
                    } else {
                        out.clone_from_slice(&vals);
                    }
                    Ok(())
                },
            )
            .expect("define import");
    }
    linker
}

pub struct Runner {
    pub store: Store<HostState>,
    pub instance: Instance,
}

impl Runner {
    /// A runner whose asyncify data lives in the reserved top of the module's `memory`.
    pub fn new(wasm: &[u8], pause: bool, fuel: u64) -> Result<Runner, String> {
        Self::with_data(wasm, pause, fuel, "memory", DATA, STACK_END)
    }

    /// A runner whose asyncify data lives at `data` in the exported memory `memory`, with its
    /// stack ending at `stack_end`.
    pub fn with_data(
        wasm: &[u8],
        pause: bool,
        fuel: u64,
        memory: &str,
        data: u32,
        stack_end: u32,
    ) -> Result<Runner, String> {
        let module = Module::new(engine(), wasm).map_err(|e| format!("compile: {e:#}"))?;
        let linker = linker(&module);
        let host = HostState {
            pause,
            data,
            stack_end,
            data_memory: memory.into(),
            ..HostState::default()
        };
        let mut store = Store::new(engine(), host);
        store.set_fuel(fuel).unwrap();
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(|e| trap_text(&e))?;
        store.data_mut().armed = true;
        Ok(Runner { store, instance })
    }

    /// Calls `export`; when it returns because the stack unwound, rewinds and calls it again,
    /// with zero arguments: the frame must restore what the export needs, since a runtime
    /// may rewind with other arguments (Emscripten's calls the export with none).
    pub fn call(&mut self, export: &str, args: &[Val]) -> Outcome {
        let f = self
            .instance
            .get_func(&mut self.store, export)
            .expect("export exists");
        let ty = f.ty(&self.store);
        let mut out: Vec<Val> = ty.results().map(|t| zero_for(&t)).collect();
        let state_fn = self
            .instance
            .get_typed_func::<(), i32>(&mut self.store, "asyncify_get_state")
            .ok();
        let start = (self.store.data().calls.len(), self.store.data().pauses);
        let zeros: Vec<Val> = ty.params().map(|t| zero_for(&t)).collect();
        let mut args = args;
        let result = loop {
            if let Err(e) = f.call(&mut self.store, args, &mut out) {
                break Err(trap_text(&e));
            }
            let unwound = match &state_fn {
                Some(s) => s
                    .call(&mut self.store, ())
                    .map(|st| st == 1)
                    .unwrap_or(false),
                None => false,
            };
            if !unwound {
                break Ok(out.iter().map(bits).collect());
            }
            let data = self.store.data().data as i32;
            let stop = self
                .instance
                .get_typed_func::<(), ()>(&mut self.store, "asyncify_stop_unwind")
                .unwrap();
            stop.call(&mut self.store, ()).unwrap();
            let rewind = self
                .instance
                .get_typed_func::<i32, ()>(&mut self.store, "asyncify_start_rewind")
                .unwrap();
            rewind.call(&mut self.store, data).unwrap();
            args = &zeros;
        };
        let memory = self
            .instance
            .get_memory(&mut self.store, "memory")
            .map(|m| {
                let mut h = DefaultHasher::new();
                let bytes = m.data(&self.store);
                // The host's data region is not the program's state.
                let (d, e) = (DATA as usize, STACK_END as usize);
                if self.store.data().data_memory == "memory" && bytes.len() >= e {
                    bytes[..d].hash(&mut h);
                    bytes[e..].hash(&mut h);
                } else {
                    bytes.hash(&mut h);
                }
                h.finish()
            });
        let h = self.store.data();
        Outcome {
            result,
            calls: h.calls[start.0..].to_vec(),
            memory,
            pauses: h.pauses - start.1,
        }
    }
}

pub fn trap_text(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => format!("trap: {t}"),
        None => format!("{e:#}"),
    }
}

/// Parses a `.wat` fixture's `;; run: export arg...` lines (`i32:5`, `i64:-1`, `f64:2.5`).
pub fn run_lines(text: &str) -> Vec<(String, Vec<Val>)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(";; run:"))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next().expect("export name").to_string();
            let args = parts
                .map(|a| {
                    let (t, v) = a.split_once(':').expect("type:value");
                    match t {
                        "i32" => Val::I32(v.parse().unwrap()),
                        "i64" => Val::I64(v.parse().unwrap()),
                        "f32" => Val::F32(v.parse::<f32>().unwrap().to_bits()),
                        "f64" => Val::F64(v.parse::<f64>().unwrap().to_bits()),
                        _ => panic!("unknown arg type {t}"),
                    }
                })
                .collect();
            (name, args)
        })
        .collect()
}

/// Compiles a C file for wasm32-wasi with clang-16, cached under `target/` by content.
pub fn build_c(src: &std::path::Path, flags: &[&str]) -> Vec<u8> {
    let source = std::fs::read(src).unwrap();
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    flags.hash(&mut h);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-programs");
    std::fs::create_dir_all(&dir).unwrap();
    let stem = src.file_stem().unwrap().to_string_lossy();
    let out = dir.join(format!("{stem}-{:016x}.wasm", h.finish()));
    if !out.exists() {
        let tmp = out.with_extension("tmp");
        let status = std::process::Command::new("clang-16")
            .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-debug", "-o"])
            .arg(&tmp)
            .arg(src)
            .args(flags)
            .status()
            .expect("clang-16 runs (scripts/setup installs it)");
        assert!(status.success(), "clang-16 failed on {}", src.display());
        std::fs::rename(&tmp, &out).unwrap();
    }
    std::fs::read(out).unwrap()
}
