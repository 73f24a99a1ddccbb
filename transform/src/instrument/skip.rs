//! Where a rewind can go, and the guards it never passes.
//!
//! While rewinding to site `T`, a function runs forward through its text: guards are passed
//! over (their `else` arm falls through), an `if` with sites takes the arm that holds `T`,
//! and nothing branches, until the call of `T`. So from a guard, the rewind falls through
//! everything after it; in an interpreter's dispatch (`block`s nested around a `br_table`,
//! one case after each `end`), it falls from each case into the next one. That fall-through
//! is a path the engine compiles: every case's start becomes a join of the dispatch and the
//! case before, and every local live in any later case is carried across every case boundary
//! (QuickJS's interpreter: 400 joins with some 67 block parameters each in Cranelift's input).
//!
//! Three rewrites, on the body as `flow` left it:
//! - **Dispatch for the rewind.** A guard whose code holds a `br_table` gets, in its `else`
//!   arm, a `br_table` on the rewind target: to the end of the outermost enclosing block
//!   after which `T` comes, so the rewind lands in `T`'s case (falling through only when `T`
//!   is before every enclosing block's end). A block with a result is reached through a small
//!   trampoline that pushes a zero: a block that holds sites hands its result on through
//!   `x = state == normal ? v : x` (`flow`), which a rewind passes over. The table keeps only
//!   the targets that reach its guard, so a dispatch inside one case of another does not
//!   branch to every later case.
//! - **A table lands as late as it can.** A target's case often starts with code that runs
//!   before its site (guards, earlier sites of the case, pure code); falling through it, the
//!   rewind carried the values the site needs around the code that defines them, so the
//!   case's start joined a normal path where those locals are dead with one where they are
//!   live. So the case's code before the instruction that holds the site is wrapped in a
//!   block of its own, ending at the latest point where the operand stack is as empty as at
//!   the case's start, and the table branches to that block's end
//!   (`land_after_prefixes`). Nothing skipped there does anything while rewinding, and the
//!   guards no rewind reaches any more become plain blocks (below): QuickJS's interpreter
//!   keeps 813 of its 1,514 guards and site tests.
//! - **What no rewind reaches runs as in the original.** A forward walk computes, at each
//!   guard, site and block result, the set of targets whose rewind gets there. Where that set
//!   is empty (after a case's last site, after a function's last site), only the normal state
//!   runs the code: the guard becomes a plain `block` (so the code after a case's last branch
//!   no longer falls into the next case; `peephole` later leaves its code alone, without
//!   the block), and the store of a block's result that a rewind
//!   would pass over (`x = state == normal ? v : x`) a plain `local.set`. A site that no
//!   rewind passes over (only the rewind to itself gets there) loses its `K >= target` test
//!   (`untest_sites`, in functions that restore at their entry). An `if` with sites in its
//!   `then` arm that every rewind reaching it enters (it holds the last sites of its case or
//!   function) picks its arm with `cond | state` (`global.get $state; i32.or`: the state is 2
//!   while rewinding, 0 in the normal state, and no code runs while unwinding) instead of
//!   `flow`'s range check on the target selected by `$normal`: 3 bytes instead of 8-11.
//!
//! The late landings (2026-12-03, `examples/time --size 2`, 7-11 repeats, one run): Lua 1.45x to 1.21x
//! (minimums 45.0 and 37.6 ms, normal 31.0), QuickJS 1.85x to 1.74x (minimums 60.8 and
//! 57.6 ms, normal 32.6), SQLite 1.55x to 1.52x (within the noise); every worst-mode module
//! of the quick suite 0.1-0.6% smaller.
//!
//! Measured (`examples/time --size 2`, worst mode, ratio to normal, before / after): SQLite
//! 2.04x / 1.48x, QuickJS 2.39x / 1.81x; the modules 0.1-0.3% smaller. The sites' tests and
//! the plain stores then took 1.8-1.9% off SQLite, QuickJS and Lua, 1.1% off the
//! micro-benchmarks, and SQLite to 1.43x (QuickJS and Lua within the noise). The
//! guard removal alone moved neither by more than the noise; the tables need it, and they
//! need the typed-block trampolines to cover QuickJS's dispatch (clang puts blocks with a
//! result among its cases' blocks), and the restriction to the targets that reach them (a
//! dispatch nested in a case, branching to every later case, undid SQLite's gain by half).

use std::collections::{HashMap, HashSet};

use walrus::ir::*;
use walrus::{GlobalId, LocalFunction};

use super::{at, Code};
use crate::analysis::{ends_with_normal_test, is_conditional_store, CONDITIONAL_STORE_LEN};
use crate::runtime::Abi;

/// What a branch to block `seq` carries: `Some(None)` nothing, `Some(Some(zero))` one value
/// (a zero of its type), `None` something a rewind cannot make up (several values, a
/// non-nullable reference).
fn branch_value(lf: &LocalFunction, seq: InstrSeqId) -> Option<Option<Instr>> {
    match lf.block(seq).ty {
        InstrSeqType::Simple(None) => Some(None),
        InstrSeqType::Simple(Some(t)) => super::zero(t).map(Some),
        InstrSeqType::MultiValue(_) => None,
    }
}

/// A set of site indices.
#[derive(Clone)]
struct Set(Vec<u64>);

impl Set {
    fn empty(n: usize) -> Set {
        Set(vec![0; n.div_ceil(64).max(1)])
    }
    /// The indices `from..to` (word by word: the walk takes one per site).
    fn range(n: usize, from: u32, to: u32) -> Set {
        let mut s = Set::empty(n);
        let to = to.min(n as u32);
        for (w, word) in s.0.iter_mut().enumerate() {
            let (lo, hi) = (w as u32 * 64, w as u32 * 64 + 64);
            let (a, b) = (from.clamp(lo, hi) - lo, to.clamp(lo, hi) - lo);
            if a < b {
                *word = (u64::MAX >> (64 - (b - a))) << a;
            }
        }
        s
    }
    fn insert(&mut self, t: u32) {
        self.0[t as usize / 64] |= 1 << (t % 64);
    }
    fn contains(&self, t: u32) -> bool {
        self.0[t as usize / 64] & (1 << (t % 64)) != 0
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    fn union(&mut self, o: &Set) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
    }
    fn intersect(&mut self, o: &Set) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
    }
    fn minus(&mut self, o: &Set) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= !b);
    }
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.0.len() as u32 * 64).filter(|t| self.contains(*t))
    }
}

/// A rewind's dispatch in a guard's `else` arm: target `T` goes to `labels[T - lo]`, or to
/// `default` outside `lo..lo + labels.len()`.
struct Table {
    lo: u32,
    labels: Vec<InstrSeqId>,
    default: InstrSeqId,
}

impl Table {
    fn label(&self, t: u32) -> InstrSeqId {
        (t.checked_sub(self.lo))
            .and_then(|i| self.labels.get(i as usize))
            .copied()
            .unwrap_or(self.default)
    }
}

/// What the first walk learns about the text.
#[derive(Default)]
struct Layout {
    /// Per block: how many sites come before its end.
    ends: HashMap<InstrSeqId, u32>,
    /// Per `if` with sites (keyed by its `then` arm): the first site of each arm and the one
    /// after the `if`.
    ifs: HashMap<InstrSeqId, (u32, u32, u32)>,
    /// Guards that hold a `br_table`, with the first site after them and the blocks around
    /// them (innermost first) that a branch from there may target.
    dispatches: Vec<(InstrSeqId, InstrSeqId, u32, Vec<InstrSeqId>)>,
}

struct Walk<'a> {
    lf: &'a LocalFunction,
    sites: &'a HashMap<InstrSeqId, u32>,
    guards: &'a HashSet<InstrSeqId>,
    normal: GlobalId,
    n: usize,
}

impl Walk<'_> {
    fn is_guard(&self, seq: InstrSeqId) -> bool {
        self.guards.contains(&seq) && !self.sites.contains_key(&seq)
    }

    /// Counts sites in textual order; `around` is the enclosing blocks a rewind may branch to
    /// (none past a loop or an `if`).
    fn layout(
        &self,
        seq: InstrSeqId,
        count: &mut u32,
        around: &mut Vec<InstrSeqId>,
        out: &mut Layout,
    ) {
        for (instr, _) in &self.lf.block(seq).instrs {
            match instr {
                Instr::IfElse(e) if self.sites.contains_key(&e.consequent) => *count += 1,
                Instr::IfElse(e) if self.is_guard(e.consequent) => {
                    let empty = |s: InstrSeqId| {
                        let b = self.lf.block(s);
                        b.instrs.is_empty() && matches!(b.ty, InstrSeqType::Simple(None))
                    };
                    if !around.is_empty()
                        && empty(e.alternative)
                        && self.holds_br_table(e.consequent)
                    {
                        let mut blocks = around.clone();
                        blocks.reverse();
                        out.dispatches
                            .push((e.consequent, e.alternative, *count, blocks));
                    }
                }
                Instr::IfElse(e) => {
                    let a = *count;
                    self.layout(e.consequent, count, &mut Vec::new(), out);
                    let m = *count;
                    self.layout(e.alternative, count, &mut Vec::new(), out);
                    out.ifs.insert(e.consequent, (a, m, *count));
                }
                Instr::Block(b) => {
                    // A branch from a rewind may carry a dummy result: a block with sites
                    // keeps a rewound-over result through `x = state == normal ? v : x`.
                    if branch_value(self.lf, b.seq).is_some() {
                        around.push(b.seq);
                        self.layout(b.seq, count, around, out);
                        around.pop();
                    } else {
                        self.layout(b.seq, count, &mut Vec::new(), out);
                    }
                    out.ends.insert(b.seq, *count);
                }
                Instr::Loop(l) => self.layout(l.seq, count, &mut Vec::new(), out),
                _ => {}
            }
        }
    }

    fn holds_br_table(&self, seq: InstrSeqId) -> bool {
        let mut work = vec![seq];
        while let Some(s) = work.pop() {
            for (instr, _) in &self.lf.block(s).instrs {
                if let Instr::BrTable(_) = instr {
                    return true;
                }
                crate::analysis::push_children(instr, &mut work);
            }
        }
        false
    }

    /// The targets whose rewind falls out of `seq`, given those that enter it (`r`); records
    /// the guards some rewind reaches, and the targets branching to each label.
    fn reach(&self, seq: InstrSeqId, mut r: Set, cx: &mut Reach) -> Set {
        let instrs = &self.lf.block(seq).instrs;
        for (i, (instr, _)) in instrs.iter().enumerate() {
            if r.is_empty() {
                break;
            }
            match instr {
                Instr::IfElse(e) if self.sites.contains_key(&e.consequent) => {
                    // Site K: the rewind to K stops here; the others pass over it.
                    let k = self.sites[&e.consequent];
                    r.minus(&Set::range(self.n, 0, k + 1));
                    if !r.is_empty() {
                        cx.passed.insert(e.consequent);
                    }
                }
                Instr::LocalGet(g) if is_conditional_store(instrs, i, g.local, self.normal) => {
                    cx.stores.insert((seq, i));
                }
                Instr::IfElse(e) if self.is_guard(e.consequent) => {
                    cx.reached.insert(e.consequent, r.clone());
                    if let Some(table) = cx.tables.get(&e.alternative) {
                        for t in r.iter() {
                            let l = table.label(t);
                            let s = cx.labels.entry(l).or_insert_with(|| Set::empty(self.n));
                            s.insert(t);
                        }
                        // Branches to the `else` arm itself land after the `if`.
                        r = cx
                            .labels
                            .remove(&e.alternative)
                            .unwrap_or_else(|| Set::empty(self.n));
                    } else {
                        r = self.reach(e.alternative, r, cx);
                    }
                }
                Instr::IfElse(e) => {
                    // The arm is picked by a range check on the target (`flow`); an `if`
                    // the first walk did not see is taken both ways.
                    let (mut t, mut f) = (r.clone(), r);
                    if let Some(&(a, m, b)) = cx.layout.ifs.get(&e.consequent) {
                        let then_range = if m > a {
                            Set::range(self.n, a, m)
                        } else {
                            let mut s = Set::range(self.n, 0, self.n as u32);
                            s.minus(&Set::range(self.n, m, b));
                            s
                        };
                        t.intersect(&then_range);
                        f.minus(&then_range);
                        if m > a && f.is_empty() {
                            cx.always_then.insert(e.consequent);
                        }
                    }
                    let mut out = self.reach(e.consequent, t, cx);
                    out.union(&self.reach(e.alternative, f, cx));
                    out.union(&cx.take(e.consequent, self.n));
                    out.union(&cx.take(e.alternative, self.n));
                    r = out;
                }
                Instr::Block(b) => {
                    r = self.reach(b.seq, r, cx);
                    r.union(&cx.take(b.seq, self.n));
                }
                Instr::Loop(l) => {
                    // A branch back to the loop (no rewind takes one today) would run the
                    // body again with fewer targets than the first time, then leave it.
                    r = self.reach(l.seq, r, cx);
                    r.union(&cx.take(l.seq, self.n));
                }
                // Branches outside guards (none run while rewinding today): followed, to be
                // safe.
                Instr::Br(b) => {
                    cx.add(b.block, &r, self.n);
                    r = Set::empty(self.n);
                }
                Instr::BrIf(b) => cx.add(b.block, &r, self.n),
                Instr::BrTable(t) => {
                    for l in t.blocks.iter().chain([&t.default]) {
                        cx.add(*l, &r, self.n);
                    }
                    r = Set::empty(self.n);
                }
                Instr::Return(_) | Instr::Unreachable(_) => r = Set::empty(self.n),
                _ => {}
            }
        }
        r
    }
}

struct Reach<'a> {
    layout: &'a Layout,
    tables: &'a HashMap<InstrSeqId, Table>,
    labels: HashMap<InstrSeqId, Set>,
    /// The guards some rewind reaches (by `then` arm), with the targets that do.
    reached: HashMap<InstrSeqId, Set>,
    /// The sites some rewind passes over (by `then` arm).
    passed: HashSet<InstrSeqId>,
    /// The conditional stores some rewind runs (sequence, position).
    stores: HashSet<(InstrSeqId, usize)>,
    /// The `if`s with sites in their `then` arm (by that arm) that every rewind reaching them
    /// enters.
    always_then: HashSet<InstrSeqId>,
}

impl Reach<'_> {
    fn add(&mut self, l: InstrSeqId, r: &Set, n: usize) {
        self.labels
            .entry(l)
            .or_insert_with(|| Set::empty(n))
            .union(r);
    }
    fn take(&mut self, l: InstrSeqId, n: usize) -> Set {
        self.labels.remove(&l).unwrap_or_else(|| Set::empty(n))
    }
}

/// Gives dispatch guards their rewind `br_table` and turns the guards no rewind reaches into
/// blocks (removing them from `guards`). `sites` maps each site's arm to its index.
pub(crate) fn run(
    lf: &mut LocalFunction,
    sites: &HashMap<InstrSeqId, u32>,
    guards: &mut HashSet<InstrSeqId>,
    abi: &Abi,
    types: &Types,
) -> HashSet<InstrSeqId> {
    let (state, target, normal) = (abi.state, abi.target, abi.normal);
    let n = sites.len();
    let entry = lf.entry_block();
    let mut layout = Layout::default();
    let walk = Walk {
        lf,
        sites,
        guards,
        normal,
        n,
    };
    walk.layout(entry, &mut 0, &mut Vec::new(), &mut layout);

    // The rewind's dispatch: each target to the outermost block it comes after.
    let mut tables = HashMap::new();
    for (_, alt, lo, blocks) in &layout.dispatches {
        let ends: Vec<u32> = blocks.iter().map(|b| layout.ends[b]).collect();
        let hi = *ends.last().expect("a dispatch guard has a block around it");
        let labels: Vec<InstrSeqId> = (*lo..hi)
            .map(|t| match ends.iter().rposition(|e| *e <= t) {
                Some(i) => blocks[i],
                None => *alt,
            })
            .collect();
        if labels.iter().any(|l| l != alt) {
            let default = *blocks.last().unwrap();
            tables.insert(
                *alt,
                Table {
                    lo: *lo,
                    labels,
                    default,
                },
            );
        }
    }
    land_after_prefixes(lf, sites, &mut tables, types);
    let walk = Walk {
        lf,
        sites,
        guards,
        normal,
        n,
    };
    let mut cx = Reach {
        layout: &layout,
        tables: &tables,
        labels: HashMap::new(),
        reached: HashMap::new(),
        passed: HashSet::new(),
        stores: HashSet::new(),
        always_then: HashSet::new(),
    };
    walk.reach(entry, Set::range(n, 0, n as u32), &mut cx);
    let Reach {
        reached,
        passed,
        stores,
        always_then,
        ..
    } = cx;

    // Each table keeps only the targets whose rewind reaches its guard: a dispatch inside
    // one case of another would otherwise branch to every later case, and make each case's
    // start a join again. The others fall through (none of them gets there).
    for (then, alt, _, _) in &layout.dispatches {
        let Some(table) = tables.get_mut(alt) else {
            continue;
        };
        let r = reached.get(then);
        let mut labels: Vec<InstrSeqId> = (0..table.labels.len() as u32)
            .map(|i| {
                let t = table.lo + i;
                match r {
                    Some(r) if r.contains(t) => table.labels[i as usize],
                    _ => *alt,
                }
            })
            .collect();
        while labels.last() == Some(alt) {
            labels.pop();
        }
        // Targets past the table's end come after every block around the guard.
        let past_end =
            r.is_some_and(|r| r.iter().any(|t| t >= table.lo + table.labels.len() as u32));
        table.default = if past_end { table.default } else { *alt };
        table.labels = labels;
        if table.labels.is_empty() && table.default == *alt {
            tables.remove(alt);
        }
    }

    for (alt, table) in &tables {
        let mut code: Code = vec![at(GlobalGet { global: target })];
        if table.lo != 0 {
            code.push(at(Const {
                value: Value::I32(table.lo as i32),
            }));
            code.push(at(Binop {
                op: BinaryOp::I32Sub,
            }));
        }
        // A block with a result is reached through a trampoline of its own, which pushes a
        // dummy value (`br_table`'s targets must all take the same values).
        let mut typed: Vec<(InstrSeqId, InstrSeqId)> = Vec::new();
        let mut via = |l: InstrSeqId, lf: &mut LocalFunction| -> InstrSeqId {
            if branch_value(lf, l).flatten().is_none() {
                return l;
            }
            if let Some((_, t)) = typed.iter().find(|(b, _)| *b == l) {
                return *t;
            }
            let t = lf.builder_mut().dangling_instr_seq(None).id();
            typed.push((l, t));
            t
        };
        let blocks: Vec<InstrSeqId> = table.labels.iter().map(|l| via(*l, lf)).collect();
        let default = via(table.default, lf);
        code.push(at(BrTable {
            blocks: blocks.into_boxed_slice(),
            default,
        }));
        for (block, tramp) in typed {
            lf.block_mut(tramp).instrs = code;
            let value = branch_value(lf, block).flatten().expect("a typed block");
            code = vec![at(Block { seq: tramp }), at(value), at(Br { block })];
        }
        lf.block_mut(*alt).instrs = code;
    }

    // What no rewind reaches runs only in the normal state: a guard becomes a block, and a
    // conditional store after a block (`x = state == normal ? v : x`) a plain one (the
    // sites' tests go in `untest_sites`, once the function's restore shape is known).
    let mut work = vec![entry];
    while let Some(seq) = work.pop() {
        let instrs = std::mem::take(&mut lf.block_mut(seq).instrs);
        // The `local.get x; global.get $normal; select` of each store no rewind runs.
        let dropped: HashSet<usize> = (0..instrs.len())
            .filter(|i| match &instrs[*i].0 {
                Instr::LocalGet(g) => {
                    is_conditional_store(&instrs, *i, g.local, normal)
                        && !stores.contains(&(seq, *i))
                }
                _ => false,
            })
            .flat_map(|i| i..i + CONDITIONAL_STORE_LEN - 1)
            .collect();
        let mut out: Code = Vec::with_capacity(instrs.len());
        for (i, (instr, loc)) in instrs.into_iter().enumerate() {
            crate::analysis::push_children(&instr, &mut work);
            if dropped.contains(&i) {
                continue;
            }
            match &instr {
                Instr::IfElse(e) if always_then.contains(&e.consequent) => {
                    if let Some(len) = arm_choice_len(&out, target, normal) {
                        out.truncate(out.len() - len);
                        out.push(at(GlobalGet { global: state }));
                        out.push(at(Binop {
                            op: BinaryOp::I32Or,
                        }));
                    }
                }
                Instr::IfElse(e)
                    if !sites.contains_key(&e.consequent)
                        && !reached.contains_key(&e.consequent) =>
                {
                    let checked = ends_with_normal_test(&out, normal);
                    if checked && guards.remove(&e.consequent) {
                        out.pop();
                        out.push((Block { seq: e.consequent }.into(), loc));
                        continue;
                    }
                }
                _ => {}
            }
            out.push((instr, loc));
        }
        lf.block_mut(seq).instrs = out;
    }
    (sites.keys())
        .filter(|k| !passed.contains(k))
        .copied()
        .collect()
}

/// The length of the arm choice that `flow` puts before an `if` with sites in its `then` arm,
/// at the end of `code`: `global.get $target`, a range check on it (`Flow::range_check`, at
/// most four instructions, none of them another `global.get $target`), then `global.get
/// $normal; select`.
fn arm_choice_len(code: &Code, target: GlobalId, normal: GlobalId) -> Option<usize> {
    let [.., (Instr::GlobalGet(n), _), (Instr::Select(_), _)] = code.as_slice() else {
        return None;
    };
    let check = &code[..code.len() - 2];
    let from = (check.iter())
        .rposition(|(i, _)| matches!(i, Instr::GlobalGet(g) if g.global == target))?;
    let len = code.len() - from;
    (n.global == normal && len <= 7).then_some(len)
}

/// What typing the operand stack needs (`land_after_prefixes`).
pub(crate) struct Types<'a> {
    pub cx: super::stack::TypeCx<'a>,
    pub types: &'a walrus::ModuleTypes,
    pub locals: &'a walrus::ModuleLocals,
    pub fn_results: usize,
}

/// Moves each rewind table's landing from the end of the block after which its target's
/// case starts to the latest point before the target where the operand stack is empty: the
/// case's code before it is wrapped in a new block, and the table branches to that block's
/// end. What a rewind would have passed over there (guards, earlier sites, pure code) does
/// nothing while rewinding, so skipping it changes nothing; but the landing now joins the
/// normal path where the locals the target needs are live in the normal state too.
fn land_after_prefixes(
    lf: &mut LocalFunction,
    sites: &HashMap<InstrSeqId, u32>,
    tables: &mut HashMap<InstrSeqId, Table>,
    ty: &Types,
) {
    if tables.is_empty() {
        return;
    }
    // Each sequence's parent and position there.
    let mut parent: HashMap<InstrSeqId, (InstrSeqId, usize)> = HashMap::new();
    let mut loops = HashSet::new();
    let mut work = vec![lf.entry_block()];
    while let Some(seq) = work.pop() {
        for (i, (instr, _)) in lf.block(seq).instrs.iter().enumerate() {
            if let Instr::Loop(l) = instr {
                loops.insert(l.seq);
            }
            let mut kids = Vec::new();
            crate::analysis::push_children(instr, &mut kids);
            for k in kids {
                parent.insert(k, (seq, i));
                work.push(k);
            }
        }
    }
    let site_seq: HashMap<u32, InstrSeqId> = sites.iter().map(|(s, k)| (*k, *s)).collect();
    // A position in the sequence of the block a table lands after, that table, a target.
    type At = (usize, InstrSeqId, u32);
    // Per block a table lands after (its sequence and position there): the position of the
    // instruction holding each target's site.
    let mut holds: HashMap<(InstrSeqId, usize), Vec<At>> = HashMap::new();
    for (alt, table) in tables.iter() {
        for (i, b) in table.labels.iter().enumerate() {
            let t = table.lo + i as u32;
            if b == alt {
                continue;
            }
            let (Some(&(s, j)), Some(&site)) = (parent.get(b), site_seq.get(&t)) else {
                continue;
            };
            let mut cur = site;
            while let Some(&(ps, i)) = parent.get(&cur) {
                if ps == s {
                    holds.entry((s, j)).or_default().push((i, *alt, t));
                    break;
                }
                cur = ps;
            }
        }
    }
    // The landing each target wants: the last empty-stack point before its instruction (one
    // scan of the case's code per block).
    let mut wants: HashMap<(InstrSeqId, usize), Vec<At>> = HashMap::new();
    for ((s, j), targets) in holds {
        let end = targets.iter().map(|(c, _, _)| *c).max().unwrap();
        let (empty, typed_to) = empty_stack_points(lf, s, j, end, &loops, ty);
        for (c, alt, t) in targets.into_iter().filter(|(c, _, _)| *c <= typed_to) {
            let before = &empty[..empty.partition_point(|p| *p <= c)];
            if let Some(&p) = before.last() {
                wants.entry((s, j)).or_default().push((p, alt, t));
            }
        }
    }
    let mut groups: Vec<_> = wants.into_iter().collect();
    // Later positions first, so earlier positions in the same sequence stay valid; a group
    // that would wrap a block wrapped already is left alone.
    groups.sort_by_key(|g| std::cmp::Reverse(g.0 .1));
    let mut first_wrapped: HashMap<InstrSeqId, usize> = HashMap::new();
    for ((s, j), mut landings) in groups {
        landings.sort_unstable_by_key(|(p, _, _)| *p);
        let last = landings.last().unwrap().0;
        if first_wrapped.get(&s).is_some_and(|w| *w < last) {
            continue;
        }
        first_wrapped.insert(s, j);
        // Nested blocks, the innermost ending at the first landing.
        let mut instrs = std::mem::take(&mut lf.block_mut(s).instrs);
        let tail = instrs.split_off(last);
        let mut prefix = instrs.split_off(j);
        let (mut inner, mut from): (Option<InstrSeqId>, usize) = (None, j);
        for (p, alt, t) in landings {
            if p > from {
                let n = lf.builder_mut().dangling_instr_seq(None).id();
                let mut code: Code = inner.map(|i| at(Block { seq: i })).into_iter().collect();
                code.extend(prefix.drain(..p - from));
                lf.block_mut(n).instrs = code;
                (inner, from) = (Some(n), p);
            }
            let table = tables.get_mut(&alt).unwrap();
            table.labels[(t - table.lo) as usize] = inner.unwrap();
        }
        instrs.push(at(Block {
            seq: inner.unwrap(),
        }));
        instrs.extend(tail);
        lf.block_mut(s).instrs = instrs;
    }
}

/// The positions in `j + 2..=end` of sequence `s` where the operand stack is as empty as
/// before position `j`, with every instruction from `j` on falling through (at `j + 1`, the
/// block at `j` is the landing already), in order; and how far the scan could type the code
/// (an instruction it cannot type ends it, and no landing may lie past that).
fn empty_stack_points(
    lf: &LocalFunction,
    s: InstrSeqId,
    j: usize,
    end: usize,
    loops: &HashSet<InstrSeqId>,
    ty: &Types,
) -> (Vec<usize>, usize) {
    let instrs = &lf.block(s).instrs;
    let mut stack: Vec<walrus::ValType> = Vec::new();
    let mut empty = Vec::new();
    for (i, (instr, _)) in instrs.iter().enumerate().take(end).skip(j) {
        let is_loop = |q| loops.contains(&q);
        let effect = (ty.cx).effect(
            ty.types,
            ty.locals,
            lf,
            &is_loop,
            ty.fn_results,
            instr,
            &stack,
        );
        let Ok(eff) = effect else {
            return (empty, i);
        };
        if eff.ends || eff.pops > stack.len() {
            break;
        }
        stack.truncate(stack.len() - eff.pops);
        stack.extend(eff.pushes);
        if stack.is_empty() && i > j {
            empty.push(i + 1);
        }
    }
    (empty, usize::MAX)
}

/// Drops the `K >= target` test of the sites `untested` (by `then` arm): only the rewind to
/// the site itself gets there, so the test always holds. Only in functions that restore at
/// their entry: linpack's main, which restores at its sites, ran 1.17x normal instead of
/// 0.96x in worst mode without the tests (`examples/time --size 16`, equal fuel). That may
/// be no more than this function's sensitivity to its shape: in list mode, three block
/// result stores made plain in it do the same (0.96x to 1.17x), and nothing else in the
/// suite moved. Not understood yet.
pub(crate) fn untest_sites(
    lf: &mut LocalFunction,
    untested: &HashSet<InstrSeqId>,
    target: GlobalId,
) {
    if untested.is_empty() {
        return;
    }
    crate::analysis::rewrite_seqs(lf, |out, instr, loc| {
        if let Instr::IfElse(e) = &instr {
            let tested = matches!(
                &out[..],
                [.., (Instr::Const(_), _), (Instr::GlobalGet(g), _), (Instr::Binop(Binop { op: BinaryOp::I32GeU }), _)]
                    if g.global == target
            );
            if tested && untested.contains(&e.consequent) {
                out.truncate(out.len() - 3);
                out.push((Block { seq: e.consequent }.into(), loc));
                return;
            }
        }
        out.push((instr, loc));
    });
}
