//! Instrumentation of one function that can change state.
//!
//! The finished function has this shape (`K` is the index of the site that paused):
//!
//! ```text
//! if (state == rewinding) { r = top frame's index K; pop the frame; restore its live locals }
//! block $exit
//!   block $save_{m-1}                     ;; one block per distinct set of live locals
//!     ...
//!       block $save_0
//!         <body, rewritten by `flow`>     ;; a site that unwinds does `br_if $save_j`,
//!         return                          ;; with its index K in local `c`
//!       end
//!       <save code for set 0>; br $exit
//!     ...
//!   end
//!   <save code for set m-1>
//! end
//! <code shared by the sets, if any>       ;; see `frame`
//! <zero results>                          ;; returned while unwinding
//! ```
//!
//! Sites with the same live locals share their save and restore code; `frame` decides how
//! sets share code with each other. The allocation helper checks the end of the asyncify
//! stack before anything is written.

mod flow;
mod frame;
mod ops;
mod stack;

use std::collections::{HashMap, HashSet};

use walrus::ir::*;
use walrus::{FunctionId, FunctionKind, LocalFunction, LocalId, Module, ValType};

use crate::analysis::callgraph::Plan;
use crate::analysis::liveness::live_at_sites;
use crate::runtime::{Runtime, STATE_REWINDING};
use crate::Error;

/// Instruments every function the plan names.
pub(crate) fn run(module: &mut Module, plan: &Plan, rt: &Runtime) -> Result<(), Error> {
    for &fid in &plan.instrument {
        instrument_function(module, plan, rt, fid)?;
    }
    Ok(())
}

/// A function's name for messages: its own name, else an export's, else its index.
pub(crate) fn func_name(module: &Module, fid: FunctionId) -> String {
    if let Some(n) = &module.funcs.get(fid).name {
        return n.clone();
    }
    match module.exports.get_exported_func(fid) {
        Some(e) => e.name.clone(),
        None => format!("$func{}", fid.index()),
    }
}

/// The zero value of a type, used for skipped results (`None`: not defaultable).
pub(crate) fn zero(t: ValType) -> Option<Instr> {
    Some(match t {
        ValType::I32 => Const {
            value: Value::I32(0),
        }
        .into(),
        ValType::I64 => Const {
            value: Value::I64(0),
        }
        .into(),
        ValType::F32 => Const {
            value: Value::F32(0.0),
        }
        .into(),
        ValType::F64 => Const {
            value: Value::F64(0.0),
        }
        .into(),
        ValType::V128 => Const {
            value: Value::V128(0),
        }
        .into(),
        ValType::Ref(r) if r.nullable => RefNull { ty: r }.into(),
        ValType::Ref(_) => return None,
    })
}

fn at(i: impl Into<Instr>) -> (Instr, InstrLocId) {
    (i.into(), InstrLocId::default())
}

fn instrument_function(
    module: &mut Module,
    plan: &Plan,
    rt: &Runtime,
    fid: FunctionId,
) -> Result<(), Error> {
    let name = func_name(module, fid);
    let ty = module.funcs.get(fid).ty();
    let kind = std::mem::replace(
        &mut module.funcs.get_mut(fid).kind,
        FunctionKind::Uninitialized(ty),
    );
    let FunctionKind::Local(mut lf) = kind else {
        unreachable!("only local functions are instrumented")
    };
    let result = instrument_local(module, plan, rt, &name, &mut lf);
    module.funcs.get_mut(fid).kind = FunctionKind::Local(lf);
    result
}

fn instrument_local(
    module: &mut Module,
    plan: &Plan,
    rt: &Runtime,
    name: &str,
    lf: &mut LocalFunction,
) -> Result<(), Error> {
    let is_site = |i: &Instr| plan.is_site(i);
    let (loops, has_site) = scan(lf, &is_site);
    if !has_site.contains(&lf.entry_block()) {
        return Ok(()); // listed, but nothing in it can unwind
    }
    let fn_results = module.types.results(lf.ty()).to_vec();
    let r = module.locals.add(ValType::I32);
    let c = module.locals.add(ValType::I32);
    let p = module.locals.add(rt.abi.ptr);
    let placeholder = lf.builder_mut().dangling_instr_seq(None).id();

    let mut flow = flow::Flow {
        types: &mut module.types,
        locals: &mut module.locals,
        cx: stack::TypeCx {
            funcs: &module.funcs,
            globals: &module.globals,
            tables: &module.tables,
            memories: &module.memories,
        },
        lf,
        fn_name: name,
        fn_results: fn_results.len(),
        is_site: &is_site,
        state: rt.abi.state,
        r,
        c,
        placeholder,
        loops,
        has_site,
        sites: Vec::new(),
        guards: HashSet::new(),
    };
    flow.run()?;
    let sites = std::mem::take(&mut flow.sites);
    let guards = std::mem::take(&mut flow.guards);
    drop(flow);

    let site_map: HashMap<InstrSeqId, (u32, usize)> = sites
        .iter()
        .enumerate()
        .map(|(k, (seq, pos))| (*seq, (k as u32, *pos)))
        .collect();
    let live = live_at_sites(
        lf,
        &site_map,
        &guards,
        sites.len(),
        &[r, c, p],
        rt.abi.state,
    );

    // Distinct live sets, each with its frame layout.
    let mut set_of_site = Vec::with_capacity(sites.len());
    let mut sets: Vec<Vec<LocalId>> = Vec::new();
    let mut index: HashMap<Vec<LocalId>, usize> = HashMap::new();
    for set in live {
        for l in &set {
            if let ValType::Ref(_) = module.locals.get(*l).ty() {
                return Err(Error::Unsupported {
                    function: name.to_string(),
                    what: "a reference-typed local live across a pause".into(),
                });
            }
        }
        let next = sets.len();
        let j = *index.entry(set.clone()).or_insert_with(|| {
            sets.push(set);
            next
        });
        set_of_site.push(j);
    }
    let frames = frame::Frames::choose(module, &sets);

    // Save blocks around the body: one per set, then the code they share.
    let entry = lf.entry_block();
    let mut body = std::mem::take(&mut lf.block_mut(entry).instrs);
    body.push(at(Return {}));
    let exit = lf.builder_mut().dangling_instr_seq(None).id();
    let mut save_blocks = Vec::with_capacity(frames.sets());
    let mut inner = body;
    for j in 0..frames.sets() {
        let block = lf.builder_mut().dangling_instr_seq(None).id();
        lf.block_mut(block).instrs = inner;
        save_blocks.push(block);
        let mut next = vec![at(Block { seq: block })];
        next.extend(frames.save_stub(rt, j, c, p));
        if j + 1 < frames.sets() {
            next.push(at(Br { block: exit }));
        }
        inner = next;
    }
    lf.block_mut(exit).instrs = inner;
    let save_common = frames.save_common(lf, rt, c, p);
    for (k, (seq, pos)) in sites.iter().enumerate() {
        let target = save_blocks[set_of_site[k]];
        let instrs = &mut lf.block_mut(*seq).instrs;
        debug_assert!(matches!(instrs[pos + 2].0, Instr::BrIf(_)));
        instrs[pos + 2].0 = BrIf { block: target }.into();
    }

    // The rewind prologue.
    let mut restore = restore_dispatch(lf, rt, r, p, &frames, &set_of_site);
    restore.extend(frames.restore_common(lf, rt, p));
    let mut entry_instrs = vec![
        at(GlobalGet {
            global: rt.abi.state,
        }),
        at(Const {
            value: Value::I32(STATE_REWINDING),
        }),
        at(Binop {
            op: BinaryOp::I32Eq,
        }),
    ];
    let prologue = lf.builder_mut().dangling_instr_seq(None).id();
    let mut pro = vec![
        at(GlobalGet {
            global: rt.abi.data,
        }),
        at(Load {
            memory: rt.abi.memory,
            kind: rt.abi.ptr_load(),
            arg: rt.abi.field(0),
        }),
        at(Const {
            value: rt.abi.ptr_const(4),
        }),
        at(Binop {
            op: if rt.abi.ptr == ValType::I64 {
                BinaryOp::I64Sub
            } else {
                BinaryOp::I32Sub
            },
        }),
        at(Load {
            memory: rt.abi.memory,
            kind: LoadKind::I32 { atomic: false },
            arg: MemArg {
                align: 4,
                offset: 0,
            },
        }),
        at(LocalSet { local: r }),
    ];
    pro.extend(restore);
    lf.block_mut(prologue).instrs = pro;
    let empty = lf.builder_mut().dangling_instr_seq(None).id();
    entry_instrs.push(at(IfElse {
        consequent: prologue,
        alternative: empty,
    }));
    entry_instrs.push(at(Block { seq: exit }));
    entry_instrs.extend(save_common);
    for t in &fn_results {
        let z = zero(*t).ok_or_else(|| Error::Unsupported {
            function: name.to_string(),
            what: "a non-nullable reference result".into(),
        })?;
        entry_instrs.push(at(z));
    }
    lf.block_mut(entry).instrs = entry_instrs;
    Ok(())
}

/// Loops (branches to them go backward) and the sequences that contain a site.
fn scan(
    lf: &LocalFunction,
    is_site: &dyn Fn(&Instr) -> bool,
) -> (HashSet<InstrSeqId>, HashSet<InstrSeqId>) {
    let mut loops = HashSet::new();
    // Post-order over sequences: parent of each nested sequence, then propagate upward.
    let mut parent: HashMap<InstrSeqId, InstrSeqId> = HashMap::new();
    let mut direct: Vec<InstrSeqId> = Vec::new();
    let mut stack = vec![lf.entry_block()];
    while let Some(seq) = stack.pop() {
        for (instr, _) in lf.block(seq).instrs.iter() {
            if is_site(instr) {
                direct.push(seq);
            }
            if let Instr::Loop(l) = instr {
                loops.insert(l.seq);
            }
            let mut kids = Vec::new();
            crate::analysis::push_children(instr, &mut kids);
            for k in kids {
                parent.insert(k, seq);
                stack.push(k);
            }
        }
    }
    let mut has_site = HashSet::new();
    for mut s in direct {
        while has_site.insert(s) {
            match parent.get(&s) {
                Some(p) => s = *p,
                None => break,
            }
        }
    }
    (loops, has_site)
}

/// Restores the frame of the site in `r`: direct when all sites share one set, otherwise a
/// `br_table` from site index to the set's restore code (unknown indices trap).
fn restore_dispatch(
    lf: &mut LocalFunction,
    rt: &Runtime,
    r: LocalId,
    p: LocalId,
    frames: &frame::Frames,
    set_of_site: &[usize],
) -> Vec<(Instr, InstrLocId)> {
    let n = frames.sets();
    if n == 1 {
        return frames.restore_stub(rt, 0, p);
    }
    let done = lf.builder_mut().dangling_instr_seq(None).id();
    let bad = lf.builder_mut().dangling_instr_seq(None).id();
    let targets: Vec<InstrSeqId> = (0..n)
        .map(|_| lf.builder_mut().dangling_instr_seq(None).id())
        .collect();
    lf.block_mut(bad).instrs = vec![
        at(LocalGet { local: r }),
        at(BrTable {
            blocks: set_of_site.iter().map(|j| targets[*j]).collect(),
            default: bad,
        }),
    ];
    let mut inner = vec![at(Block { seq: bad }), at(Unreachable {})];
    for (j, target) in targets.iter().enumerate() {
        lf.block_mut(*target).instrs = inner;
        inner = vec![at(Block { seq: *target })];
        inner.extend(frames.restore_stub(rt, j, p));
        if j + 1 < n {
            inner.push(at(Br { block: done }));
        }
    }
    lf.block_mut(done).instrs = inner;
    vec![at(Block { seq: done })]
}
