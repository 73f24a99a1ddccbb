//! A function's normal-state body, apart from its rewind.
//!
//! The instrumented body serves both states: guards skip code while rewinding, sites test the
//! rewind target, rewind tables branch into the cases of a dispatch, and the locals restored
//! at the entry flow along those paths to their sites. The engine compiles every path, and in
//! an interpreter's big loop the rewind paths join the normal ones where the normal state
//! has the restored locals dead, so they stay live (and spilled) around the whole loop
//! (`docs/transform.md`, "What QuickJS's remaining overhead is made of").
//!
//! A split function keeps its index, and its body becomes the instrumented one specialised
//! to the normal state; the instrumented body moves to a new function, the *rewind copy*:
//!
//! ```text
//! if (state) { return rewind_copy(params) }  ;; only a rewind enters while not normal
//! <the body, with $normal = 1 and $target = 0 folded in: guards are their code, sites
//!  their call and unwind check, and the rewind's tables and restores are gone>
//! <save code>
//! ```
//!
//! Both save the same frames (the same sites, live sets and layout), so a frame saved by
//! either is restored by the rewind copy, which then runs the rest of that call. The normal
//! body's save blocks give a union frame's unsaved locals dummy values whatever their size
//! (`Frames::with_kills`): without rewind paths, that is what keeps the save path from
//! making every local look live across every call.
//!
//! A rewinding caller in the same recursion calls the copy itself (`call_copies_directly`):
//! through the normal body, every paused level would hold both bodies' frames while it
//! rewinds.
//!
//! Why a copy is safe to specialise: in the normal body, the state is normal everywhere but
//! between a call and its unwind check (`call; K; global.get $state; br_if $save`), which is
//! the only state read left. The entry is the only place where the state can be rewinding,
//! and the rewind copy takes that path whole.

use std::collections::{HashMap, HashSet};

use walrus::ir::*;
use walrus::{FunctionId, FunctionKind, GlobalId, LocalFunction, LocalId, Module, ValType};

use super::{at, i32c, Code};
use crate::analysis::callgraph::Plan;
use crate::runtime::Abi;

/// The share of the module's instructions (in percent) that the functions given a rewind copy
/// may have between them: a copy adds about the function's instrumented size.
const BUDGET_PERCENT: usize = 10;

/// The functions that get a rewind copy when the transform picks: those with the most sites
/// inside loops first (an interpreter's dispatch loop calls out from every case), while their
/// instructions fit in `BUDGET_PERCENT` of the module's.
pub(crate) fn choose(module: &Module, plan: &Plan) -> HashSet<FunctionId> {
    let mut total = 0;
    let mut candidates = Vec::new();
    for f in module.funcs.iter() {
        let FunctionKind::Local(lf) = &f.kind else {
            continue;
        };
        let (size, in_loops) = count(lf, plan);
        total += size;
        if in_loops > 0 && plan.instrument.contains(&f.id()) {
            candidates.push((in_loops, size, f.id()));
        }
    }
    candidates.sort_by_key(|(n, size, id)| (std::cmp::Reverse(*n), *size, *id));
    let mut budget = total * BUDGET_PERCENT / 100;
    let mut chosen = HashSet::new();
    for (_, size, id) in candidates {
        if size <= budget {
            budget -= size;
            chosen.insert(id);
        }
    }
    chosen
}

/// A function's instructions, and how many of them are sites inside a loop.
fn count(lf: &LocalFunction, plan: &Plan) -> (usize, usize) {
    let (mut size, mut in_loops) = (0, 0);
    let mut work = vec![(lf.entry_block(), false)];
    while let Some((seq, in_loop)) = work.pop() {
        for (instr, _) in &lf.block(seq).instrs {
            size += 1;
            if in_loop && plan.is_site(instr) {
                in_loops += 1;
            }
            let mut kids = Vec::new();
            crate::analysis::push_children(instr, &mut kids);
            let inner = in_loop || matches!(instr, Instr::Loop(_));
            work.extend(kids.into_iter().map(|k| (k, inner)));
        }
    }
    (size, in_loops)
}

/// Copies `code` (instructions of `src`) into `dst`, specialised to the normal state (see
/// the module docs); `map` gives each sequence of `src` that a branch may target its copy
/// (the caller seeds it with targets outside `code`, and reads it afterwards to find the
/// copies of the sequences it cares about).
pub(crate) fn copy_normal(
    src: &LocalFunction,
    code: &[(Instr, InstrLocId)],
    dst: &mut LocalFunction,
    map: &mut HashMap<InstrSeqId, InstrSeqId>,
    abi: &Abi,
) -> Code {
    let mut work = Vec::new();
    let out = copy_instrs(src, code, dst, map, abi, &mut work);
    // Children after their parents, so every branch's target is mapped when it is copied.
    while let Some((from, to)) = work.pop() {
        let instrs = copy_instrs(src, &src.block(from).instrs, dst, map, abi, &mut work);
        dst.block_mut(to).instrs = instrs;
    }
    out
}

fn copy_instrs(
    src: &LocalFunction,
    code: &[(Instr, InstrLocId)],
    dst: &mut LocalFunction,
    map: &mut HashMap<InstrSeqId, InstrSeqId>,
    abi: &Abi,
    work: &mut Vec<(InstrSeqId, InstrSeqId)>,
) -> Code {
    let mut out: Code = Vec::with_capacity(code.len());
    let mut new_seq =
        |seq: InstrSeqId, dst: &mut LocalFunction, map: &mut HashMap<InstrSeqId, InstrSeqId>| {
            let to = dst.builder_mut().dangling_instr_seq(src.block(seq).ty).id();
            map.insert(seq, to);
            work.push((seq, to));
            to
        };
    let target = |map: &HashMap<InstrSeqId, InstrSeqId>, seq: InstrSeqId| {
        *map.get(&seq)
            .expect("a branch targets a sequence around it, copied first")
    };
    for (i, (instr, loc)) in code.iter().enumerate() {
        let loc = *loc;
        let instr = match instr {
            Instr::GlobalGet(g) if g.global == abi.normal => i32c(1),
            Instr::GlobalGet(g) if g.global == abi.target => i32c(0),
            // The unwind check after a call keeps its read; nowhere else is the state other
            // than normal.
            Instr::GlobalGet(g)
                if g.global == abi.state
                    && !matches!(code.get(i + 1), Some((Instr::BrIf(_), _))) =>
            {
                i32c(0)
            }
            Instr::Binop(b) => match (b.op, trailing_const(&out, 1), trailing_const(&out, 0)) {
                (op, Some(x), Some(y)) if fold(op, x, y).is_some() => {
                    out.truncate(out.len() - 2);
                    i32c(fold(op, x, y).unwrap())
                }
                (BinaryOp::I32Or | BinaryOp::I32Sub, _, Some(0)) => {
                    out.pop();
                    continue;
                }
                _ => instr.clone(),
            },
            Instr::Unop(Unop {
                op: UnaryOp::I32Eqz,
            }) if trailing_const(&out, 0).is_some() => {
                let x = trailing_const(&out, 0).unwrap();
                out.pop();
                i32c((x == 0) as i32)
            }
            // `v1 v2 c select` with a known `c` and a `v2` that one pure instruction pushed.
            Instr::Select(_)
                if trailing_const(&out, 0).is_some_and(|c| c != 0)
                    && matches!(
                        out.len().checked_sub(2).map(|j| &out[j].0),
                        Some(Instr::LocalGet(_) | Instr::Const(_))
                    ) =>
            {
                out.truncate(out.len() - 2);
                continue;
            }
            Instr::IfElse(e) => match trailing_const(&out, 0) {
                Some(c) => {
                    out.pop();
                    let arm = if c != 0 { e.consequent } else { e.alternative };
                    let empty = src.block(arm).instrs.is_empty()
                        && matches!(src.block(arm).ty, InstrSeqType::Simple(None));
                    if empty {
                        continue;
                    }
                    Block {
                        seq: new_seq(arm, dst, map),
                    }
                    .into()
                }
                None => {
                    let consequent = new_seq(e.consequent, dst, map);
                    let alternative = new_seq(e.alternative, dst, map);
                    IfElse {
                        consequent,
                        alternative,
                    }
                    .into()
                }
            },
            Instr::Block(b) => Block {
                seq: new_seq(b.seq, dst, map),
            }
            .into(),
            Instr::Loop(l) => Loop {
                seq: new_seq(l.seq, dst, map),
            }
            .into(),
            Instr::Br(b) => Br {
                block: target(map, b.block),
            }
            .into(),
            Instr::BrIf(b) => match trailing_const(&out, 0) {
                Some(c) => {
                    out.pop();
                    if c == 0 {
                        continue;
                    }
                    Br {
                        block: target(map, b.block),
                    }
                    .into()
                }
                None => BrIf {
                    block: target(map, b.block),
                }
                .into(),
            },
            Instr::BrTable(t) => match trailing_const(&out, 0) {
                Some(c) => {
                    out.pop();
                    let to = usize::try_from(c)
                        .ok()
                        .and_then(|c| t.blocks.get(c))
                        .unwrap_or(&t.default);
                    Br {
                        block: target(map, *to),
                    }
                    .into()
                }
                None => BrTable {
                    blocks: t.blocks.iter().map(|b| target(map, *b)).collect(),
                    default: target(map, t.default),
                }
                .into(),
            },
            Instr::Try(_) | Instr::TryTable(_) => {
                unreachable!("functions with exception handling are not split")
            }
            _ => instr.clone(),
        };
        out.push((instr, loc));
    }
    out
}

/// The i32 constant `back` instructions before the end of `out`, if that is one.
fn trailing_const(out: &Code, back: usize) -> Option<i32> {
    let i = out.len().checked_sub(back + 1)?;
    match out[i].0 {
        Instr::Const(Const {
            value: Value::I32(v),
        }) => Some(v),
        _ => None,
    }
}

/// The comparisons and arithmetic the instrumentation computes on the state and the target.
fn fold(op: BinaryOp, x: i32, y: i32) -> Option<i32> {
    let (ux, uy) = (x as u32, y as u32);
    Some(match op {
        BinaryOp::I32Eq => (x == y) as i32,
        BinaryOp::I32Ne => (x != y) as i32,
        BinaryOp::I32LeU => (ux <= uy) as i32,
        BinaryOp::I32GeU => (ux >= uy) as i32,
        BinaryOp::I32LtU => (ux < uy) as i32,
        BinaryOp::I32GtU => (ux > uy) as i32,
        BinaryOp::I32Sub => x.wrapping_sub(y),
        BinaryOp::I32Or => x | y,
        BinaryOp::I32And => x & y,
        _ => return None,
    })
}

/// Starts the normal body with its entry: a rewind (the only way in while the state is not
/// normal) goes to the rewind copy `copy`, with the parameters.
pub(crate) fn enter_copy(lf: &mut LocalFunction, state: GlobalId, copy: FunctionId) {
    let mut go: Code = lf.args.iter().map(|a| at(LocalGet { local: *a })).collect();
    go.push(at(Call { func: copy }));
    go.push(at(Return {}));
    let mut instrs = vec![at(GlobalGet { global: state }), at(super::if_then(lf, go))];
    let entry = lf.entry_block();
    instrs.append(&mut lf.block_mut(entry).instrs);
    lf.block_mut(entry).instrs = instrs;
}

/// Points the direct calls of split functions in the bodies that can rewind (`bodies`: rewind
/// copies and unsplit instrumented functions) at the rewind copy while rewinding:
///
/// ```text
/// <operands>; local.set ... ;; MVP blocks take no parameters
/// global.get $normal
/// if (result ...) { local.get ...; call $f } else { local.get ...; call $f$rewind }
/// ```
///
/// Otherwise a rewind enters `$f`'s normal body, whose frame (the engine reserves all of it
/// in the prologue) then stays under the copy's: two frames per paused level to rewind
/// against one to run (`docs/transform.md`, "A rewinding caller calls the copy"). Calls by
/// the host and indirect calls still go through the normal body's entry.
pub(crate) fn call_copies_directly(
    module: &mut Module,
    bodies: &[FunctionId],
    copy_of: &HashMap<FunctionId, FunctionId>,
    normal: GlobalId,
) {
    // Each split function's copy, parameter types and result block type.
    let mut callees = HashMap::new();
    for (&f, &copy) in copy_of {
        let ty = module.types.get(module.funcs.get(f).ty());
        let (params, results) = (ty.params().to_vec(), ty.results().to_vec());
        let block = InstrSeqType::new(&mut module.types, &[], &results);
        callees.insert(f, (copy, params, block));
    }
    // What each split function reaches by direct calls: a call of `f` from a body that `f`
    // does not reach occurs at most once per paused stack (it enters `f`'s recursion), so
    // its extra frame is bounded and it keeps its plain call.
    let mut direct: HashMap<FunctionId, Vec<FunctionId>> = HashMap::new();
    for (id, lf) in module.funcs.iter_local() {
        let out = direct.entry(id).or_default();
        crate::analysis::for_each_instr(lf, |i| match i {
            Instr::Call(c) => out.push(c.func),
            Instr::ReturnCall(c) => out.push(c.func),
            _ => {}
        });
    }
    let reach: HashMap<FunctionId, HashSet<FunctionId>> = (copy_of.keys())
        .map(|&f| {
            let mut seen = HashSet::new();
            let mut work = vec![f];
            while let Some(x) = work.pop() {
                for &y in direct.get(&x).into_iter().flatten() {
                    if seen.insert(y) {
                        work.push(y);
                    }
                }
            }
            (f, seen)
        })
        .collect();
    let Module { funcs, locals, .. } = module;
    for &g in bodies {
        let FunctionKind::Local(lf) = &mut funcs.get_mut(g).kind else {
            continue;
        };
        // One temporary local per parameter position and type, shared by the calls.
        let mut temps: HashMap<(usize, ValType), LocalId> = HashMap::new();
        let mut stack = vec![lf.entry_block()];
        while let Some(seq) = stack.pop() {
            let code = std::mem::take(&mut lf.block_mut(seq).instrs);
            let mut out: Code = Vec::with_capacity(code.len());
            for (instr, loc) in code {
                crate::analysis::push_children(&instr, &mut stack);
                let callee = match &instr {
                    Instr::Call(c) => callees.get(&c.func).map(|x| (c.func, x)),
                    _ => None,
                };
                let Some((f, (copy, params, block))) = callee else {
                    out.push((instr, loc));
                    continue;
                };
                if !reach[&f].contains(&g) {
                    out.push((instr, loc));
                    continue;
                }
                // The operands: the instructions that push them when each pushes one and
                // reads nothing a call could change, else temporaries.
                let n = params.len();
                let pure = out.len() >= n
                    && out[out.len() - n..]
                        .iter()
                        .all(|(i, _)| matches!(i, Instr::LocalGet(_) | Instr::Const(_)));
                let args: Code = if pure {
                    out.split_off(out.len() - n)
                } else {
                    let temps: Vec<LocalId> = (params.iter().enumerate())
                        .map(|(j, t)| *temps.entry((j, *t)).or_insert_with(|| locals.add(*t)))
                        .collect();
                    out.extend(temps.iter().rev().map(|a| at(LocalSet { local: *a })));
                    temps.iter().map(|a| at(LocalGet { local: *a })).collect()
                };
                out.push(at(GlobalGet { global: normal }));
                let mut arm = |func: FunctionId| {
                    let mut code = args.clone();
                    code.push((Call { func }.into(), loc));
                    let id = lf.builder_mut().dangling_instr_seq(*block).id();
                    lf.block_mut(id).instrs = code;
                    id
                };
                let consequent = arm(f);
                let alternative = arm(*copy);
                out.push((
                    IfElse {
                        consequent,
                        alternative,
                    }
                    .into(),
                    loc,
                ));
            }
            lf.block_mut(seq).instrs = out;
        }
    }
}
