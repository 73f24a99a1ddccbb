//! Instruction-precise liveness of locals at each pause site.
//!
//! The structured body is lowered to a flat list of operations (uses, definitions, labels and
//! jumps), then a backward dataflow over that list is iterated until the sets at labels stop
//! changing (loops need one extra pass per nesting level). The result for a site is the set of
//! locals read by the call's operands, or on some path after the call returns before being
//! written: exactly what must survive an unwind at that call. The operands count because a
//! rewind calls the same callee again with the same operands (the rewind contract,
//! `docs/transform.md`).

use std::collections::{HashMap, HashSet};

use walrus::ir::{Instr, InstrSeqId, LocalGet, LocalSet, LocalTee};
use walrus::{GlobalId, LocalFunction, LocalId};

/// What the liveness of a rewritten body depends on besides the body: every analysis here
/// takes the function and one of these.
pub(crate) struct Scope<'a> {
    /// Site sequences (the `then` arm that holds the call) and the site's index.
    pub sites: &'a HashMap<InstrSeqId, u32>,
    /// `if`s whose `then` arm the normal state always takes.
    pub guards: &'a HashSet<InstrSeqId>,
    /// Locals left out of every set (the instrumentation's own).
    pub ignored: &'a [LocalId],
    /// The runtime's normal-state flag global (see `is_conditional_store`).
    pub normal: GlobalId,
}

enum Op {
    Use(u32),
    Def(u32),
    Site(u32),
    /// The start of a guard's `then` arm (index into `Lowering::entered`).
    Enter(u32),
    Label(u32),
    Jump(u32),
    CondJump(u32),
    Table(Box<[u32]>),
    Exit,
}

/// A label that nothing defines: branches to it leave the function (nothing is live).
const EXIT: u32 = u32::MAX;

struct Lowering<'a> {
    func: &'a LocalFunction,
    scope: &'a Scope<'a>,
    index: HashMap<LocalId, u32>,
    locals: Vec<LocalId>,
    ops: Vec<Op>,
    labels: HashMap<InstrSeqId, u32>,
    next_label: u32,
    /// The instruction behind each `Use` and `Def`, in the order of `ops`.
    places: Vec<(InstrSeqId, usize)>,
    /// Code the lowering does not look into (exception handling) is present.
    opaque: bool,
    /// The guards' `then` arms, in the order of their `Enter`.
    entered: Vec<InstrSeqId>,
}

impl Lowering<'_> {
    fn local(&mut self, id: LocalId) -> Option<u32> {
        if self.scope.ignored.contains(&id) {
            return None;
        }
        let next = self.locals.len() as u32;
        Some(*self.index.entry(id).or_insert_with(|| {
            self.locals.push(id);
            next
        }))
    }

    fn is_conditional_store(
        &self,
        instrs: &[(Instr, walrus::ir::InstrLocId)],
        i: usize,
        x: LocalId,
    ) -> bool {
        super::is_conditional_store(instrs, i, x, self.scope.normal)
    }

    fn label(&mut self) -> u32 {
        self.next_label += 1;
        self.next_label - 1
    }

    fn target(&self, seq: InstrSeqId) -> u32 {
        *self.labels.get(&seq).unwrap_or(&EXIT)
    }

    /// Lowers a sequence; iterative over nesting so deep code cannot overflow the stack.
    fn lower(&mut self, entry: InstrSeqId) {
        enum Work {
            Seq(InstrSeqId, usize),
            Op(Op),
        }
        let mut work = vec![Work::Seq(entry, 0)];
        while let Some(w) = work.pop() {
            let (seq, from) = match w {
                Work::Op(op) => {
                    self.ops.push(op);
                    continue;
                }
                Work::Seq(seq, from) => (seq, from),
            };
            let func = self.func;
            let instrs = &func.block(seq).instrs;
            for (i, (instr, _)) in instrs.iter().enumerate().skip(from) {
                // A site's sequence starts with the code that pushes the call's operands, which
                // runs again when the rewind re-enters the call: the site saves what is live
                // *before* that code, so the call is re-entered with identical operands.
                if i == 0 {
                    if let Some(&k) = self.scope.sites.get(&seq) {
                        self.ops.push(Op::Site(k));
                    }
                }
                let nested: Vec<Work> = match instr {
                    // `x = state == normal ? v : x` (a store that a rewind passes over) reads
                    // the old `x` only while rewinding to a later site, where `x` has just been
                    // restored if it is live there: it is a definition, not a use.
                    Instr::LocalGet(g) if self.is_conditional_store(instrs, i, g.local) => {
                        Vec::new()
                    }
                    Instr::LocalGet(g) => {
                        if let Some(x) = self.local(g.local) {
                            self.ops.push(Op::Use(x));
                            self.places.push((seq, i));
                        }
                        Vec::new()
                    }
                    Instr::LocalSet(LocalSet { local }) | Instr::LocalTee(LocalTee { local }) => {
                        if let Some(x) = self.local(*local) {
                            self.ops.push(Op::Def(x));
                            self.places.push((seq, i));
                        }
                        Vec::new()
                    }
                    Instr::Block(b) => {
                        let end = self.label();
                        self.labels.insert(b.seq, end);
                        vec![Work::Seq(b.seq, 0), Work::Op(Op::Label(end))]
                    }
                    Instr::Loop(l) => {
                        let start = self.label();
                        self.labels.insert(l.seq, start);
                        vec![Work::Op(Op::Label(start)), Work::Seq(l.seq, 0)]
                    }
                    Instr::IfElse(e) if self.scope.guards.contains(&e.consequent) => {
                        let end = self.label();
                        self.labels.insert(e.consequent, end);
                        self.labels.insert(e.alternative, end);
                        self.entered.push(e.consequent);
                        let k = self.entered.len() as u32 - 1;
                        vec![
                            Work::Op(Op::Enter(k)),
                            Work::Seq(e.consequent, 0),
                            Work::Op(Op::Label(end)),
                        ]
                    }
                    Instr::IfElse(e) => {
                        let (els, end) = (self.label(), self.label());
                        self.labels.insert(e.consequent, end);
                        self.labels.insert(e.alternative, end);
                        vec![
                            Work::Op(Op::CondJump(els)),
                            Work::Seq(e.consequent, 0),
                            Work::Op(Op::Jump(end)),
                            Work::Op(Op::Label(els)),
                            Work::Seq(e.alternative, 0),
                            Work::Op(Op::Label(end)),
                        ]
                    }
                    Instr::Br(b) => {
                        self.ops.push(Op::Jump(self.target(b.block)));
                        Vec::new()
                    }
                    Instr::BrIf(b) => {
                        self.ops.push(Op::CondJump(self.target(b.block)));
                        Vec::new()
                    }
                    Instr::BrTable(t) => {
                        let mut ls: Vec<u32> = t.blocks.iter().map(|b| self.target(*b)).collect();
                        ls.push(self.target(t.default));
                        self.ops.push(Op::Table(ls.into_boxed_slice()));
                        Vec::new()
                    }
                    Instr::Return(_) | Instr::Unreachable(_) => {
                        self.ops.push(Op::Exit);
                        Vec::new()
                    }
                    Instr::Try(_) | Instr::TryTable(_) => {
                        self.opaque = true;
                        Vec::new()
                    }
                    _ => Vec::new(),
                };
                if !nested.is_empty() {
                    // The rest of this sequence waits until the nested code is lowered.
                    work.push(Work::Seq(seq, i + 1));
                    work.extend(nested.into_iter().rev());
                    break;
                }
            }
        }
    }
}

/// The lowered function with its labels' live sets at the fixpoint.
struct Solved<'a> {
    l: Lowering<'a>,
    at_label: Vec<Vec<u64>>,
    words: usize,
}

fn solve<'a>(func: &'a LocalFunction, scope: &'a Scope<'a>) -> Solved<'a> {
    let mut l = Lowering {
        func,
        scope,
        index: HashMap::new(),
        locals: Vec::new(),
        ops: Vec::new(),
        labels: HashMap::new(),
        next_label: 0,
        places: Vec::new(),
        opaque: false,
        entered: Vec::new(),
    };
    l.lower(func.entry_block());
    let words = l.locals.len().div_ceil(64).max(1);
    let mut s = Solved {
        at_label: vec![vec![0u64; words]; l.next_label as usize],
        l,
        words,
    };
    while s.pass(|_, _| {}).0 {}
    s
}

impl Solved<'_> {
    /// The locals whose bits are set.
    fn named(&self, bits: &[u64]) -> Vec<LocalId> {
        let locals = &self.l.locals;
        (0..locals.len())
            .filter(|&i| bit(bits, i))
            .map(|i| locals[i])
            .collect()
    }

    /// One backward pass; `visit(op, live after op)` sees every operation. Returns whether a
    /// label's set changed, and what is live at the function's entry.
    fn pass(&mut self, mut visit: impl FnMut(&Op, &[u64])) -> (bool, Vec<u64>) {
        let mut changed = false;
        let mut cur = vec![0u64; self.words];
        for op in self.l.ops.iter().rev() {
            visit(op, &cur);
            match op {
                Op::Use(x) => set_bit(&mut cur, *x as usize),
                Op::Def(x) => cur[*x as usize / 64] &= !(1 << (x % 64)),
                Op::Site(_) | Op::Enter(_) => {}
                Op::Label(lb) => {
                    let slot = &mut self.at_label[*lb as usize];
                    if *slot != cur {
                        slot.copy_from_slice(&cur);
                        changed = true;
                    }
                }
                Op::Jump(t) => copy_label(&mut cur, &self.at_label, *t),
                Op::CondJump(t) => union_label(&mut cur, &self.at_label, *t),
                Op::Table(ts) => {
                    cur.iter_mut().for_each(|w| *w = 0);
                    for t in ts.iter() {
                        union_label(&mut cur, &self.at_label, *t);
                    }
                }
                Op::Exit => cur.iter_mut().for_each(|w| *w = 0),
            }
        }
        (changed, cur)
    }
}

/// The locals live at every site (`at_sites[k]`: what site `k` saves and restores).
pub(crate) fn live(func: &LocalFunction, scope: &Scope, site_count: usize) -> Vec<Vec<LocalId>> {
    let mut s = solve(func, scope);
    let mut at_site = vec![vec![0u64; s.words]; site_count];
    s.pass(|op, cur| {
        if let Op::Site(k) = op {
            at_site[*k as usize].copy_from_slice(cur);
        }
    });
    at_site.iter().map(|bits| s.named(bits)).collect()
}

/// The locals live at the start and at the end of each guard's `if` (the normal state's
/// guards and the sites' `if`s), keyed by its `then` arm. Only functions that restore at
/// their sites ask (`zero_on_skip`), so the big ones pay nothing for it.
pub(crate) struct AroundGuards {
    pub before: HashMap<InstrSeqId, Vec<LocalId>>,
    pub after: HashMap<InstrSeqId, Vec<LocalId>>,
}

pub(crate) fn around_guards(func: &LocalFunction, scope: &Scope) -> AroundGuards {
    let mut s = solve(func, scope);
    let mut entered = vec![Vec::new(); s.l.entered.len()];
    s.pass(|op, cur| {
        if let Op::Enter(k) = op {
            entered[*k as usize] = cur.to_vec();
        }
    });
    AroundGuards {
        before: (s.l.entered.iter().zip(&entered))
            .map(|(g, bits)| (*g, s.named(bits)))
            .collect(),
        after: (s.l.entered.iter())
            .map(|g| (*g, s.named(&s.at_label[s.l.labels[g] as usize])))
            .collect(),
    }
}

/// Which locals can share one local: those of the same type that are never live at once on
/// the paths of the normal state (liveness above). Returns each merged local with the local
/// that replaces it. The parameters are never merged with each other, and `sealed` ones with
/// nothing: they keep their incoming value to the end.
///
/// Why the normal state is enough: while rewinding, only pure code and the conditional stores
/// `x = state == normal ? v : x` run before the target site, and neither changes a local, so
/// one local restored for the target site keeps the value of whichever merged local is live
/// there (where the site restores its own locals, whatever ran before it does not matter).
/// Fewer locals means smaller frames, and fewer values that the engine's register allocator
/// carries through a big function (each local a rewind may restore is live from the
/// function's entry to its site).
pub(crate) fn coalesce(
    func: &LocalFunction,
    scope: &Scope,
    sealed: &[LocalId],
    ty: impl Fn(LocalId) -> walrus::ValType,
) -> Vec<(LocalId, LocalId)> {
    let mut s = solve(func, scope);
    let n = s.l.locals.len();
    let words = s.words;
    let mut interfere = vec![vec![0u64; words]; n];
    let (_, entry) = s.pass(|op, cur| {
        if let Op::Def(x) = op {
            or_into(&mut interfere[*x as usize], cur);
        }
    });
    let locals = &s.l.locals;
    let is_fixed: Vec<bool> = locals.iter().map(|l| func.args.contains(l)).collect();
    // The entry defines every parameter (with its argument, read or not) and every other
    // local (with zero) at once: what is live there interferes with all of them. A local
    // read before any write (its zero) merged into a parameter that is never read would
    // read the argument instead.
    let mut defined = entry.clone();
    for (p, _) in is_fixed.iter().enumerate().filter(|(_, f)| **f) {
        set_bit(&mut defined, p);
    }
    for (i, row) in interfere.iter_mut().enumerate() {
        if bit(&entry, i) {
            or_into(row, &defined);
        }
    }
    // Symmetric.
    for i in 0..n {
        for j in 0..n {
            if bit(&interfere[i], j) {
                set_bit(&mut interfere[j], i);
            }
        }
    }
    // Classes: a representative and the union of its members' interference. Parameters come
    // first, each in a class of its own (they never share with each other); every other local
    // joins the first class of its type with no member it interferes with.
    let mut classes: Vec<(usize, Vec<u64>)> = Vec::new();
    let mut merged = Vec::new();
    let (firsts, rest): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| is_fixed[*i]);
    for i in firsts.into_iter().chain(rest) {
        let home = (!is_fixed[i])
            .then(|| {
                classes.iter().position(|(rep, conflicts)| {
                    ty(locals[*rep]) == ty(locals[i]) && !bit(conflicts, i)
                })
            })
            .flatten();
        match home {
            Some(c) => {
                let (rep, conflicts) = &mut classes[c];
                or_into(conflicts, &interfere[i]);
                merged.push((locals[i], locals[*rep]));
            }
            None if sealed.contains(&locals[i]) => classes.push((i, vec![u64::MAX; words])),
            None => {
                let mut conflicts = interfere[i].clone();
                set_bit(&mut conflicts, i);
                classes.push((i, conflicts));
            }
        }
    }
    merged
}

fn bit(v: &[u64], i: usize) -> bool {
    v[i / 64] & (1 << (i % 64)) != 0
}

fn set_bit(v: &mut [u64], i: usize) {
    v[i / 64] |= 1 << (i % 64);
}

/// `dst |= src`, word by word.
fn or_into(dst: &mut [u64], src: &[u64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d |= s;
    }
}

/// Gives each *web* of a local (its writes and the reads they reach, joined wherever two
/// writes reach one read) a local of its own; the first web of each local keeps it, and a
/// parameter keeps the web its incoming value reaches.
///
/// Why: the compiler that made the module already let unrelated values share a local, and
/// `coalesce` works best from the values themselves. In `ifs`, clang's local for the inner
/// loop's counter also held, after the loop, a value that a later pause saves; the engine
/// cannot tell that only a rewind takes the paths from the loop to that pause, and Cranelift
/// kept the counter in memory inside the loop: 1.46x normal, 0.93x once split and merged
/// again by `coalesce` (which follows the normal state's paths). Sizes moved by less than
/// 0.2% (`docs/transform.md` has the measurements).
///
/// A web that only moves a value from the stack to the next instruction (`stack_pairs`)
/// gets no local: its `local.set` and `local.get` are removed.
pub(crate) fn split_webs(
    func: &mut LocalFunction,
    locals: &mut walrus::ModuleLocals,
    scope: &Scope,
) {
    let s = solve(func, scope);
    if s.l.opaque {
        return;
    }
    let n = s.l.locals.len();
    let ops = &s.l.ops;
    // Web ids: `x < n` is local x's incoming value; each write gets the next one.
    let defs = ops.iter().filter(|o| matches!(o, Op::Def(_))).count();
    let mut parent: Vec<u32> = (0..(n + defs) as u32).collect();
    fn find(parent: &mut [u32], mut a: u32) -> u32 {
        while parent[a as usize] != a {
            parent[a as usize] = parent[parent[a as usize] as usize];
            a = parent[a as usize];
        }
        a
    }
    // Which web each local holds at each label; forward passes until no web joins another.
    let mut at_label: Vec<Option<Vec<u32>>> = vec![None; s.l.next_label as usize];
    let mut web_of_place = vec![0u32; s.l.places.len()];
    loop {
        let mut changed = false;
        let mut cur: Vec<u32> = (0..n as u32).collect();
        let mut reachable = true;
        let (mut place, mut def) = (0usize, n as u32);
        let join = |at: &mut Option<Vec<u32>>, cur: &[u32], parent: &mut [u32]| match at {
            None => {
                *at = Some(cur.to_vec());
                true
            }
            Some(v) => {
                let mut joined = false;
                for (a, b) in v.iter().zip(cur) {
                    let (ra, rb) = (find(parent, *a), find(parent, *b));
                    if ra != rb {
                        parent[ra.max(rb) as usize] = ra.min(rb);
                        joined = true;
                    }
                }
                joined
            }
        };
        for op in ops {
            match op {
                Op::Use(x) => {
                    web_of_place[place] = cur[*x as usize];
                    place += 1;
                }
                Op::Def(x) => {
                    cur[*x as usize] = def;
                    web_of_place[place] = def;
                    place += 1;
                    def += 1;
                }
                Op::Site(_) | Op::Enter(_) => {}
                Op::Label(l) => {
                    let at = &mut at_label[*l as usize];
                    if reachable {
                        changed |= join(at, &cur, &mut parent);
                    }
                    if let Some(v) = at {
                        cur.copy_from_slice(v);
                        reachable = true;
                    }
                }
                Op::Jump(t) | Op::CondJump(t) => {
                    if reachable && *t != EXIT {
                        changed |= join(&mut at_label[*t as usize], &cur, &mut parent);
                    }
                    reachable &= matches!(op, Op::CondJump(_));
                }
                Op::Table(ts) => {
                    for t in ts.iter().filter(|t| **t != EXIT) {
                        if reachable {
                            changed |= join(&mut at_label[*t as usize], &cur, &mut parent);
                        }
                    }
                    reachable = false;
                }
                Op::Exit => reachable = false,
            }
        }
        if !changed {
            break;
        }
    }
    // One local per web: a parameter keeps the web of its incoming value, and otherwise the
    // first web met keeps the local.
    let mut local_of_web: HashMap<u32, LocalId> = HashMap::new();
    let mut kept = vec![false; n];
    for (x, local) in s.l.locals.iter().enumerate() {
        if func.args.contains(local) {
            let root = find(&mut parent, x as u32);
            local_of_web.insert(root, *local);
            kept[x] = true;
        }
    }
    let roots: Vec<u32> = (web_of_place.iter())
        .map(|w| find(&mut parent, *w))
        .collect();
    let gone = stack_pairs(&s, &roots, n);
    let mut renames = Vec::with_capacity(s.l.places.len());
    let mut removals: Vec<(InstrSeqId, usize)> = Vec::new();
    let mut place = 0;
    for op in ops {
        let x = match op {
            Op::Use(x) | Op::Def(x) => *x as usize,
            _ => continue,
        };
        let root = roots[place];
        if gone.contains(&root) {
            removals.push(s.l.places[place]);
            place += 1;
            continue;
        }
        let original = s.l.locals[x];
        let local = *local_of_web.entry(root).or_insert_with(|| {
            if !kept[x] {
                kept[x] = true;
                original
            } else {
                locals.add(locals.get(original).ty())
            }
        });
        let (seq, i) = s.l.places[place];
        place += 1;
        if local == original {
            continue;
        }
        renames.push((seq, i, local));
        // A conditional store's read of the old value (not a use, see `lower`) goes with it.
        let instrs = &func.block(seq).instrs;
        let n = super::CONDITIONAL_STORE_LEN;
        if i >= n
            && matches!(&instrs[i - n].0, Instr::LocalGet(g) if g.local == original)
            && s.l.is_conditional_store(instrs, i - n, original)
        {
            renames.push((seq, i - n, local));
        }
    }
    drop(s);
    for (seq, i, local) in renames {
        match &mut func.block_mut(seq).instrs[i].0 {
            Instr::LocalGet(LocalGet { local: l })
            | Instr::LocalSet(LocalSet { local: l })
            | Instr::LocalTee(LocalTee { local: l }) => *l = local,
            _ => unreachable!("places name local accesses"),
        }
    }
    // Last index first, so that the indices still to remove stay valid.
    removals.sort_unstable_by_key(|r| std::cmp::Reverse(r.1));
    for (seq, i) in removals {
        func.block_mut(seq).instrs.remove(i);
    }
}

/// The webs that are one `local.set` and one `local.get` of its value right after it: the
/// value can stay on the stack. Such a pair is a compiler's φ: LLVM gave the value a local
/// shared with the loop's other values of that variable (in `ifs`, the sum after the
/// branches, `local.set 7; local.get 7`), and once the web is a local of its own the two
/// instructions only move the value out of the stack and back. Both go (the web's local is
/// never written, and it is not read). A conditional store (`x = state == normal ? v : x`)
/// stays: it reads the old value of its local.
fn stack_pairs(s: &Solved, roots: &[u32], n: usize) -> HashSet<u32> {
    if s.l.opaque {
        return HashSet::new();
    }
    // Per web: its places, or None once it has more than a set and a get (or an entry value).
    let mut webs: HashMap<u32, Option<Vec<usize>>> = HashMap::new();
    let mut place = 0;
    for op in &s.l.ops {
        if !matches!(op, Op::Use(_) | Op::Def(_)) {
            continue;
        }
        let entry = webs.entry(roots[place]).or_insert_with(|| Some(Vec::new()));
        if let Some(v) = entry {
            v.push(place);
            if v.len() > 2 {
                *entry = None;
            }
        }
        place += 1;
    }
    let func = s.l.func;
    (webs.into_iter())
        // A web's root is its smallest id: below `n` when it holds a local's incoming value
        // (zero, or an argument), written outside the body.
        .filter(|(root, _)| *root as usize >= n)
        .filter_map(|(root, places)| {
            let [def, get] = places?[..] else {
                return None;
            };
            let ((seq, i), (seq2, j)) = (s.l.places[def], s.l.places[get]);
            let instrs = &func.block(seq).instrs;
            let (Instr::LocalSet(set), Instr::LocalGet(g)) = (&instrs[i].0, &instrs.get(j)?.0)
            else {
                return None;
            };
            let store = i >= super::CONDITIONAL_STORE_LEN
                && s.l
                    .is_conditional_store(instrs, i - super::CONDITIONAL_STORE_LEN, set.local);
            (seq == seq2 && j == i + 1 && g.local == set.local && !store).then_some(root)
        })
        .collect()
}

fn copy_label(cur: &mut [u64], at_label: &[Vec<u64>], t: u32) {
    if t == EXIT {
        cur.iter_mut().for_each(|w| *w = 0);
    } else {
        cur.copy_from_slice(&at_label[t as usize]);
    }
}

fn union_label(cur: &mut [u64], at_label: &[Vec<u64>], t: u32) {
    if t != EXIT {
        or_into(cur, &at_label[t as usize]);
    }
}
