//! Instruction-precise liveness of locals at each pause site.
//!
//! The structured body is lowered to a flat list of operations (uses, definitions, labels and
//! jumps), then a backward dataflow over that list is iterated until the sets at labels stop
//! changing (loops need one extra pass per nesting level). The result for a site is the set of
//! locals read by the call's operands, or on some path after the call returns before being
//! written: exactly what must survive an unwind at that call. The operands count because a
//! rewind calls the same callee again with the same operands (the rewind contract,
//! `docs/transform.md`).

use std::collections::HashMap;

use walrus::ir::{Instr, InstrSeqId};
use walrus::{LocalFunction, LocalId};

enum Op {
    Use(u32),
    Def(u32),
    Site(u32),
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
    /// Site sequences (the `then` arm that holds the call) and the site's index.
    sites: &'a HashMap<InstrSeqId, u32>,
    /// The asyncify state global (see `is_conditional_store`).
    state: walrus::GlobalId,
    /// `if`s whose `then` arm the normal state always takes.
    guards: &'a std::collections::HashSet<InstrSeqId>,
    index: HashMap<LocalId, u32>,
    ignored: &'a [LocalId],
    locals: Vec<LocalId>,
    ops: Vec<Op>,
    labels: HashMap<InstrSeqId, u32>,
    next_label: u32,
}

impl Lowering<'_> {
    fn local(&mut self, id: LocalId) -> Option<u32> {
        if self.ignored.contains(&id) {
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
        matches!(
            instrs.get(i + 1..i + 5),
            Some([
                (Instr::GlobalGet(g), _),
                (Instr::Unop(walrus::ir::Unop { op: walrus::ir::UnaryOp::I32Eqz }), _),
                (Instr::Select(_), _),
                (Instr::LocalSet(s), _),
            ]) if g.global == self.state && s.local == x
        )
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
                    if let Some(&k) = self.sites.get(&seq) {
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
                        let x = self.local(g.local);
                        self.ops.extend(x.map(Op::Use));
                        Vec::new()
                    }
                    Instr::LocalSet(s) => {
                        let x = self.local(s.local);
                        self.ops.extend(x.map(Op::Def));
                        Vec::new()
                    }
                    Instr::LocalTee(t) => {
                        let x = self.local(t.local);
                        self.ops.extend(x.map(Op::Def));
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
                    Instr::IfElse(e) if self.guards.contains(&e.consequent) => {
                        let end = self.label();
                        self.labels.insert(e.consequent, end);
                        self.labels.insert(e.alternative, end);
                        vec![Work::Seq(e.consequent, 0), Work::Op(Op::Label(end))]
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

fn solve<'a>(
    func: &'a LocalFunction,
    sites: &'a HashMap<InstrSeqId, u32>,
    guards: &'a std::collections::HashSet<InstrSeqId>,
    ignored: &'a [LocalId],
    state: walrus::GlobalId,
) -> Solved<'a> {
    let mut l = Lowering {
        func,
        sites,
        state,
        guards,
        index: HashMap::new(),
        ignored,
        locals: Vec::new(),
        ops: Vec::new(),
        labels: HashMap::new(),
        next_label: 0,
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
    /// One backward pass; `visit(op, live after op)` sees every operation. Returns whether a
    /// label's set changed, and what is live at the function's entry.
    fn pass(&mut self, mut visit: impl FnMut(&Op, &[u64])) -> (bool, Vec<u64>) {
        let mut changed = false;
        let mut cur = vec![0u64; self.words];
        for op in self.l.ops.iter().rev() {
            visit(op, &cur);
            match op {
                Op::Use(x) => cur[*x as usize / 64] |= 1 << (x % 64),
                Op::Def(x) => cur[*x as usize / 64] &= !(1 << (x % 64)),
                Op::Site(_) => {}
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

/// Live locals at every site: `result[k]` lists the locals to save and restore at site `k`.
pub(crate) fn live_at_sites(
    func: &LocalFunction,
    sites: &HashMap<InstrSeqId, u32>,
    guards: &std::collections::HashSet<InstrSeqId>,
    site_count: usize,
    ignored: &[LocalId],
    state: walrus::GlobalId,
) -> Vec<Vec<LocalId>> {
    let mut s = solve(func, sites, guards, ignored, state);
    let mut at_site = vec![vec![0u64; s.words]; site_count];
    s.pass(|op, cur| {
        if let Op::Site(k) = op {
            at_site[*k as usize].copy_from_slice(cur);
        }
    });
    let locals = &s.l.locals;
    at_site
        .iter()
        .map(|bits| {
            (0..locals.len())
                .filter(|i| bits[i / 64] & (1 << (i % 64)) != 0)
                .map(|i| locals[i])
                .collect()
        })
        .collect()
}

/// Which locals can share one local: those of the same type that are never live at once on
/// the paths of the normal state (liveness above). Returns each merged local with the local
/// that replaces it; `fixed` locals (the parameters) are never merged with each other.
///
/// Why the normal state is enough: while rewinding, only pure code and the conditional stores
/// `x = state == normal ? v : x` run before the target site, and neither changes a local, so
/// one local restored for the target site keeps the value of whichever merged local is live
/// there. Fewer locals means smaller frames, and fewer values that the engine's register
/// allocator carries through a big function (each local a rewind may restore is live from
/// the function's entry to its site).
pub(crate) fn coalesce(
    func: &LocalFunction,
    sites: &HashMap<InstrSeqId, u32>,
    guards: &std::collections::HashSet<InstrSeqId>,
    ignored: &[LocalId],
    state: walrus::GlobalId,
    fixed: &[LocalId],
    ty: impl Fn(LocalId) -> walrus::ValType,
) -> Vec<(LocalId, LocalId)> {
    let mut s = solve(func, sites, guards, ignored, state);
    let n = s.l.locals.len();
    let words = s.words;
    let mut interfere = vec![vec![0u64; words]; n];
    let (_, entry) = s.pass(|op, cur| {
        if let Op::Def(x) = op {
            for (r, c) in interfere[*x as usize].iter_mut().zip(cur) {
                *r |= c;
            }
        }
    });
    let bit = |v: &[u64], i: usize| v[i / 64] & (1 << (i % 64)) != 0;
    // Everything live at the entry holds its initial value there: defined at once.
    for (i, row) in interfere.iter_mut().enumerate() {
        if bit(&entry, i) {
            for (r, e) in row.iter_mut().zip(&entry) {
                *r |= e;
            }
        }
    }
    // Symmetric.
    for i in 0..n {
        for j in 0..n {
            if bit(&interfere[i], j) {
                interfere[j][i / 64] |= 1 << (i % 64);
            }
        }
    }
    let locals = &s.l.locals;
    let is_fixed: Vec<bool> = locals.iter().map(|l| fixed.contains(l)).collect();
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
                for (a, b) in conflicts.iter_mut().zip(&interfere[i]) {
                    *a |= b;
                }
                merged.push((locals[i], locals[*rep]));
            }
            None => {
                let mut conflicts = interfere[i].clone();
                conflicts[i / 64] |= 1 << (i % 64);
                classes.push((i, conflicts));
            }
        }
    }
    merged
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
        for (c, l) in cur.iter_mut().zip(&at_label[t as usize]) {
            *c |= *l;
        }
    }
}
