//! Control flow and the operand stack: rewrites each instruction sequence of a function that
//! can change state so that it can skip forward to a pause site while rewinding.
//!
//! A sequence is split at its *pausing instructions*: calls that may unwind ("sites", numbered
//! in textual order) and blocks/loops/ifs that contain one. The code between them is a
//! *segment*. A segment with side effects, traps or branches is wrapped in
//! `if (state == normal) .. else <zeros> end`, so a rewind skips it; a pure segment runs as is.
//! A site becomes `if (state == normal || rewind_index == K) call .. end`, followed by
//! `br_if` to the unwind code when the state says unwinding. An `if` that contains sites picks
//! its arm from the saved index while rewinding (the sites of each arm have contiguous numbers),
//! so its condition never needs saving.
//!
//! Invariant at a pausing instruction: the operand stack holds exactly its inputs. Values that
//! lie below them (they survive the pause) are moved into fresh locals right after they are
//! produced, so liveness saves them like any other local; they are reloaded when needed.

use std::collections::HashMap;

use walrus::ir::*;
use walrus::{LocalFunction, LocalId, ModuleLocals, ModuleTypes, ValType};

use super::stack::{seq_sig, TypeCx};
use super::zero;
use crate::Error;

#[derive(Clone, Copy)]
enum Loc {
    /// On the operand stack; `mark` is the output position right after the instruction that
    /// pushed it, `above` how many values that instruction pushed above this one.
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

struct Segment {
    start: usize,
    /// Types on the operand stack at the segment start (all of it is the segment's input).
    start_types: Vec<ValType>,
    /// Lowest operand-stack height reached in the segment.
    min: usize,
    impure: bool,
}

struct SeqState {
    out: Vec<(Instr, InstrLocId)>,
    entries: Vec<Entry>,
    height: usize,
    seg: Segment,
    groups: HashMap<usize, Vec<ValType>>,
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
    /// The rewind index (`K` of the site being rewound to).
    pub r: LocalId,
    /// Stand-in branch target for unwinds, patched once the save blocks exist.
    pub placeholder: InstrSeqId,
    pub loops: std::collections::HashSet<InstrSeqId>,
    pub has_site: std::collections::HashSet<InstrSeqId>,
    /// Per site `K`: the sequence holding its call (call at 0, unwind `br_if` at 3).
    pub sites: Vec<InstrSeqId>,
}

fn at(i: impl Into<Instr>) -> (Instr, InstrLocId) {
    (i.into(), InstrLocId::default())
}

fn i32c(v: i32) -> (Instr, InstrLocId) {
    at(Const {
        value: Value::I32(v),
    })
}

impl Flow<'_> {
    fn err(&self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            function: self.fn_name.to_string(),
            what: what.into(),
        }
    }

    fn new_local(&mut self, ty: ValType) -> LocalId {
        self.locals.add(ty)
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
        self.process_seq(entry, &[], &results)
    }

    fn process_seq(
        &mut self,
        seq: InstrSeqId,
        params: &[ValType],
        results: &[ValType],
    ) -> Result<(), Error> {
        let instrs = std::mem::take(&mut self.lf.block_mut(seq).instrs);
        let mut st = SeqState {
            out: Vec::with_capacity(instrs.len() + 8),
            entries: Vec::new(),
            height: 0,
            seg: Segment {
                start: 0,
                start_types: params.to_vec(),
                min: params.len(),
                impure: false,
            },
            groups: HashMap::new(),
            unreachable: false,
        };
        push_real(&mut st, params);
        for (instr, loc) in instrs {
            if st.unreachable {
                break;
            }
            if self.pauses(&instr) {
                self.pausing(&mut st, instr)?;
            } else {
                self.plain(&mut st, instr, loc)?;
            }
        }
        if st.unreachable {
            st.seg.min = 0;
            self.wrap_segment(&mut st, results)?;
        } else {
            let n = st.entries.len();
            self.materialize(&mut st, n);
            let end_types: Vec<ValType> = st.entries.iter().map(|e| e.ty).collect();
            let results = end_types[st.seg.min..].to_vec();
            self.wrap_segment(&mut st, &results)?;
        }
        self.lf.block_mut(seq).instrs = st.out;
        Ok(())
    }

    fn effect(&self, st: &SeqState, instr: &Instr) -> Result<super::stack::Effect, Error> {
        let below: Vec<ValType> = st
            .entries
            .iter()
            .rev()
            .take(3)
            .rev()
            .map(|e| e.ty)
            .collect();
        let below = if matches!(instr, Instr::BrIf(_)) {
            st.entries.iter().map(|e| e.ty).collect()
        } else {
            below
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

    fn plain(&mut self, st: &mut SeqState, instr: Instr, loc: InstrLocId) -> Result<(), Error> {
        let eff = self.effect(st, &instr)?;
        self.materialize(st, eff.pops);
        pop(st, eff.pops);
        st.out.push((instr, loc));
        st.seg.impure |= !eff.pure;
        if eff.ends {
            st.unreachable = true;
        } else {
            push_real(st, &eff.pushes);
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
                let t = self.new_local(st.entries[j].ty);
                st.out.push(at(LocalSet { local: t }));
                st.entries[j].loc = Loc::Local(t);
                st.height -= 1;
                st.seg.impure = true;
            }
        }
        st.seg.min = st.seg.min.min(st.height);
        for j in first..n {
            let Loc::Local(l) = st.entries[j].loc else {
                unreachable!()
            };
            st.out.push(at(LocalGet { local: l }));
            st.entries[j].loc = Loc::Real {
                mark: st.out.len(),
                above: 0,
            };
            st.height += 1;
        }
    }

    /// Ends the current segment before a pausing instruction with `n` inputs: the inputs are
    /// on the stack, everything below them is in locals, and the segment is guarded if needed.
    fn close_segment(&mut self, st: &mut SeqState, n: usize) -> Result<(), Error> {
        self.materialize(st, n);
        let below = st.entries.len() - n;
        if let Some(t) = (0..below)
            .rev()
            .find(|&j| matches!(st.entries[j].loc, Loc::Real { .. }))
        {
            let Loc::Real { mark, above } = st.entries[t].loc else {
                unreachable!()
            };
            let above_tys: Vec<ValType> = if above > 0 {
                let g = &st.groups[&mark];
                g[g.len() - above..].to_vec()
            } else {
                Vec::new()
            };
            let tmps: Vec<LocalId> = above_tys.iter().map(|t| self.new_local(*t)).collect();
            let mut ins: Vec<(Instr, InstrLocId)> = Vec::new();
            for l in tmps.iter().rev() {
                ins.push(at(LocalSet { local: *l }));
            }
            for j in (0..=t).rev() {
                if let Loc::Real { .. } = st.entries[j].loc {
                    let ty = st.entries[j].ty;
                    if let ValType::Ref(_) = ty {
                        return Err(
                            self.err("a reference value on the operand stack across a pause")
                        );
                    }
                    let l = self.new_local(ty);
                    ins.push(at(LocalSet { local: l }));
                    st.entries[j].loc = Loc::Local(l);
                }
            }
            for l in tmps {
                ins.push(at(LocalGet { local: l }));
            }
            st.out.splice(mark..mark, ins);
            st.seg.min = 0;
            st.seg.impure = true;
            st.height = n;
        }
        // The stack now holds exactly the inputs. The part of it below the segment's lowest
        // point was there before the segment started and stays below the guard.
        let results: Vec<ValType> = st.entries[below + st.seg.min..]
            .iter()
            .map(|e| e.ty)
            .collect();
        self.wrap_segment(st, &results)
    }

    /// Wraps the current segment (`out[seg.start..]`) in a state guard when it is impure.
    fn wrap_segment(&mut self, st: &mut SeqState, results: &[ValType]) -> Result<(), Error> {
        if !st.seg.impure || st.out.len() == st.seg.start {
            return Ok(());
        }
        let params = st.seg.start_types[st.seg.min..].to_vec();
        let body = st.out.split_off(st.seg.start);
        let ty = InstrSeqType::new(self.types, &params, results);
        let then = self.lf.builder_mut().dangling_instr_seq(ty).id();
        self.lf.block_mut(then).instrs = body;
        let mut skip: Vec<(Instr, InstrLocId)> = params.iter().map(|_| at(Drop {})).collect();
        for t in results {
            skip.push(at(self.zero(*t)?));
        }
        let els = self.lf.builder_mut().dangling_instr_seq(ty).id();
        self.lf.block_mut(els).instrs = skip;
        st.out.push(at(GlobalGet { global: self.state }));
        st.out.push(at(Unop {
            op: UnaryOp::I32Eqz,
        }));
        st.out.push(at(IfElse {
            consequent: then,
            alternative: els,
        }));
        Ok(())
    }

    fn zero(&self, t: ValType) -> Result<Instr, Error> {
        zero(t).ok_or_else(|| self.err("a non-nullable reference value around a pause"))
    }

    fn start_segment(&mut self, st: &mut SeqState, outputs: &[ValType]) {
        st.groups.clear();
        st.seg = Segment {
            start: st.out.len(),
            start_types: outputs.to_vec(),
            min: outputs.len(),
            impure: false,
        };
        push_real(st, outputs);
    }

    fn pausing(&mut self, st: &mut SeqState, instr: Instr) -> Result<(), Error> {
        match instr {
            Instr::Call(_) | Instr::CallIndirect(_) => self.site(st, instr),
            Instr::Block(Block { seq }) | Instr::Loop(Loop { seq }) => {
                let (params, results) = seq_sig(self.types, self.lf.block(seq).ty);
                self.close_segment(st, params.len())?;
                pop(st, params.len());
                self.process_seq(seq, &params, &results)?;
                st.out.push(at(instr));
                self.start_segment(st, &results);
                Ok(())
            }
            Instr::IfElse(IfElse {
                consequent,
                alternative,
            }) => {
                let (params, results) = seq_sig(self.types, self.lf.block(consequent).ty);
                self.close_segment(st, params.len() + 1)?;
                pop(st, params.len() + 1);
                let a = self.sites.len() as i32;
                self.process_seq(consequent, &params, &results)?;
                let m = self.sites.len() as i32;
                self.process_seq(alternative, &params, &results)?;
                let b = self.sites.len() as i32;
                if m > a {
                    self.range_check(st, a, m - 1);
                } else {
                    self.range_check(st, m, b - 1);
                    st.out.push(at(Unop {
                        op: UnaryOp::I32Eqz,
                    }));
                }
                st.out.push(at(GlobalGet { global: self.state }));
                st.out.push(at(Unop {
                    op: UnaryOp::I32Eqz,
                }));
                st.out.push(at(Select { ty: None }));
                st.out.push(at(IfElse {
                    consequent,
                    alternative,
                }));
                self.start_segment(st, &results);
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

    /// Pushes `a <= rewind_index <= b` (a single comparison when `a == b`).
    fn range_check(&self, st: &mut SeqState, a: i32, b: i32) {
        st.out.push(at(LocalGet { local: self.r }));
        if a == b {
            st.out.push(i32c(a));
            st.out.push(at(Binop {
                op: BinaryOp::I32Eq,
            }));
        } else {
            if a != 0 {
                st.out.push(i32c(a));
                st.out.push(at(Binop {
                    op: BinaryOp::I32Sub,
                }));
            }
            st.out.push(i32c(b - a));
            st.out.push(at(Binop {
                op: BinaryOp::I32LeU,
            }));
        }
    }

    fn site(&mut self, st: &mut SeqState, instr: Instr) -> Result<(), Error> {
        let eff = self.effect(st, &instr)?;
        let n = eff.pops;
        self.close_segment(st, n)?;
        let inputs: Vec<ValType> = st.entries[st.entries.len() - n..]
            .iter()
            .map(|e| e.ty)
            .collect();
        pop(st, n);
        let k = self.sites.len() as i32;
        let ty = InstrSeqType::new(self.types, &inputs, &eff.pushes);
        let call = self.lf.builder_mut().dangling_instr_seq(ty).id();
        self.lf.block_mut(call).instrs = vec![
            at(instr),
            i32c(k),
            at(GlobalGet { global: self.state }),
            at(BrIf {
                block: self.placeholder,
            }),
            at(Drop {}),
        ];
        let mut skip: Vec<(Instr, InstrLocId)> = inputs.iter().map(|_| at(Drop {})).collect();
        for t in &eff.pushes {
            skip.push(at(self.zero(*t)?));
        }
        let els = self.lf.builder_mut().dangling_instr_seq(ty).id();
        self.lf.block_mut(els).instrs = skip;
        self.sites.push(call);
        st.out.extend([
            at(GlobalGet { global: self.state }),
            at(Unop {
                op: UnaryOp::I32Eqz,
            }),
            at(LocalGet { local: self.r }),
            i32c(k),
            at(Binop {
                op: BinaryOp::I32Eq,
            }),
            at(Binop {
                op: BinaryOp::I32Or,
            }),
            at(IfElse {
                consequent: call,
                alternative: els,
            }),
        ]);
        self.start_segment(st, &eff.pushes);
        Ok(())
    }
}

fn push_real(st: &mut SeqState, tys: &[ValType]) {
    let mark = st.out.len();
    if tys.len() > 1 {
        st.groups.insert(mark, tys.to_vec());
    }
    for (i, t) in tys.iter().enumerate() {
        st.entries.push(Entry {
            ty: *t,
            loc: Loc::Real {
                mark,
                above: tys.len() - 1 - i,
            },
        });
    }
    st.height += tys.len();
}

fn pop(st: &mut SeqState, n: usize) {
    st.entries.truncate(st.entries.len() - n);
    st.height -= n;
    st.seg.min = st.seg.min.min(st.height);
}
