//! Operand-stack effects of walrus instructions: how many values each pops, what it pushes,
//! whether control falls through, and whether it is *pure* (no side effect, cannot trap, does
//! not branch). Pure code may run again during a rewind with garbage inputs, so it needs no
//! guard; everything else is skipped while rewinding.

use walrus::ir::{
    AtomicWidth, BinaryOp, Const, Instr, InstrSeqType, LoadKind, LoadSimdKind, Value,
};
use walrus::{
    FunctionKind, LocalFunction, ModuleFunctions, ModuleGlobals, ModuleLocals, ModuleMemories,
    ModuleTables, ModuleTypes, RefType, ValType,
};

use super::ops::{binop_can_trap, binop_result, unop_can_trap, unop_result};

pub(crate) struct Effect {
    pub pops: usize,
    pub pushes: Vec<ValType>,
    /// Control does not fall through (br, return, unreachable, br_table, tail calls, throw).
    pub ends: bool,
    pub pure: bool,
}

impl Effect {
    fn new(pops: usize, pushes: Vec<ValType>) -> Self {
        Effect {
            pops,
            pushes,
            ends: false,
            pure: false,
        }
    }
    fn pure(pops: usize, pushes: Vec<ValType>) -> Self {
        Effect {
            pops,
            pushes,
            ends: false,
            pure: true,
        }
    }
    fn ends(pops: usize) -> Self {
        Effect {
            pops,
            pushes: Vec::new(),
            ends: true,
            pure: false,
        }
    }
}

/// Whether `op` can trap when `divisor` pushed its right operand (the instruction just
/// before it, when known). A division or remainder by a constant traps only when the constant
/// is zero, or -1 for a signed division (of the minimum value); clang leaves `x % 60` as an
/// `i32.rem_u` by 60, which then needs no guard around it.
pub(crate) fn binop_can_trap_after(op: BinaryOp, divisor: Option<&Instr>) -> bool {
    use BinaryOp::*;
    let d = match divisor {
        Some(Instr::Const(Const {
            value: Value::I32(v),
        })) => Some(i64::from(*v)),
        Some(Instr::Const(Const {
            value: Value::I64(v),
        })) => Some(*v),
        _ => None,
    };
    match (op, d) {
        (I32DivU | I32RemU | I32RemS | I64DivU | I64RemU | I64RemS, Some(d)) => d == 0,
        (I32DivS | I64DivS, Some(d)) => d == 0 || d == -1,
        _ => binop_can_trap(op),
    }
}

/// Module-level facts needed to type instructions.
pub(crate) struct TypeCx<'a> {
    pub funcs: &'a ModuleFunctions,
    pub globals: &'a ModuleGlobals,
    pub tables: &'a ModuleTables,
    pub memories: &'a ModuleMemories,
}

pub(crate) fn seq_sig(types: &ModuleTypes, ty: InstrSeqType) -> (Vec<ValType>, Vec<ValType>) {
    match ty {
        InstrSeqType::Simple(None) => (vec![], vec![]),
        InstrSeqType::Simple(Some(t)) => (vec![], vec![t]),
        InstrSeqType::MultiValue(id) => {
            let (p, r) = types.params_results(id);
            (p.to_vec(), r.to_vec())
        }
    }
}

impl TypeCx<'_> {
    fn func_sig(&self, types: &ModuleTypes, f: walrus::FunctionId) -> (usize, Vec<ValType>) {
        let ty = match &self.funcs.get(f).kind {
            FunctionKind::Import(i) => i.ty,
            FunctionKind::Local(l) => l.ty(),
            FunctionKind::Uninitialized(t) => *t,
        };
        let (p, r) = types.params_results(ty);
        (p.len(), r.to_vec())
    }

    fn addr(&self, m: walrus::MemoryId) -> ValType {
        if self.memories.get(m).memory64 {
            ValType::I64
        } else {
            ValType::I32
        }
    }

    fn table_idx(&self, t: walrus::TableId) -> ValType {
        if self.tables.get(t).table64 {
            ValType::I64
        } else {
            ValType::I32
        }
    }

    /// The values a branch to `seq` carries: a loop's parameters, otherwise its results.
    pub fn label_arity(
        &self,
        types: &ModuleTypes,
        func: &LocalFunction,
        is_loop: bool,
        seq: walrus::ir::InstrSeqId,
    ) -> usize {
        let (p, r) = seq_sig(types, func.block(seq).ty);
        if is_loop {
            p.len()
        } else {
            r.len()
        }
    }

    /// The effect of `instr`. `below` is the operand stack's types (top last), needed only
    /// by an untyped `select`. `Err` names an instruction the transform does not handle.
    #[allow(clippy::too_many_arguments)]
    pub fn effect(
        &self,
        types: &ModuleTypes,
        locals: &ModuleLocals,
        func: &LocalFunction,
        is_loop: &dyn Fn(walrus::ir::InstrSeqId) -> bool,
        fn_results: usize,
        instr: &Instr,
        below: &[ValType],
    ) -> Result<Effect, &'static str> {
        use ValType::*;
        let arity = |seq| self.label_arity(types, func, is_loop(seq), seq);
        Ok(match instr {
            Instr::Block(b) => {
                let (p, r) = seq_sig(types, func.block(b.seq).ty);
                Effect::new(p.len(), r)
            }
            Instr::Loop(l) => {
                let (p, r) = seq_sig(types, func.block(l.seq).ty);
                Effect::new(p.len(), r)
            }
            Instr::IfElse(e) => {
                let (p, r) = seq_sig(types, func.block(e.consequent).ty);
                Effect::new(p.len() + 1, r)
            }
            Instr::Call(c) => {
                let (p, r) = self.func_sig(types, c.func);
                Effect::new(p, r)
            }
            Instr::CallIndirect(c) => {
                let (p, r) = types.params_results(c.ty);
                Effect::new(p.len() + 1, r.to_vec())
            }
            Instr::ReturnCall(c) => Effect::ends(self.func_sig(types, c.func).0),
            Instr::ReturnCallIndirect(c) => Effect::ends(types.params(c.ty).len() + 1),
            Instr::CallRef(c) => {
                let (p, r) = types.params_results(c.ty);
                Effect::new(p.len() + 1, r.to_vec())
            }
            Instr::ReturnCallRef(c) => Effect::ends(types.params(c.ty).len() + 1),
            Instr::LocalGet(g) => Effect::pure(0, vec![locals.get(g.local).ty()]),
            Instr::LocalSet(_) => Effect::new(1, vec![]),
            Instr::LocalTee(t) => Effect::new(1, vec![locals.get(t.local).ty()]),
            Instr::GlobalGet(g) => Effect::pure(0, vec![self.globals.get(g.global).ty]),
            Instr::GlobalSet(_) => Effect::new(1, vec![]),
            Instr::Const(c) => Effect::pure(
                0,
                vec![match c.value {
                    walrus::ir::Value::I32(_) => I32,
                    walrus::ir::Value::I64(_) => I64,
                    walrus::ir::Value::F32(_) => F32,
                    walrus::ir::Value::F64(_) => F64,
                    walrus::ir::Value::V128(_) => V128,
                }],
            ),
            Instr::TernOp(_) => Effect::pure(3, vec![V128]),
            Instr::Binop(b) => Effect {
                pure: !binop_can_trap(b.op),
                ..Effect::new(2, vec![binop_result(b.op)])
            },
            Instr::Unop(u) => Effect {
                pure: !unop_can_trap(u.op),
                ..Effect::new(1, vec![unop_result(u.op)])
            },
            Instr::Select(s) => {
                let ty = match s.ty {
                    Some(t) => t,
                    None => *below.iter().rev().nth(1).ok_or("select on a short stack")?,
                };
                Effect::pure(3, vec![ty])
            }
            Instr::Unreachable(_) => Effect::ends(0),
            Instr::Br(b) => Effect::ends(arity(b.block)),
            Instr::BrIf(b) => {
                let n = arity(b.block);
                let tys = below[below
                    .len()
                    .checked_sub(n + 1)
                    .ok_or("br_if on a short stack")?
                    ..below.len() - 1]
                    .to_vec();
                Effect::new(n + 1, tys)
            }
            Instr::BrTable(t) => Effect::ends(arity(t.default) + 1),
            Instr::Drop(_) => Effect::pure(1, vec![]),
            Instr::Return(_) => Effect::ends(fn_results),
            Instr::MemorySize(m) => Effect::pure(0, vec![self.addr(m.memory)]),
            Instr::MemoryGrow(m) => Effect::new(1, vec![self.addr(m.memory)]),
            Instr::MemoryInit(_) | Instr::MemoryCopy(_) | Instr::MemoryFill(_) => {
                Effect::new(3, vec![])
            }
            Instr::DataDrop(_) | Instr::ElemDrop(_) | Instr::AtomicFence(_) => {
                Effect::new(0, vec![])
            }
            Instr::Load(l) => Effect::new(
                1,
                vec![match l.kind {
                    LoadKind::I32 { .. } | LoadKind::I32_8 { .. } | LoadKind::I32_16 { .. } => I32,
                    LoadKind::I64 { .. }
                    | LoadKind::I64_8 { .. }
                    | LoadKind::I64_16 { .. }
                    | LoadKind::I64_32 { .. } => I64,
                    LoadKind::F32 => F32,
                    LoadKind::F64 => F64,
                    LoadKind::V128 => V128,
                }],
            ),
            Instr::Store(_) => Effect::new(2, vec![]),
            Instr::AtomicRmw(a) => Effect::new(2, vec![width(a.width)]),
            Instr::Cmpxchg(c) => Effect::new(3, vec![width(c.width)]),
            Instr::AtomicNotify(_) => Effect::new(2, vec![I32]),
            Instr::AtomicWait(_) => Effect::new(3, vec![I32]),
            Instr::TableGet(t) => Effect::new(1, vec![Ref(self.tables.get(t.table).element_ty)]),
            Instr::TableSet(_) => Effect::new(2, vec![]),
            Instr::TableGrow(t) => Effect::new(2, vec![self.table_idx(t.table)]),
            Instr::TableSize(t) => Effect::pure(0, vec![self.table_idx(t.table)]),
            Instr::TableFill(_) | Instr::TableInit(_) | Instr::TableCopy(_) => {
                Effect::new(3, vec![])
            }
            Instr::RefNull(r) => Effect::pure(0, vec![Ref(r.ty)]),
            Instr::RefIsNull(_) => Effect::pure(1, vec![I32]),
            Instr::RefFunc(_) => Effect::pure(0, vec![Ref(RefType::FUNCREF)]),
            Instr::I64Add128(_) | Instr::I64Sub128(_) => Effect::pure(4, vec![I64, I64]),
            Instr::I64MulWideS(_) | Instr::I64MulWideU(_) => Effect::pure(2, vec![I64, I64]),
            Instr::V128Bitselect(_) => Effect::pure(3, vec![V128]),
            Instr::I8x16Swizzle(_) | Instr::I8x16Shuffle(_) => Effect::pure(2, vec![V128]),
            Instr::LoadSimd(l) => match l.kind {
                LoadSimdKind::V128Store8Lane(_)
                | LoadSimdKind::V128Store16Lane(_)
                | LoadSimdKind::V128Store32Lane(_)
                | LoadSimdKind::V128Store64Lane(_) => Effect::new(2, vec![]),
                LoadSimdKind::V128Load8Lane(_)
                | LoadSimdKind::V128Load16Lane(_)
                | LoadSimdKind::V128Load32Lane(_)
                | LoadSimdKind::V128Load64Lane(_) => Effect::new(2, vec![V128]),
                _ => Effect::new(1, vec![V128]),
            },
            Instr::TryTable(_)
            | Instr::Try(_)
            | Instr::Throw(_)
            | Instr::ThrowRef(_)
            | Instr::Rethrow(_) => return Err("exception handling"),
            _ => return Err("a GC or typed-reference instruction"),
        })
    }
}

fn width(w: AtomicWidth) -> ValType {
    match w {
        AtomicWidth::I32 | AtomicWidth::I32_8 | AtomicWidth::I32_16 => ValType::I32,
        _ => ValType::I64,
    }
}

#[cfg(test)]
mod tests {
    use super::binop_can_trap_after;
    use walrus::ir::{BinaryOp::*, Const, Instr, LocalGet, Value};

    #[test]
    fn division_by_a_constant_traps_only_by_zero_or_signed_by_minus_one() {
        let c = |value| Instr::Const(Const { value });
        let traps = |op, divisor: Instr| binop_can_trap_after(op, Some(&divisor));
        assert!(!traps(I32RemU, c(Value::I32(60))));
        assert!(!traps(I64DivU, c(Value::I64(-1))));
        assert!(!traps(I32DivS, c(Value::I32(7))));
        assert!(
            !traps(I32RemS, c(Value::I32(-1))),
            "rem_s by -1 is 0 in wasm"
        );
        assert!(traps(I32DivS, c(Value::I32(-1))), "MIN / -1 overflows");
        assert!(traps(I64DivS, c(Value::I64(-1))));
        assert!(traps(I32DivU, c(Value::I32(0))));
        assert!(traps(I64RemS, c(Value::I64(0))));
        let mut locals = walrus::ModuleLocals::default();
        let local = locals.add(walrus::ValType::I32);
        assert!(traps(I32DivU, Instr::LocalGet(LocalGet { local })));
        assert!(binop_can_trap_after(I32RemU, None));
        assert!(!binop_can_trap_after(I32Add, None));
    }
}
