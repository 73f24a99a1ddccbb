//! Control flow and the operand stack: rewrites each instruction sequence of a function that
//! can change state so that a rewind can skip forward to the site that paused.
//!
//! A sequence is split at its *pausing instructions*: calls that may unwind ("sites", numbered
//! in textual order) and blocks/loops/ifs that contain one. The code between two of them is a
//! *segment*. Each site becomes
//!
//! ```text
//! if (state == normal || rewind_index == K)
//!   <the call's inputs>  call  (br_if $unwind K when the state says unwinding)
//!   <the following segment>
//! end
//! ```
//!
//! Code after the unwind check only ever runs in the normal state, so the segment that follows
//! a call needs no guard of its own: it lives inside the call's `if`. Only segments at the start
//! of a sequence or after a block/loop/if are wrapped in `if (state == normal)`, and only when
//! they are impure (side effects, traps, branches): pure code may run again during a rewind.
//! An `if` that contains sites picks its arm from the saved index while rewinding (the sites of
//! each arm have contiguous numbers), so its condition never needs saving.
//!
//! Values never flow into a guard from the operand stack (no block parameters, so Binaryen and
//! MVP tools can read the output): a value that crosses a guard boundary or survives a pause
//! is moved into a fresh local right after it is produced, and reloaded where it is used.
//! A call's inputs are computed inside its `if` when that code is recomputable (constants,
//! local reads, arithmetic that cannot trap); otherwise they travel through locals too. Either
//! way the site saves what its operands read, so a rewind re-enters the call with the same
//! callee (a `call_indirect`'s table index is an operand) and bit-identical operands: imports
//! and in-module runtimes use them during the rewind (the rewind contract).

use std::collections::{HashMap, HashSet};

use walrus::ir::*;
use walrus::{LocalFunction, LocalId, ModuleLocals, ModuleTypes, ValType};

use super::stack::{seq_sig, TypeCx};
use super::{at, i32c, zero, Code};
use crate::Error;

#[derive(Clone, Copy)]
enum Loc {
    /// On the operand stack; `mark` is the position in the current target's code right after
    /// the instruction that pushed it, `above` how many values that instruction pushed above
    /// this one.
    Real {
        mark: usize,
        above: usize,
    },
    Local(LocalId),
}

#[derive(Clone, Copy)]
struct Entry {
    ty: ValType,
    loc: Loc,
}

/// Where the current segment's code goes.
enum Kind {
    /// Into the enclosing sequence, guarded by `state == normal` unless it is pure.
    Guarded,
    /// Into the `if` of the call site that precedes it: runs only in the normal state.
    Arm { then: InstrSeqId, els: InstrSeqId },
}

struct Target {
    kind: Kind,
    code: Code,
    impure: bool,
    /// Values on the operand stack pushed inside this target.
    height: usize,
    /// The last position at which the operand stack was empty (where the trees computing the
    /// values now on the stack begin).
    last_zero: Option<usize>,
    /// Types pushed by multi-value instructions, by mark.
    groups: HashMap<usize, Vec<ValType>>,
}

impl Target {
    fn new(kind: Kind, code: Code, height: usize) -> Self {
        let last_zero = (height == 0).then_some(code.len());
        Target {
            kind,
            code,
            impure: false,
            height,
            last_zero,
            groups: HashMap::new(),
        }
    }
}

struct SeqState {
    /// The sequence's own instructions (guards, sites and structured instructions).
    out: Code,
    entries: Vec<Entry>,
    target: Target,
    unreachable: bool,
}

pub(crate) struct Flow<'a> {
    pub types: &'a mut ModuleTypes,
    pub locals: &'a mut ModuleLocals,
    pub cx: TypeCx<'a>,
    pub lf: &'a mut LocalFunction,
    pub fn_name: &'a str,
    pub fn_results: usize,
    pub is_site: &'a dyn Fn(&Instr) -> bool,
    pub state: walrus::GlobalId,
    /// The flag global that is 1 exactly in the normal state: guards and conditional stores
    /// test it (`global.get $normal` is a byte shorter than `global.get $state; i32.eqz`).
    pub normal: walrus::GlobalId,
    /// The rewind target global (`K` of the site being rewound to); 0 in the normal state.
    pub target: walrus::GlobalId,
    /// Stand-in branch target for unwinds, patched once the save blocks exist.
    pub placeholder: InstrSeqId,
    pub loops: HashSet<InstrSeqId>,
    pub has_site: HashSet<InstrSeqId>,
    /// Per site `K`: the sequence holding its call, whose unwind `br_if` (which carries `K` to
    /// the save code) targets `placeholder` until the save blocks exist.
    pub sites: Vec<InstrSeqId>,
    /// The `then` arms of the state guards and sites: in the normal state they are always
    /// taken, and the normal state is all that liveness must follow.
    pub guards: HashSet<InstrSeqId>,
    /// Locals that carried a site's inputs into its guard, free again afterwards: a site's
    /// input temps are set just before its guard and read at its start, so they are dead
    /// everywhere else and every site can reuse them. (Fresh locals per site made frames so
    /// large that QuickJS's interpreter loop overflowed wasmtime's native stack.)
    pub input_temps: Vec<LocalId>,
}

/// The locals a piece of code reads and writes (for moving recomputable operand code).
#[derive(Default)]
struct Effects {
    reads: HashSet<LocalId>,
    writes: HashSet<LocalId>,
    /// Code whose writes are unknown (a range that could not be separated).
    all: bool,
}

impl Effects {
    fn everything(&mut self) {
        self.all = true;
    }

    fn merge(&mut self, o: &Effects) {
        self.reads.extend(&o.reads);
        self.writes.extend(&o.writes);
        self.all |= o.all;
    }

    /// Would running `self` (recomputable code, which reads only locals) after `later`
    /// instead of before it change what it reads?
    fn conflicts_with(&self, later: &Effects) -> bool {
        later.all || self.reads.iter().any(|l| later.writes.contains(l))
    }
}

impl Flow<'_> {
    fn err(&self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            function: self.fn_name.to_string(),
            what: what.into(),
        }
    }

    /// Is `instr` a pausing instruction: a site, or a construct that contains one?
    fn pauses(&self, instr: &Instr) -> bool {
        if (self.is_site)(instr) {
            return true;
        }
        let mut kids = Vec::new();
        crate::analysis::push_children(instr, &mut kids);
        kids.iter().any(|k| self.has_site.contains(k))
    }

    pub fn run(&mut self) -> Result<(), Error> {
        let entry = self.lf.entry_block();
        let (_, results) = seq_sig(self.types, self.lf.block(entry).ty);
        self.process_seq(entry, Vec::new(), &results)
    }

    /// Rewrites `seq`, whose parameters (if any) are already in the locals of `params`.
    fn process_seq(
        &mut self,
        seq: InstrSeqId,
        params: Vec<Entry>,
        results: &[ValType],
    ) -> Result<(), Error> {
        let instrs = std::mem::take(&mut self.lf.block_mut(seq).instrs);
        let last = instrs.len().saturating_sub(1);
        let mut st = SeqState {
            out: Vec::with_capacity(instrs.len() + 8),
            entries: params,
            target: Target::new(Kind::Guarded, Vec::new(), 0),
            unreachable: false,
        };
        if self.loops.contains(&seq) && !st.entries.is_empty() {
            // Copy the loop's transfer locals into the body's own (see
            // `loop_params_into_locals`); only in the normal state, like any store.
            let n = st.entries.len();
            self.materialize(&mut st, n);
            for i in (0..n).rev() {
                let l = self.locals.add(st.entries[i].ty);
                st.target.height -= 1;
                self.emit(&mut st, LocalSet { local: l });
                st.entries[i].loc = Loc::Local(l);
            }
            st.target.impure = true;
        }
        for (i, (instr, loc)) in instrs.into_iter().enumerate() {
            if st.unreachable {
                break;
            }
            if self.pauses(&instr) {
                self.pausing(&mut st, instr, i == last)?;
            } else {
                self.plain(&mut st, instr, loc)?;
            }
        }
        if !st.unreachable {
            let n = st.entries.len();
            self.materialize(&mut st, n);
        }
        self.finish_target(&mut st, results)?;
        self.lf.block_mut(seq).instrs = st.out;
        Ok(())
    }

    fn effect(&self, st: &SeqState, instr: &Instr) -> Result<super::stack::Effect, Error> {
        // Only an untyped select and br_if need the types below them.
        let below: Vec<ValType> = match instr {
            Instr::Select(_) | Instr::BrIf(_) => st.entries.iter().map(|e| e.ty).collect(),
            _ => Vec::new(),
        };
        let loops = &self.loops;
        self.cx
            .effect(
                self.types,
                self.locals,
                self.lf,
                &|s| loops.contains(&s),
                self.fn_results,
                instr,
                &below,
            )
            .map_err(|w| self.err(w))
    }

    /// Appends `instr`; the caller has already applied its effect on `height`.
    fn emit(&self, st: &mut SeqState, instr: impl Into<Instr>) {
        st.target.code.push(at(instr));
        if st.target.height == 0 {
            st.target.last_zero = Some(st.target.code.len());
        }
    }

    fn push_real(&self, st: &mut SeqState, tys: &[ValType]) {
        let t = &mut st.target;
        let mark = t.code.len();
        if tys.len() > 1 {
            t.groups.insert(mark, tys.to_vec());
        }
        for (i, ty) in tys.iter().enumerate() {
            st.entries.push(Entry {
                ty: *ty,
                loc: Loc::Real {
                    mark,
                    above: tys.len() - 1 - i,
                },
            });
        }
        t.height += tys.len();
    }

    fn pop(&self, st: &mut SeqState, n: usize) {
        st.entries.truncate(st.entries.len() - n);
        st.target.height -= n;
    }

    fn plain(&mut self, st: &mut SeqState, instr: Instr, loc: InstrLocId) -> Result<(), Error> {
        let mut eff = self.effect(st, &instr)?;
        self.materialize(st, eff.pops);
        self.pop(st, eff.pops);
        if let Instr::Binop(b) = &instr {
            // The top of the stack is what the last instruction pushed, if that was a constant.
            let last = st.target.code.last().map(|(i, _)| i);
            eff.pure = !super::stack::binop_can_trap_after(b.op, last);
        }
        st.target.code.push((instr, loc));
        st.target.impure |= !eff.pure;
        if eff.ends {
            st.unreachable = true;
        } else {
            if st.target.height == 0 && eff.pushes.is_empty() {
                st.target.last_zero = Some(st.target.code.len());
            }
            self.push_real(st, &eff.pushes);
        }
        Ok(())
    }

    /// Makes the top `k` entries physically present on the operand stack, in order.
    fn materialize(&mut self, st: &mut SeqState, k: usize) {
        let n = st.entries.len();
        let Some(first) = (n - k..n).find(|&j| matches!(st.entries[j].loc, Loc::Local(_))) else {
            return;
        };
        for j in (first + 1..n).rev() {
            if let Loc::Real { .. } = st.entries[j].loc {
                let t = self.locals.add(st.entries[j].ty);
                st.target.height -= 1;
                self.emit(st, LocalSet { local: t });
                st.entries[j].loc = Loc::Local(t);
                st.target.impure = true;
            }
        }
        for j in first..n {
            let Loc::Local(l) = st.entries[j].loc else {
                unreachable!()
            };
            st.target.height += 1;
            self.emit(st, LocalGet { local: l });
            st.entries[j].loc = Loc::Real {
                mark: st.target.code.len(),
                above: 0,
            };
        }
    }

    /// Moves every value still on the stack below the top `n` into locals, inserting the
    /// `local.set`s right after the instruction that produced the topmost of them.
    fn spill_below(&mut self, st: &mut SeqState, n: usize) -> Result<(), Error> {
        let below = st.entries.len() - n;
        let Some(t) = (0..below)
            .rev()
            .find(|&j| matches!(st.entries[j].loc, Loc::Real { .. }))
        else {
            return Ok(());
        };
        let Loc::Real { mark, above } = st.entries[t].loc else {
            unreachable!()
        };
        let above_tys: Vec<ValType> = if above > 0 {
            let g = &st.target.groups[&mark];
            g[g.len() - above..].to_vec()
        } else {
            Vec::new()
        };
        let tmps: Vec<LocalId> = above_tys.iter().map(|t| self.locals.add(*t)).collect();
        let mut ins: Code = tmps
            .iter()
            .rev()
            .map(|l| at(LocalSet { local: *l }))
            .collect();
        let mut spilled = 0;
        for j in (0..=t).rev() {
            if let Loc::Real { .. } = st.entries[j].loc {
                let ty = st.entries[j].ty;
                if let ValType::Ref(_) = ty {
                    return Err(self.err("a reference value on the operand stack across a pause"));
                }
                let l = self.locals.add(ty);
                ins.push(at(LocalSet { local: l }));
                st.entries[j].loc = Loc::Local(l);
                spilled += 1;
            }
        }
        ins.extend(tmps.iter().map(|l| at(LocalGet { local: *l })));
        let k = ins.len();
        st.target.code.splice(mark..mark, ins);
        for e in st.entries.iter_mut() {
            if let Loc::Real { mark: m, above: a } = e.loc {
                if m >= mark {
                    e.loc = Loc::Real {
                        mark: m + k,
                        above: a,
                    };
                }
            }
        }
        let groups = std::mem::take(&mut st.target.groups);
        st.target.groups = groups
            .into_iter()
            .map(|(m, g)| (if m >= mark { m + k } else { m }, g))
            .collect();
        st.target.height -= spilled;
        st.target.last_zero = if above == 0 { Some(mark + k) } else { None };
        st.target.impure = true;
        Ok(())
    }

    /// Ends the current segment before a pausing instruction with `n` inputs. Returns the code
    /// that pushes the inputs: pure code moved out of the segment, or reloads of locals. After
    /// this, every remaining entry is in a local and the segment has been emitted.
    fn close_segment(&mut self, st: &mut SeqState, n: usize) -> Result<Code, Error> {
        self.materialize(st, n);
        self.spill_below(st, n)?;
        let len = st.entries.len();
        let first = len - n;
        // The code range computing each input: from the previous input's mark (or the last
        // empty-stack point) to its own mark. `None`: not separable from its neighbours.
        let ranges: Vec<Option<(usize, usize)>> = (first..len)
            .map(|i| {
                let Loc::Real { mark, .. } = st.entries[i].loc else {
                    unreachable!()
                };
                let start = if i == first {
                    st.target.last_zero.filter(|z| *z <= mark)
                } else {
                    match st.entries[i - 1].loc {
                        Loc::Real { mark: m, above: 0 } => Some(m),
                        _ => None,
                    }
                };
                start.map(|s| (s, mark))
            })
            .collect();
        // Decide from the top down: a recomputable input moves into the pausing instruction's
        // code unless code that stays behind (and so now runs before it) writes what it reads.
        // Either way the rewind re-enters the call with the operands of the unwind: moved code
        // reads locals that the site saves, the others come from saved temps.
        let code_end = st.target.code.len();
        let top_mark = ranges
            .last()
            .and_then(|r| r.map(|(_, m)| m))
            .unwrap_or(code_end);
        let mut later = Effects::default();
        self.effects_of(&st.target.code[top_mark.min(code_end)..], &mut later);
        let mut moves = vec![false; n];
        let mut force_temp = false;
        for k in (0..n).rev() {
            let Some((a, b)) = ranges[k] else {
                force_temp = true;
                later.everything();
                continue;
            };
            let code = &st.target.code[a..b];
            let mut mine = Effects::default();
            self.effects_of(code, &mut mine);
            if !force_temp && self.recomputable(code) && !mine.conflicts_with(&later) {
                moves[k] = true;
            } else {
                later.merge(&mine);
            }
            force_temp = false;
        }
        // Cut the moved code out (from the top, so earlier ranges keep their positions).
        let mut moved: Vec<Code> = vec![Code::new(); n];
        for k in (0..n).rev() {
            if moves[k] {
                let (a, b) = ranges[k].unwrap();
                moved[k] = st.target.code.drain(a..b).collect();
                st.target.height -= 1;
            }
        }
        // The inputs that stay are now exactly what is on the stack: into locals.
        let mut temps: Vec<Option<LocalId>> = vec![None; n];
        let mut free = std::mem::take(&mut self.input_temps);
        for k in (0..n).rev() {
            if !moves[k] {
                let ty = st.entries[first + k].ty;
                let l = match free.iter().position(|l| self.locals.get(*l).ty() == ty) {
                    Some(i) => free.swap_remove(i),
                    None => self.locals.add(ty),
                };
                st.target.height -= 1;
                self.emit(st, LocalSet { local: l });
                st.target.impure = true;
                temps[k] = Some(l);
            }
        }
        let mut inputs = Code::new();
        for k in 0..n {
            match temps[k] {
                Some(l) => {
                    inputs.push(at(LocalGet { local: l }));
                    free.push(l);
                }
                None => inputs.append(&mut moved[k]),
            }
        }
        self.input_temps = free;
        st.entries.truncate(first);
        self.finish_target(st, &[])?;
        Ok(inputs)
    }

    /// The locals `code` reads and writes (nested blocks included).
    fn effects_of(&self, code: &[(Instr, InstrLocId)], fx: &mut Effects) {
        let mut stack: Vec<&[(Instr, InstrLocId)]> = vec![code];
        while let Some(code) = stack.pop() {
            for (i, _) in code {
                match i {
                    Instr::LocalGet(g) => {
                        fx.reads.insert(g.local);
                    }
                    Instr::LocalSet(LocalSet { local }) | Instr::LocalTee(LocalTee { local }) => {
                        fx.writes.insert(*local);
                    }
                    _ => {}
                }
                let mut kids = Vec::new();
                crate::analysis::push_children(i, &mut kids);
                for k in kids {
                    stack.push(&self.lf.block(k).instrs);
                }
            }
        }
    }

    /// Emits the current target: an arm gets its code and result type; a guarded segment is
    /// wrapped in `if (state == normal)` when impure, or emitted as is when pure.
    fn finish_target(&mut self, st: &mut SeqState, results: &[ValType]) -> Result<(), Error> {
        let target = std::mem::replace(&mut st.target, Target::new(Kind::Guarded, Vec::new(), 0));
        let ty = InstrSeqType::new(self.types, &[], results);
        let zeros = results
            .iter()
            .map(|t| self.zero(*t))
            .collect::<Result<Code, Error>>()?;
        match target.kind {
            Kind::Arm { then, els } => {
                self.lf.block_mut(then).ty = ty;
                self.lf.block_mut(then).instrs = target.code;
                self.lf.block_mut(els).ty = ty;
                self.lf.block_mut(els).instrs = zeros;
            }
            Kind::Guarded if target.code.is_empty() => {}
            Kind::Guarded if !target.impure => st.out.extend(target.code),
            Kind::Guarded => {
                let then = self.lf.builder_mut().dangling_instr_seq(ty).id();
                self.guards.insert(then);
                self.lf.block_mut(then).instrs = target.code;
                let els = self.lf.builder_mut().dangling_instr_seq(ty).id();
                self.lf.block_mut(els).instrs = zeros;
                st.out.push(at(GlobalGet {
                    global: self.normal,
                }));
                st.out.push(at(IfElse {
                    consequent: then,
                    alternative: els,
                }));
            }
        }
        Ok(())
    }

    /// Code that computes the same values when the rewind runs it again at the call, given
    /// the locals it reads (which the site saves): constants, local reads and arithmetic that
    /// cannot trap. A `global.get`, a load or `memory.size` is not: the world may change while
    /// the stack is paused (a runtime moves the stack pointer global, another coroutine writes
    /// memory), so such operands travel through saved locals instead.
    fn recomputable(&self, code: &[(Instr, InstrLocId)]) -> bool {
        let before = |k: usize| k.checked_sub(1).map(|j| &code[j].0);
        code.iter().enumerate().all(|(k, (i, _))| match i {
            Instr::LocalGet(_) | Instr::Const(_) | Instr::Drop(_) => true,
            Instr::Binop(b) => !super::stack::binop_can_trap_after(b.op, before(k)),
            Instr::Unop(u) => !super::ops::unop_can_trap(u.op),
            Instr::Select(_) | Instr::TernOp(_) | Instr::V128Bitselect(_) => true,
            Instr::I8x16Swizzle(_) | Instr::I8x16Shuffle(_) => true,
            Instr::RefNull(_) | Instr::RefFunc(_) | Instr::RefIsNull(_) => true,
            _ => false,
        })
    }

    fn zero(&self, t: ValType) -> Result<(Instr, InstrLocId), Error> {
        zero(t)
            .map(at)
            .ok_or_else(|| self.err("a non-nullable reference value around a pause"))
    }

    fn pausing(&mut self, st: &mut SeqState, instr: Instr, last: bool) -> Result<(), Error> {
        match instr {
            Instr::Call(_) | Instr::CallIndirect(_) => self.site(st, instr),
            Instr::Block(Block { seq }) | Instr::Loop(Loop { seq }) => {
                let (params, results) = seq_sig(self.types, self.lf.block(seq).ty);
                let inner = if matches!(instr, Instr::Loop(_)) {
                    self.loop_params_into_locals(st, seq, &params)?
                } else {
                    self.params_into_locals(st, &params, 0)?
                };
                let code = self.close_segment(st, 0)?;
                st.out.extend(code);
                self.lf.block_mut(seq).ty = InstrSeqType::new(self.types, &[], &results);
                self.process_seq(seq, inner, &results)?;
                st.out.push(at(instr));
                self.after_structured(st, &results, last);
                Ok(())
            }
            Instr::IfElse(IfElse {
                consequent,
                alternative,
            }) => {
                let (params, results) = seq_sig(self.types, self.lf.block(consequent).ty);
                let inner = self.params_into_locals(st, &params, 1)?;
                let code = self.close_segment(st, 1)?;
                st.out.extend(code);
                let ty = InstrSeqType::new(self.types, &[], &results);
                self.lf.block_mut(consequent).ty = ty;
                self.lf.block_mut(alternative).ty = ty;
                let a = self.sites.len() as i32;
                self.process_seq(consequent, inner.clone(), &results)?;
                let m = self.sites.len() as i32;
                self.process_seq(alternative, inner, &results)?;
                let b = self.sites.len() as i32;
                if m > a {
                    self.range_check(&mut st.out, a, m - 1);
                } else {
                    self.range_check(&mut st.out, m, b - 1);
                    st.out.push(at(Unop {
                        op: UnaryOp::I32Eqz,
                    }));
                }
                st.out.push(at(GlobalGet {
                    global: self.normal,
                }));
                st.out.push(at(Select { ty: None }));
                st.out.push(at(IfElse {
                    consequent,
                    alternative,
                }));
                self.after_structured(st, &results, last);
                Ok(())
            }
            Instr::Try(_) | Instr::TryTable(_) => {
                Err(self.err("a pause inside an exception handling block"))
            }
            Instr::ReturnCall(_) | Instr::ReturnCallIndirect(_) | Instr::ReturnCallRef(_) => {
                Err(self.err("a tail call (return_call) to a function that may pause"))
            }
            Instr::CallRef(_) => Err(self.err("call_ref to a function that may pause")),
            _ => Err(self.err("an unexpected pausing instruction")),
        }
    }

    /// A block's parameters, below its top `keep` inputs, move into locals so the block can
    /// be rewritten without parameters; returns them as the inner sequence's entries.
    fn params_into_locals(
        &mut self,
        st: &mut SeqState,
        params: &[ValType],
        keep: usize,
    ) -> Result<Vec<Entry>, Error> {
        let total = params.len() + keep;
        self.materialize(st, total);
        self.spill_below(st, keep)?;
        let len = st.entries.len();
        let inner = st.entries[len - total..len - keep].to_vec();
        // The parameters stay in their locals; they are no longer on this sequence's stack.
        st.entries.drain(len - total..len - keep);
        Ok(inner)
    }

    /// A loop's parameters become *transfer locals*: the values entering the loop and every
    /// branch back to it store into them (the loop loses its parameters), and the body first
    /// copies them into locals of its own, so a `br_if` not taken cannot disturb them.
    fn loop_params_into_locals(
        &mut self,
        st: &mut SeqState,
        seq: InstrSeqId,
        params: &[ValType],
    ) -> Result<Vec<Entry>, Error> {
        if params.is_empty() {
            return Ok(Vec::new());
        }
        let transfer: Vec<LocalId> = params.iter().map(|t| self.locals.add(*t)).collect();
        self.materialize(st, params.len());
        for l in transfer.iter().rev() {
            st.target.height -= 1;
            self.emit(st, LocalSet { local: *l });
        }
        st.target.impure = true;
        st.entries.truncate(st.entries.len() - params.len());
        self.rewrite_branches_to_loop(seq, &transfer)?;
        Ok(params
            .iter()
            .zip(&transfer)
            .map(|(ty, l)| Entry {
                ty: *ty,
                loc: Loc::Local(*l),
            })
            .collect())
    }

    /// Every branch to `lp` (anywhere inside it) stores its values into `transfer` first.
    fn rewrite_branches_to_loop(
        &mut self,
        lp: InstrSeqId,
        transfer: &[LocalId],
    ) -> Result<(), Error> {
        let mut work = vec![lp];
        while let Some(seq) = work.pop() {
            let instrs = std::mem::take(&mut self.lf.block_mut(seq).instrs);
            let mut out = Code::with_capacity(instrs.len());
            for (instr, loc) in instrs {
                crate::analysis::push_children(&instr, &mut work);
                match &instr {
                    Instr::Br(b) if b.block == lp => {
                        out.extend(transfer.iter().rev().map(|l| at(LocalSet { local: *l })));
                    }
                    Instr::BrIf(b) if b.block == lp => {
                        // Not taken, the values stay on the stack: store them, then reload.
                        let cond = self.locals.add(ValType::I32);
                        out.push(at(LocalSet { local: cond }));
                        out.extend(transfer.iter().rev().map(|l| at(LocalSet { local: *l })));
                        out.extend(transfer.iter().map(|l| at(LocalGet { local: *l })));
                        out.push(at(LocalGet { local: cond }));
                    }
                    Instr::BrTable(t) if t.default == lp || t.blocks.contains(&lp) => {
                        // Branches meant for the loop land in a trampoline block first, which
                        // stores the values and branches on.
                        let params: Vec<ValType> =
                            transfer.iter().map(|l| self.locals.get(*l).ty()).collect();
                        let mut inputs = params.clone();
                        inputs.push(ValType::I32);
                        let ty = InstrSeqType::new(self.types, &inputs, &params);
                        let tramp = self.lf.builder_mut().dangling_instr_seq(ty).id();
                        let swap = |b: InstrSeqId| if b == lp { tramp } else { b };
                        let table = BrTable {
                            blocks: t.blocks.iter().map(|b| swap(*b)).collect(),
                            default: swap(t.default),
                        };
                        self.lf.block_mut(tramp).instrs = vec![(table.into(), loc)];
                        out.push(at(Block { seq: tramp }));
                        out.extend(transfer.iter().rev().map(|l| at(LocalSet { local: *l })));
                        out.push(at(Br { block: lp }));
                        continue;
                    }
                    _ => {}
                }
                out.push((instr, loc));
            }
            self.lf.block_mut(seq).instrs = out;
        }
        Ok(())
    }

    /// After a block, loop or if: its results are on the stack. Unless they end the sequence,
    /// they move into locals, keeping a saved value when a rewind only passes through.
    fn after_structured(&mut self, st: &mut SeqState, results: &[ValType], last: bool) {
        st.target = Target::new(Kind::Guarded, Vec::new(), 0);
        if last && st.entries.is_empty() {
            // The results are exactly the sequence's results: leave them on the stack.
            for ty in results {
                st.entries.push(Entry {
                    ty: *ty,
                    loc: Loc::Real { mark: 0, above: 0 },
                });
            }
            st.target.height = results.len();
            st.target.last_zero = None;
            return;
        }
        let mut locals = Vec::with_capacity(results.len());
        for ty in results.iter().rev() {
            let l = self.locals.add(*ty);
            let typed = matches!(ty, ValType::Ref(_)).then_some(*ty);
            st.out.extend([
                at(LocalGet { local: l }),
                at(GlobalGet {
                    global: self.normal,
                }),
                at(Select { ty: typed }),
                at(LocalSet { local: l }),
            ]);
            locals.push(l);
        }
        for (ty, l) in results.iter().zip(locals.into_iter().rev()) {
            st.entries.push(Entry {
                ty: *ty,
                loc: Loc::Local(l),
            });
        }
    }

    /// Pushes `a <= rewind_index <= b` (a single comparison when `a == b`).
    fn range_check(&self, out: &mut Code, a: i32, b: i32) {
        out.push(at(GlobalGet {
            global: self.target,
        }));
        if a == b {
            out.push(at(i32c(a)));
            out.push(at(Binop {
                op: BinaryOp::I32Eq,
            }));
        } else {
            if a != 0 {
                out.push(at(i32c(a)));
                out.push(at(Binop {
                    op: BinaryOp::I32Sub,
                }));
            }
            out.push(at(i32c(b - a)));
            out.push(at(Binop {
                op: BinaryOp::I32LeU,
            }));
        }
    }

    fn site(&mut self, st: &mut SeqState, instr: Instr) -> Result<(), Error> {
        let eff = self.effect(st, &instr)?;
        let mut arm = self.close_segment(st, eff.pops)?;
        let k = self.sites.len() as i32;
        let then = self.lf.builder_mut().dangling_instr_seq(None).id();
        let els = self.lf.builder_mut().dangling_instr_seq(None).id();
        self.sites.push(then);
        self.guards.insert(then);
        // The unwind branch carries K to the save code as a value, so no local holding K is
        // live across the call.
        arm.extend([
            at(instr),
            at(i32c(k)),
            at(GlobalGet { global: self.state }),
            at(BrIf {
                block: self.placeholder,
            }),
            at(Drop {}),
        ]);
        // Run the call if K >= target: the target is 0 in the normal state and K's while
        // rewinding, when the sites before it (smaller K) are passed over.
        st.out.extend([
            at(i32c(k)),
            at(GlobalGet {
                global: self.target,
            }),
            at(Binop {
                op: BinaryOp::I32GeU,
            }),
            at(IfElse {
                consequent: then,
                alternative: els,
            }),
        ]);
        st.target = Target::new(Kind::Arm { then, els }, arm, 0);
        st.target.last_zero = None;
        self.push_real(st, &eff.pushes);
        if eff.pushes.is_empty() {
            st.target.last_zero = Some(st.target.code.len());
        }
        Ok(())
    }
}
