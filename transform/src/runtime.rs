//! The runtime half of the ABI: the two globals, the exported `asyncify_*` functions, the
//! frame allocation helpers, and the pure-wasm runtime's `asyncify.*` imports turned into
//! direct calls of our implementation.

use walrus::ir::{BinaryOp, LoadKind, MemArg, StoreKind, Value};
use walrus::{
    ConstExpr, ExportItem, FunctionBuilder, FunctionId, FunctionKind, GlobalId, InstrSeqBuilder,
    LocalId, MemoryId, Module, ValType,
};

use crate::analysis::callgraph::RuntimeImports;
use crate::{Error, Options};

pub(crate) const STATE_NORMAL: i32 = 0;
pub(crate) const STATE_UNWINDING: i32 = 1;
pub(crate) const STATE_REWINDING: i32 = 2;

/// The ABI's storage: the globals and the memory holding the data structure.
#[derive(Clone, Copy)]
pub(crate) struct Abi {
    pub state: GlobalId,
    /// 1 exactly when `state` is normal, else 0; the four start/stop functions set both.
    /// The guards test it: `global.get $normal` is a byte shorter than `global.get $state;
    /// i32.eqz`, and SQLite's worst mode has about 20,000 such tests.
    pub normal: GlobalId,
    pub data: GlobalId,
    /// While rewinding, the index of the site the current function rewinds to (0 otherwise).
    /// A global rather than a local per function: a local read at every later site is live
    /// across every pausing call, taking a register there (see docs/transform.md). Rewinds
    /// pass forward only, and the stop functions set it back to 0.
    pub target: GlobalId,
    pub memory: MemoryId,
    /// i32, or i64 for a 64-bit memory.
    pub ptr: ValType,
}

/// What instrumented code needs to know about the runtime.
#[derive(Clone, Copy)]
pub(crate) struct Runtime {
    pub abi: Abi,
    /// `alloc(size) -> frame`: reserves `size` bytes on the asyncify stack, trapping before
    /// anything is written if they do not fit.
    pub alloc: FunctionId,
    /// `pop(size) -> frame`: releases the top `size` bytes and returns their address.
    pub pop: FunctionId,
    /// `top_index() -> i32`: the site index at the top of the asyncify stack (rewinding), for
    /// functions whose frame size depends on it.
    pub top_index: FunctionId,
}

impl Abi {
    pub fn word(&self) -> u64 {
        if self.ptr == ValType::I64 {
            8
        } else {
            4
        }
    }

    pub fn ptr_const(&self, v: u64) -> Value {
        if self.ptr == ValType::I64 {
            Value::I64(v as i64)
        } else {
            Value::I32(v as i32)
        }
    }

    fn op(&self, op32: BinaryOp, op64: BinaryOp) -> BinaryOp {
        if self.ptr == ValType::I64 {
            op64
        } else {
            op32
        }
    }

    pub fn ptr_load(&self) -> LoadKind {
        if self.ptr == ValType::I64 {
            LoadKind::I64 { atomic: false }
        } else {
            LoadKind::I32 { atomic: false }
        }
    }

    fn ptr_store(&self) -> StoreKind {
        if self.ptr == ValType::I64 {
            StoreKind::I64 { atomic: false }
        } else {
            StoreKind::I32 { atomic: false }
        }
    }

    pub fn field(&self, offset: u64) -> MemArg {
        MemArg {
            align: self.word() as u32,
            offset,
        }
    }

    /// Pushes `data->stack_pos > data->stack_end` (the stack has overflowed).
    fn overflowed(&self, b: &mut InstrSeqBuilder) {
        b.global_get(self.data)
            .load(self.memory, self.ptr_load(), self.field(0))
            .global_get(self.data)
            .load(self.memory, self.ptr_load(), self.field(self.word()))
            .binop(self.op(BinaryOp::I32GtU, BinaryOp::I64GtU));
    }

    /// Reserves a frame of the size `size` pushes on the asyncify stack: its address in `top`
    /// (`new_top`: scratch). Traps before a single byte is written if it does not fit.
    pub fn reserve(
        &self,
        b: &mut InstrSeqBuilder,
        size: impl FnOnce(&mut InstrSeqBuilder),
        top: LocalId,
        new_top: LocalId,
    ) {
        let (add, lt, gt) = (
            self.op(BinaryOp::I32Add, BinaryOp::I64Add),
            self.op(BinaryOp::I32LtU, BinaryOp::I64LtU),
            self.op(BinaryOp::I32GtU, BinaryOp::I64GtU),
        );
        b.global_get(self.data)
            .load(self.memory, self.ptr_load(), self.field(0))
            .local_tee(top);
        size(b);
        b.binop(add)
            .local_tee(new_top)
            // Wrapped around, or past the end.
            .local_get(top)
            .binop(lt)
            .local_get(new_top)
            .global_get(self.data)
            .load(self.memory, self.ptr_load(), self.field(self.word()))
            .binop(gt)
            .binop(BinaryOp::I32Or)
            .if_else(
                None,
                |t| {
                    t.unreachable();
                },
                |_| {},
            )
            .global_get(self.data)
            .local_get(new_top)
            .store(self.memory, self.ptr_store(), self.field(0));
    }

    fn trap_if_overflowed(&self, b: &mut InstrSeqBuilder) {
        self.overflowed(b);
        b.if_else(
            None,
            |t| {
                t.unreachable();
            },
            |_| {},
        );
    }

    /// The body of one of the four start/stop functions.
    fn api_body(&self, b: &mut InstrSeqBuilder, new_state: i32, data_arg: Option<LocalId>) {
        b.i32_const(new_state).global_set(self.state);
        b.i32_const((new_state == STATE_NORMAL) as i32)
            .global_set(self.normal);
        if new_state == STATE_NORMAL {
            b.i32_const(0).global_set(self.target);
        }
        if let Some(arg) = data_arg {
            b.local_get(arg).global_set(self.data);
        }
        self.trap_if_overflowed(b);
    }
}

/// Adds the globals, helpers and exports, and implements the `asyncify.*` imports.
pub(crate) fn install(
    module: &mut Module,
    opts: &Options,
    rt_imports: &RuntimeImports,
) -> Result<Runtime, Error> {
    let memory = pick_memory(module, opts)?;
    let ptr = if module.memories.get(memory).memory64 {
        ValType::I64
    } else {
        ValType::I32
    };
    for name in API.iter().map(|(n, _)| n) {
        let export = format!("asyncify_{name}");
        if module.exports.iter().any(|e| e.name == export) {
            return Err(Error::Module(format!(
                "the module already exports `{export}`: was it asyncified already?"
            )));
        }
    }
    let zero = ConstExpr::Value(Value::I32(0));
    let state = module
        .globals
        .add_local(ValType::I32, true, false, zero.clone());
    module.globals.get_mut(state).name = Some("__asyncify_state".into());
    let one = ConstExpr::Value(Value::I32(1));
    let normal = module.globals.add_local(ValType::I32, true, false, one);
    module.globals.get_mut(normal).name = Some("__asyncify_normal".into());
    let data_init = ConstExpr::Value(if ptr == ValType::I64 {
        Value::I64(0)
    } else {
        Value::I32(0)
    });
    let data = module.globals.add_local(ptr, true, false, data_init);
    module.globals.get_mut(data).name = Some("__asyncify_data".into());
    let target = module.globals.add_local(ValType::I32, true, false, zero);
    module.globals.get_mut(target).name = Some("__asyncify_rewind_target".into());

    let abi = Abi {
        state,
        normal,
        data,
        target,
        memory,
        ptr,
    };
    let rt = Runtime {
        abi,
        alloc: add_alloc(module, &abi),
        pop: add_pop(module, &abi),
        top_index: add_top_index(module, &abi),
    };

    // stop_unwind and stop_rewind do the same thing: one function serves both exports (when
    // both are imported, the second import's function just calls the first).
    let mut stop: Option<FunctionId> = None;
    for (name, kind) in API {
        let imported = rt_imports.by_name(name);
        let id = match imported {
            Some(fid) => {
                check_import_sig(module, fid, name, kind, &abi)?;
                // A second stop import forwards to the first stop function.
                let forward = stop.filter(|_| kind.is_stop());
                module
                    .replace_imported_func(fid, |(body, args)| match forward {
                        Some(to) => {
                            body.call(to);
                        }
                        None => build_api(&abi, kind, body, args),
                    })
                    .map_err(|e| Error::Module(e.to_string()))?
            }
            None if kind.is_stop() && stop.is_some() => stop.unwrap(),
            None => {
                let (params, results) = kind.sig(&abi);
                let mut b = FunctionBuilder::new(&mut module.types, &params, &results);
                let args: Vec<LocalId> = params.iter().map(|t| module.locals.add(*t)).collect();
                build_api(&abi, kind, &mut b.func_body(), &args);
                b.finish(args, &mut module.funcs)
            }
        };
        if kind.is_stop() && stop.is_none() {
            stop = Some(id);
        }
        if module.funcs.get(id).name.is_none() {
            module.funcs.get_mut(id).name = Some(format!("asyncify_{name}"));
        }
        module
            .exports
            .add(&format!("asyncify_{name}"), ExportItem::Function(id));
    }
    Ok(rt)
}

#[derive(Clone, Copy)]
pub(crate) enum Api {
    StartUnwind,
    StopUnwind,
    StartRewind,
    StopRewind,
    GetState,
}

pub(crate) const API: [(&str, Api); 5] = [
    ("start_unwind", Api::StartUnwind),
    ("stop_unwind", Api::StopUnwind),
    ("start_rewind", Api::StartRewind),
    ("stop_rewind", Api::StopRewind),
    ("get_state", Api::GetState),
];

impl Api {
    fn is_stop(self) -> bool {
        matches!(self, Api::StopUnwind | Api::StopRewind)
    }

    fn sig(self, rt: &Abi) -> (Vec<ValType>, Vec<ValType>) {
        match self {
            Api::StartUnwind | Api::StartRewind => (vec![rt.ptr], vec![]),
            Api::StopUnwind | Api::StopRewind => (vec![], vec![]),
            Api::GetState => (vec![], vec![ValType::I32]),
        }
    }
}

fn build_api(rt: &Abi, kind: Api, body: &mut InstrSeqBuilder, args: &[LocalId]) {
    match kind {
        Api::StartUnwind => rt.api_body(body, STATE_UNWINDING, Some(args[0])),
        Api::StopUnwind | Api::StopRewind => rt.api_body(body, STATE_NORMAL, None),
        Api::StartRewind => rt.api_body(body, STATE_REWINDING, Some(args[0])),
        Api::GetState => {
            body.global_get(rt.state);
        }
    }
}

fn check_import_sig(
    module: &Module,
    fid: FunctionId,
    name: &str,
    kind: Api,
    rt: &Abi,
) -> Result<(), Error> {
    let FunctionKind::Import(imp) = &module.funcs.get(fid).kind else {
        return Ok(());
    };
    let (p, r) = module.types.params_results(imp.ty);
    let (ep, er) = kind.sig(rt);
    if p != ep.as_slice() || r != er.as_slice() {
        return Err(Error::Module(format!(
            "import `asyncify.{name}` has type {p:?} -> {r:?}, expected {ep:?} -> {er:?}"
        )));
    }
    Ok(())
}

fn pick_memory(module: &mut Module, opts: &Options) -> Result<MemoryId, Error> {
    if let Some(name) = &opts.memory {
        return module
            .exports
            .iter()
            .find_map(|e| match e.item {
                ExportItem::Memory(m) if &e.name == name => Some(m),
                _ => None,
            })
            .ok_or_else(|| {
                Error::option("asyncify-memory", format!("no exported memory `{name}`"))
            });
    }
    let first = module.memories.iter().next().map(|m| m.id());
    Ok(first.unwrap_or_else(|| module.memories.add_local(false, false, 1, None, None)))
}

fn add_alloc(module: &mut Module, rt: &Abi) -> FunctionId {
    let p = rt.ptr;
    let mut b = FunctionBuilder::new(&mut module.types, &[p], &[p]);
    let size = module.locals.add(p);
    let top = module.locals.add(p);
    let new_top = module.locals.add(p);
    let mut body = b.func_body();
    rt.reserve(
        &mut body,
        |b| {
            b.local_get(size);
        },
        top,
        new_top,
    );
    body.local_get(top);
    b.name("__asyncify_alloc".into());
    b.finish(vec![size], &mut module.funcs)
}

fn add_top_index(module: &mut Module, rt: &Abi) -> FunctionId {
    let mut b = FunctionBuilder::new(&mut module.types, &[], &[ValType::I32]);
    b.func_body()
        .global_get(rt.data)
        .load(rt.memory, rt.ptr_load(), rt.field(0))
        .instr(walrus::ir::Const {
            value: rt.ptr_const(4),
        })
        .binop(rt.op(BinaryOp::I32Sub, BinaryOp::I64Sub))
        .load(
            rt.memory,
            LoadKind::I32 { atomic: false },
            MemArg {
                align: 4,
                offset: 0,
            },
        );
    b.name("__asyncify_top_index".into());
    b.finish(vec![], &mut module.funcs)
}

/// Which helpers instrumented code calls.
#[derive(Default)]
pub(crate) struct Used {
    pub frames: bool,
    /// Code outside the save helpers calls the allocation helper.
    pub alloc: bool,
    pub top_index: bool,
}

impl Runtime {
    /// Removes the helpers that no instrumented function calls.
    pub(crate) fn remove_unused_helpers(&self, module: &mut Module, used: &Used) {
        if !used.frames {
            module.funcs.delete(self.pop);
        }
        if !used.alloc {
            module.funcs.delete(self.alloc);
        }
        if !used.top_index {
            module.funcs.delete(self.top_index);
        }
    }
}

fn add_pop(module: &mut Module, rt: &Abi) -> FunctionId {
    let p = rt.ptr;
    let mut b = FunctionBuilder::new(&mut module.types, &[p], &[p]);
    let size = module.locals.add(p);
    let top = module.locals.add(p);
    b.func_body()
        .global_get(rt.data)
        .global_get(rt.data)
        .load(rt.memory, rt.ptr_load(), rt.field(0))
        .local_get(size)
        .binop(rt.op(BinaryOp::I32Sub, BinaryOp::I64Sub))
        .local_tee(top)
        .store(rt.memory, rt.ptr_store(), rt.field(0))
        .local_get(top);
    b.name("__asyncify_pop".into());
    b.finish(vec![size], &mut module.funcs)
}

impl RuntimeImports {
    /// Finds the module's `asyncify.*` imports; any other name in that module is an error.
    pub(crate) fn find(module: &Module) -> Result<Self, Error> {
        let mut rt = RuntimeImports::default();
        for imp in module.imports.iter() {
            if imp.module != "asyncify" {
                continue;
            }
            let walrus::ImportKind::Function(fid) = imp.kind else {
                return Err(Error::Module(format!(
                    "import `asyncify.{}` must be a function",
                    imp.name
                )));
            };
            match imp.name.as_str() {
                "start_unwind" | "stop_rewind" => {
                    rt.top.insert(fid);
                }
                "stop_unwind" | "start_rewind" => {
                    rt.bottom.insert(fid);
                }
                "get_state" => {}
                other => {
                    return Err(Error::Module(format!(
                        "unknown runtime import `asyncify.{other}` (expected start_unwind, \
                         stop_unwind, start_rewind, stop_rewind or get_state)"
                    )))
                }
            }
            rt.all.insert(fid);
            rt.names.push((imp.name.clone(), fid));
        }
        Ok(rt)
    }

    fn by_name(&self, name: &str) -> Option<FunctionId> {
        self.names.iter().find(|(n, _)| n == name).map(|(_, f)| *f)
    }
}
