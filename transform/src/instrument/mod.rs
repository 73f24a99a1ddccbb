//! Instrumentation of one function that can change state.
//!
//! The finished function has this shape (`K` is the index of the site that paused):
//!
//! ```text
//! if (state == rewinding) {
//!   target = top frame's index K (read from the frame itself when its size is fixed)
//!   <restore: pop the frame, load the locals of K's live set>  ;; or at the site K itself,
//! }                                                           ;; see `restores_at_sites`
//! block $done
//!   block $save_{m-1}                 ;; one block per distinct set of live locals
//!     ...
//!       block $save_0 (result i32)
//!         <body, rewritten by `flow`> ;; a site that unwinds does `br_if $save_j` (its set),
//!         return                      ;; carrying its index K
//!       end
//!       <save code of set 0, K on the stack>; br $done
//!     ...
//!   end
//!   <save code of set m-1>
//! end
//! <save code shared by the sets, if any>  ;; see `frame`
//! <zero results>                          ;; returned while unwinding
//! ```
//!
//! Each path from a site to the save code reads only the locals that site saves, so the
//! engine's register allocator sees the same live ranges as in the original function plus
//! the values a pause really needs. Two earlier shapes did not, and cost up to 2.5x in hot
//! loops at equal fuel in wasmtime: the save code at the function's top inside a loop around
//! the whole body (one `br_table` shared by save and restore), and a single unwind target
//! with a `br_table` on the site index (every set's locals looked live at every site).
//!
//! A function that gets a *rewind copy* (`split`) moves this body to a new function, which
//! only a rewind enters, and keeps the same body specialised to the normal state (no
//! guards, site tests or restores): `if (state) return copy(params)`, then the body.
//!
//! Sites with the same live locals share their save code (and their restore code, when the
//! entry restores); `frame` decides how
//! sets share code with each other, and `save` how functions do (a save is a call of a helper
//! shared by the frames of its kind, where that makes the module smaller). The allocation
//! code checks the end of the asyncify stack before anything is written.

mod flow;
mod frame;
mod ops;
mod save;
mod skip;
mod split;
mod stack;

use std::collections::{HashMap, HashSet};

use walrus::ir::*;
use walrus::{FunctionId, FunctionKind, LocalFunction, LocalId, Module, ValType};

use crate::analysis::callgraph::Plan;
use crate::analysis::liveness::{around_guards, coalesce, live, split_webs, AroundGuards, Scope};
use crate::runtime::{Runtime, Used};
use crate::Error;

type Code = Vec<(Instr, InstrLocId)>;

/// Instruments every function the plan names; returns which runtime helpers they call.
///
/// `force_sites`: where every function's rewind restores its locals (`Options::restore_at_sites`);
/// `None` picks per function.
///
/// `force_copy`: whether functions get a rewind copy (`Options::rewind_copy`); `None` picks per
/// function.
pub(crate) fn run(
    module: &mut Module,
    plan: &Plan,
    rt: &Runtime,
    force_sites: Option<bool>,
    force_copy: Option<bool>,
) -> Result<Used, Error> {
    let mut used = Used::default();
    let copies = match force_copy {
        None => split::choose(module, plan),
        Some(_) => HashSet::new(),
    };
    let mut cx = Cx {
        plan,
        rt,
        force_sites,
        force_copy,
        copies,
        helpers: save::SaveHelpers::default(),
        copy_of: HashMap::new(),
        bodies: Vec::new(),
    };
    for &fid in &plan.instrument {
        if let Some(top_index) = instrument_function(module, &mut cx, fid)? {
            used.frames = true;
            used.top_index |= top_index;
        }
    }
    split::call_copies_directly(module, &cx.bodies, &cx.copy_of, rt.abi.normal);
    used.alloc = cx.helpers.finish(module, rt);
    Ok(used)
}

/// What instrumenting every function shares.
struct Cx<'a> {
    plan: &'a Plan,
    rt: &'a Runtime,
    force_sites: Option<bool>,
    force_copy: Option<bool>,
    /// The functions that get a rewind copy, when `force_copy` is `None`.
    copies: HashSet<FunctionId>,
    helpers: save::SaveHelpers,
    /// Each split function's rewind copy.
    copy_of: HashMap<FunctionId, FunctionId>,
    /// The instrumented bodies that can rewind: rewind copies and unsplit functions.
    bodies: Vec<FunctionId>,
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

fn i32c(v: i32) -> Instr {
    Const {
        value: Value::I32(v),
    }
    .into()
}

fn instrument_function(
    module: &mut Module,
    cx: &mut Cx,
    fid: FunctionId,
) -> Result<Option<bool>, Error> {
    let name = func_name(module, fid);
    let ty = module.funcs.get(fid).ty();
    let kind = std::mem::replace(
        &mut module.funcs.get_mut(fid).kind,
        FunctionKind::Uninitialized(ty),
    );
    let FunctionKind::Local(mut lf) = kind else {
        unreachable!("only local functions are instrumented")
    };
    let result = instrument_local(module, cx, fid, &name, &mut lf);
    let Ok(Some(done)) = result else {
        module.funcs.get_mut(fid).kind = FunctionKind::Local(lf);
        return result.map(|_| None);
    };
    let (c, p) = done.locals;
    cx.helpers.caller(fid, c, p);
    match done.normal {
        None => {
            module.funcs.get_mut(fid).kind = FunctionKind::Local(lf);
            cx.bodies.push(fid);
        }
        Some(mut normal) => {
            // The instrumented body becomes the rewind copy; `fid` keeps its index (calls,
            // exports and tables reach it) with the normal body, whose entry calls the copy.
            let copy = module.funcs.add_local(lf);
            module.funcs.get_mut(copy).name = Some(format!("{name}$rewind"));
            split::enter_copy(&mut normal, cx.rt.abi.state, copy);
            module.funcs.get_mut(fid).kind = FunctionKind::Local(normal);
            cx.helpers.caller(copy, c, p);
            cx.copy_of.insert(fid, copy);
            cx.bodies.push(copy);
        }
    }
    Ok(Some(done.top_index))
}

/// An instrumented function.
struct Done {
    /// Whether its rewind reads the top frame's index with the helper.
    top_index: bool,
    /// Its frame index and address locals.
    locals: (LocalId, LocalId),
    /// Its normal body, when it is split (`split`), without the entry that sends a rewind to
    /// the rewind copy (`split::enter_copy`, once the copy has its index).
    normal: Option<LocalFunction>,
}

/// Instruments `lf`, the body of `fid` (`None`: nothing in it can unwind).
fn instrument_local(
    module: &mut Module,
    cx: &mut Cx,
    fid: FunctionId,
    name: &str,
    lf: &mut LocalFunction,
) -> Result<Option<Done>, Error> {
    let (plan, rt, force_sites, force_copy) = (cx.plan, cx.rt, cx.force_sites, cx.force_copy);
    let same_args = plan.same_args.contains(&fid);
    let helpers = &mut cx.helpers;
    let is_site = |i: &Instr| plan.is_site(i);
    let (loops, has_site, has_try) = scan(lf, &is_site);
    let leaf_loop = loops.iter().any(|l| !has_site.contains(l));
    // Whether the function gets a rewind copy (`split`): where the transform picks, not if
    // it restores at its sites (decided below). A copy cannot hold exception handling.
    let copy = force_copy.unwrap_or_else(|| cx.copies.contains(&fid)) && !has_try;
    if !has_site.contains(&lf.entry_block()) {
        return Ok(None); // listed, but nothing in it can unwind
    }
    let fn_results = module.types.results(lf.ty()).to_vec();
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
        normal: rt.abi.normal,
        target: rt.abi.target,
        placeholder,
        loops,
        has_site,
        sites: Vec::new(),
        guards: HashSet::new(),
        input_temps: Vec::new(),
    };
    flow.run()?;
    let sites = std::mem::take(&mut flow.sites);
    let mut guards = std::mem::take(&mut flow.guards);
    drop(flow);

    let site_map: HashMap<InstrSeqId, u32> = sites
        .iter()
        .enumerate()
        .map(|(k, seq)| (*seq, k as u32))
        .collect();
    let types = skip::Types {
        cx: stack::TypeCx {
            funcs: &module.funcs,
            globals: &module.globals,
            tables: &module.tables,
            memories: &module.memories,
        },
        types: &module.types,
        locals: &module.locals,
        fn_results: fn_results.len(),
    };
    let untested = skip::run(lf, &site_map, &mut guards, &rt.abi, &types);
    let own = [c, p];
    let scope = Scope {
        sites: &site_map,
        guards: &guards,
        ignored: &own,
        normal: rt.abi.normal,
    };
    // Each value gets a local of its own, then locals never live at once share one (see
    // `split_webs` and `coalesce`), before the live sets are taken.
    split_webs(lf, &mut module.locals, &scope);
    // A rewind re-enters a function that only instrumented functions call with the same
    // arguments (`Plan::same_args`): a parameter the body never writes then holds its value
    // again without a save, so nothing else may share its local.
    let unwritten: Vec<LocalId> = if same_args {
        let written = writes(lf, lf.entry_block());
        (lf.args.iter().copied())
            .filter(|a| !written.contains(a))
            .collect()
    } else {
        Vec::new()
    };
    let merged = coalesce(lf, &scope, &unwritten, |l| module.locals.get(l).ty());
    rename_locals(lf, &merged.into_iter().collect());
    let mut live = live(lf, &scope, sites.len());
    for set in &mut live {
        set.retain(|l| !unwritten.contains(l));
    }

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
    let frames = frame::Frames::choose(module, &sets, sites.len());
    let zeros: Vec<(Instr, InstrLocId)> = fn_results
        .iter()
        .map(|t| {
            zero(*t).map(at).ok_or_else(|| Error::Unsupported {
                function: name.to_string(),
                what: "a non-nullable reference result".into(),
            })
        })
        .collect::<Result<_, _>>()?;

    let at_sites = force_sites.unwrap_or_else(|| restores_at_sites(leaf_loop, &set_of_site, &sets));
    if !at_sites {
        skip::untest_sites(lf, &untested, rt.abi.target);
    }
    if at_sites {
        let around = around_guards(lf, &scope);
        zero_on_skip(lf, &module.locals, &guards, &around);
        for (k, seq) in sites.iter().enumerate() {
            let restore = frames.restore_one(rt, set_of_site[k], p);
            let mut arm = when_rewinding(lf, rt, restore);
            arm.append(&mut lf.block_mut(*seq).instrs);
            lf.block_mut(*seq).instrs = arm;
        }
    }
    // Sites branch to their set's save code (the shape in the module docs).
    let entry = lf.entry_block();
    let mut body = std::mem::take(&mut lf.block_mut(entry).instrs);
    body.push(at(Return {}));
    let copy = copy && (force_copy.is_some() || !at_sites);
    let mut normal = copy.then(|| {
        let (params, results) = {
            let t = module.types.get(lf.ty());
            (t.params().to_vec(), t.results().to_vec())
        };
        let mut normal = walrus::FunctionBuilder::new(&mut module.types, &params, &results)
            .local_func(lf.args.clone());
        let unwind = normal.builder_mut().dangling_instr_seq(None).id();
        // A branch to the function's own label returns, in either body.
        let mut map = HashMap::from([(placeholder, unwind), (entry, normal.entry_block())]);
        let code = split::copy_normal(lf, &body, &mut normal, &mut map, &rt.abi);
        (normal, code, map, unwind)
    });
    let arms = sites.iter().map(|s| Some(*s));
    let targets = point_unwinds(lf, arms, placeholder, &frames, &set_of_site);
    let saves = nest(lf, body, &targets, |j| {
        frames.save_set(module, helpers, rt, j, c)
    });
    // The normal body's sites branch to its own save blocks, with dummy values for what a
    // union frame does not save.
    let normal = normal.take().map(|(mut normal, code, map, unwind)| {
        let kills = frames.with_kills();
        // A site in an arm that a constant condition never takes has no copy.
        let arms = sites.iter().map(|s| map.get(s).copied());
        let targets = point_unwinds(&mut normal, arms, unwind, &kills, &set_of_site);
        let mut instrs = nest(&mut normal, code, &targets, |j| {
            kills.save_set(module, helpers, rt, j, c)
        });
        instrs.extend(kills.save_common(module, helpers, rt, c));
        instrs.extend(zeros.iter().cloned());
        let entry = normal.entry_block();
        normal.block_mut(entry).instrs = instrs;
        peephole(&mut normal, rt.abi.normal);
        normal
    });
    // The rewind reads the index of the site it is heading for, and restores the locals or
    // leaves that to the site.
    let read_index = if at_sites {
        vec![
            at(Call { func: rt.top_index }),
            at(GlobalSet {
                global: rt.abi.target,
            }),
        ]
    } else {
        frames.restore(lf, rt, &set_of_site, p)
    };
    let mut entry_instrs = when_rewinding(lf, rt, read_index);
    entry_instrs.extend(saves);
    entry_instrs.extend(frames.save_common(module, helpers, rt, c));
    entry_instrs.extend(zeros);
    lf.block_mut(entry).instrs = entry_instrs;
    peephole(lf, rt.abi.normal);
    Ok(Some(Done {
        top_index: at_sites || frames.reads_top_index(),
        locals: (c, p),
        normal,
    }))
}

/// Makes the save blocks (each one's result is the index of the site that branched to it) and
/// points each site's unwind branch, so far to `placeholder`, at its set's block. `arms`: each
/// site's arm, in site order (`None`: the site is not in this body).
fn point_unwinds(
    lf: &mut LocalFunction,
    arms: impl Iterator<Item = Option<InstrSeqId>>,
    placeholder: InstrSeqId,
    frames: &frame::Frames,
    set_of_site: &[usize],
) -> Vec<InstrSeqId> {
    let targets: Vec<InstrSeqId> = (0..frames.save_blocks())
        .map(|_| lf.builder_mut().dangling_instr_seq(ValType::I32).id())
        .collect();
    for (k, arm) in arms.enumerate() {
        let Some(arm) = arm else { continue };
        let unwind = (lf.block_mut(arm).instrs.iter_mut())
            .find(|(i, _)| matches!(i, Instr::BrIf(b) if b.block == placeholder))
            .expect("every site has its unwind branch");
        unwind.0 = BrIf {
            block: targets[frames.save_block(set_of_site[k])],
        }
        .into();
    }
    targets
}

/// How many more local loads restoring at every site may take than restoring once at the
/// entry (sites that share a live set each load it); see `restores_at_sites`.
const EXTRA_LOADS: usize = 16;

/// Whether a rewind restores a function's locals at the site it heads for.
///
/// At the function's entry (one copy of the loads, Binaryen's shape too), unless the function
/// has a loop without a site (a hot inner loop) and restoring at each site costs at most
/// `EXTRA_LOADS` more loads: then the site the rewind heads for restores its own locals, and
/// every `if` the rewind skips gives the locals its code writes a zero on the skipping path
/// (`zero_on_skip`). Why: a value restored at the entry reaches its site, in the engine's view,
/// along every path that skips code, so it and every value that shares its local are live
/// through the loops in between and across their calls; Cranelift then keeps loop values in
/// memory. Measured (`examples/time`, worst mode, ratio to normal, entry / here): copy 1.16
/// / 0.96, base64 1.26 / 1.09, fasta 1.09 / 1.03; SQLite, QuickJS and Lua within the noise;
/// modules 1.4% larger (2-4% for the big three). Restoring at the sites everywhere cost
/// 35-60% in size and slowed SQLite's interpreter (`docs/transform.md` has the table).
fn restores_at_sites(leaf_loop: bool, set_of_site: &[usize], sets: &[Vec<LocalId>]) -> bool {
    let loads: usize = set_of_site.iter().map(|j| sets[*j].len()).sum();
    let once: usize = sets.iter().map(|s| s.len()).sum();
    leaf_loop && loads <= once + EXTRA_LOADS
}

/// `if (state) code`: rewinding, where it is used. Both places (a function's entry, the start
/// of a site's arm) run only in the normal or the rewinding state: nothing is called while
/// the stack unwinds, so no code runs between an unwind's start and the return of the call
/// that started it. One global read instead of `state == 2` saves 3 bytes a function.
fn when_rewinding(lf: &mut LocalFunction, rt: &Runtime, code: Vec<(Instr, InstrLocId)>) -> Code {
    vec![
        at(GlobalGet {
            global: rt.abi.state,
        }),
        at(if_then(lf, code)),
    ]
}

/// In the `else` arm of every `if` a rewind passes over (a guard, or a site before the one it
/// heads for), sets to zero each local that the `then` arm writes, that is live after the
/// `if` and that was not live before it. Only a rewind runs those arms, and the site it heads
/// for restores what it needs, so the values do not matter; what matters is that the engine
/// sees them written there. Without it, a value from before the `if` flows around the
/// skipped code to every later use, and a value restored for one site, or left by the
/// previous iteration of a loop, stays live through whole loops and across every call in
/// between (the register allocator spills them). A local live before the `if` is live there
/// in the engine's view anyway, so zeroing it would only cost code.
fn zero_on_skip(
    lf: &mut LocalFunction,
    locals: &walrus::ModuleLocals,
    guards: &HashSet<InstrSeqId>,
    around: &AroundGuards,
) {
    let mut arms = Vec::new();
    let mut work = vec![lf.entry_block()];
    while let Some(seq) = work.pop() {
        for (instr, _) in &lf.block(seq).instrs {
            crate::analysis::push_children(instr, &mut work);
            if let Instr::IfElse(e) = instr {
                if guards.contains(&e.consequent) {
                    arms.push((e.consequent, e.alternative));
                }
            }
        }
    }
    for (then, els) in arms {
        let (Some(after), Some(before)) = (around.after.get(&then), around.before.get(&then))
        else {
            continue;
        };
        let written = writes(lf, then);
        let dead: Vec<(LocalId, ValType)> = after
            .iter()
            .filter(|l| written.contains(l) && !before.contains(l))
            .map(|l| (*l, locals.get(*l).ty()))
            .collect();
        let mut code = zeroes(&dead);
        code.append(&mut lf.block_mut(els).instrs);
        lf.block_mut(els).instrs = code;
    }
}

/// The locals written anywhere in `seq`.
fn writes(lf: &LocalFunction, seq: InstrSeqId) -> HashSet<LocalId> {
    let mut out = HashSet::new();
    let mut work = vec![seq];
    while let Some(seq) = work.pop() {
        for (instr, _) in &lf.block(seq).instrs {
            crate::analysis::push_children(instr, &mut work);
            if let Instr::LocalSet(LocalSet { local }) | Instr::LocalTee(LocalTee { local }) = instr
            {
                out.insert(*local);
            }
        }
    }
    out
}

/// Sets the locals to zero, one constant per type: `const; local.tee a; local.tee b; local.set
/// c`. Locals of a type without a zero (non-nullable references) are left alone.
pub(crate) fn zeroes(locals: &[(LocalId, ValType)]) -> Code {
    let mut by_type: Vec<(ValType, Vec<LocalId>)> = Vec::new();
    for (l, t) in locals {
        match by_type.iter_mut().find(|(ty, _)| ty == t) {
            Some((_, ls)) => ls.push(*l),
            None => by_type.push((*t, vec![*l])),
        }
    }
    let mut v = Vec::new();
    for (t, ls) in by_type {
        let Some(z) = zero(t) else { continue };
        v.push(at(z));
        let (last, rest) = ls.split_last().expect("at least one local");
        v.extend(rest.iter().map(|l| at(LocalTee { local: *l })));
        v.push(at(LocalSet { local: *last }));
    }
    v
}

/// Replaces every access to a key of `map` by one to its value.
fn rename_locals(lf: &mut LocalFunction, map: &HashMap<LocalId, LocalId>) {
    if map.is_empty() {
        return;
    }
    let mut work = vec![lf.entry_block()];
    while let Some(seq) = work.pop() {
        for (instr, _) in lf.block_mut(seq).instrs.iter_mut() {
            crate::analysis::push_children(instr, &mut work);
            let local = match instr {
                Instr::LocalGet(LocalGet { local })
                | Instr::LocalSet(LocalSet { local })
                | Instr::LocalTee(LocalTee { local }) => local,
                _ => continue,
            };
            if let Some(to) = map.get(local) {
                *local = *to;
            }
        }
    }
}

/// Small rewrites over the finished function, children before parents (so a guard sees its
/// arms already cleaned):
/// - `local.set x; local.get x` becomes `local.tee x` (our spills and frame code make the pair);
/// - `local.get x; local.set x` goes, and `local.get x; local.tee x` becomes `local.get x`:
///   a value kept below a call in a temp that merging made the same local as its source;
/// - a guard left empty by that (`global.get $normal; if end`) goes.
fn peephole(lf: &mut LocalFunction, normal: walrus::GlobalId) {
    let mut order = Vec::new();
    // Blocks that something branches to (exception handling may target any block).
    let mut targets = HashSet::new();
    let mut opaque = false;
    let mut work = vec![lf.entry_block()];
    while let Some(seq) = work.pop() {
        order.push(seq);
        for (instr, _) in &lf.block(seq).instrs {
            crate::analysis::push_children(instr, &mut work);
            match instr {
                Instr::Br(b) => _ = targets.insert(b.block),
                Instr::BrIf(b) => _ = targets.insert(b.block),
                Instr::BrTable(b) => targets.extend(b.blocks.iter().chain([&b.default])),
                Instr::Try(_) | Instr::TryTable(_) => opaque = true,
                _ => {}
            }
        }
    }
    // A block nothing branches to is its code alone (guards no rewind reaches and sites no
    // rewind passes over become such blocks): 3 bytes each.
    let inline = |seq: InstrSeqId, lf: &LocalFunction| {
        !opaque && !targets.contains(&seq) && matches!(lf.block(seq).ty, InstrSeqType::Simple(_))
    };
    for seq in order.into_iter().rev() {
        let instrs = std::mem::take(&mut lf.block_mut(seq).instrs);
        let mut out: Vec<(Instr, InstrLocId)> = Vec::with_capacity(instrs.len());
        for (instr, loc) in instrs {
            match (&instr, out.last()) {
                (Instr::LocalGet(g), Some((Instr::LocalSet(s), _))) if g.local == s.local => {
                    let local = s.local;
                    out.last_mut().unwrap().0 = LocalTee { local }.into();
                    continue;
                }
                (Instr::LocalSet(s), Some((Instr::LocalGet(g), _))) if g.local == s.local => {
                    out.pop();
                    continue;
                }
                (Instr::LocalTee(t), Some((Instr::LocalGet(g), _))) if g.local == t.local => {
                    continue;
                }
                (Instr::IfElse(e), _) if is_empty_guard(lf, e, &out, normal) => {
                    out.pop();
                    continue;
                }
                (Instr::Block(b), _) if inline(b.seq, lf) => {
                    out.append(&mut lf.block_mut(b.seq).instrs);
                    continue;
                }
                _ => {}
            }
            out.push((instr, loc));
        }
        lf.block_mut(seq).instrs = out;
    }
}

/// `global.get $normal; if` with two empty arms and no results.
fn is_empty_guard(
    lf: &LocalFunction,
    e: &IfElse,
    before: &[(Instr, InstrLocId)],
    normal: walrus::GlobalId,
) -> bool {
    let empty = |s: InstrSeqId| {
        let b = lf.block(s);
        b.instrs.is_empty() && matches!(b.ty, InstrSeqType::Simple(None))
    };
    empty(e.consequent)
        && empty(e.alternative)
        && crate::analysis::ends_with_normal_test(before, normal)
}

/// `innermost` inside one block per target, with `after(j)` following block `targets[j]` and,
/// but for the last, a branch out of the whole nest:
///
/// ```text
/// block $done
///   block $t_{n-1} ... block $t_0 <innermost> end <after 0> br $done ... end
///   <after n-1>
/// end
/// ```
///
/// (no `$done` with a single target).
pub(crate) fn nest(
    lf: &mut LocalFunction,
    innermost: Vec<(Instr, InstrLocId)>,
    targets: &[InstrSeqId],
    mut after: impl FnMut(usize) -> Vec<(Instr, InstrLocId)>,
) -> Vec<(Instr, InstrLocId)> {
    let n = targets.len();
    let done = (n > 1).then(|| lf.builder_mut().dangling_instr_seq(None).id());
    let mut inner = innermost;
    for (j, target) in targets.iter().enumerate() {
        lf.block_mut(*target).instrs = inner;
        inner = vec![at(Block { seq: *target })];
        inner.extend(after(j));
        if let Some(done) = done.filter(|_| j + 1 < n) {
            inner.push(at(Br { block: done }));
        }
    }
    match done {
        Some(done) => {
            lf.block_mut(done).instrs = inner;
            vec![at(Block { seq: done })]
        }
        None => inner,
    }
}

/// `if <code> end` with an empty else (dropped when encoding).
pub(crate) fn if_then(lf: &mut LocalFunction, code: Vec<(Instr, InstrLocId)>) -> Instr {
    let then = lf.builder_mut().dangling_instr_seq(None).id();
    lf.block_mut(then).instrs = code;
    let els = lf.builder_mut().dangling_instr_seq(None).id();
    IfElse {
        consequent: then,
        alternative: els,
    }
    .into()
}

/// Loops (branches to them go backward), the sequences that contain a site, and whether there
/// is exception handling.
fn scan(
    lf: &LocalFunction,
    is_site: &dyn Fn(&Instr) -> bool,
) -> (HashSet<InstrSeqId>, HashSet<InstrSeqId>, bool) {
    let mut loops = HashSet::new();
    let mut has_try = false;
    // Post-order over sequences: parent of each nested sequence, then propagate upward.
    let mut parent: HashMap<InstrSeqId, InstrSeqId> = HashMap::new();
    let mut direct: Vec<InstrSeqId> = Vec::new();
    let mut stack = vec![lf.entry_block()];
    while let Some(seq) = stack.pop() {
        for (instr, _) in lf.block(seq).instrs.iter() {
            if is_site(instr) {
                direct.push(seq);
            }
            match instr {
                Instr::Loop(l) => {
                    loops.insert(l.seq);
                }
                Instr::Try(_) | Instr::TryTable(_) => has_try = true,
                _ => {}
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
    (loops, has_site, has_try)
}
