//! Which functions can change the asyncify state, computed once over the call graph.

pub(crate) mod callgraph;
pub(crate) mod liveness;
pub(crate) mod patterns;

use walrus::ir::{Instr, InstrSeqId};
use walrus::LocalFunction;

/// Visits every instruction of a function, iteratively (deeply nested real-world code must not
/// overflow the native stack).
pub(crate) fn for_each_instr(func: &LocalFunction, mut f: impl FnMut(&Instr)) {
    let mut stack: Vec<InstrSeqId> = vec![func.entry_block()];
    while let Some(seq) = stack.pop() {
        for (instr, _) in func.block(seq).instrs.iter() {
            f(instr);
            push_children(instr, &mut stack);
        }
    }
}

/// `local.get x; global.get $state; i32.eqz; select; local.set x` at `i`: the store of a
/// result of a block with sites that a rewind passes over (`x = state == normal ? v : x`).
pub(crate) fn is_conditional_store(
    instrs: &[(Instr, walrus::ir::InstrLocId)],
    i: usize,
    x: walrus::LocalId,
    state: walrus::GlobalId,
) -> bool {
    matches!(
        instrs.get(i + 1..i + 5),
        Some([
            (Instr::GlobalGet(g), _),
            (Instr::Unop(walrus::ir::Unop { op: walrus::ir::UnaryOp::I32Eqz }), _),
            (Instr::Select(_), _),
            (Instr::LocalSet(s), _),
        ]) if g.global == state && s.local == x
    )
}

/// The instruction sequences nested directly in `instr`.
pub(crate) fn push_children(instr: &Instr, out: &mut Vec<InstrSeqId>) {
    match instr {
        Instr::Block(b) => out.push(b.seq),
        Instr::Loop(l) => out.push(l.seq),
        Instr::IfElse(i) => {
            out.push(i.consequent);
            out.push(i.alternative);
        }
        Instr::TryTable(t) => out.push(t.seq),
        Instr::Try(t) => {
            out.push(t.seq);
            for c in &t.catches {
                match c {
                    walrus::ir::LegacyCatch::Catch { handler, .. }
                    | walrus::ir::LegacyCatch::CatchAll { handler } => out.push(*handler),
                    walrus::ir::LegacyCatch::Delegate { .. } => {}
                }
            }
        }
        _ => {}
    }
}
