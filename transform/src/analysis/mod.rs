//! Which functions can change the asyncify state, computed once over the call graph.

pub(crate) mod callgraph;
pub(crate) mod liveness;
pub(crate) mod patterns;

use walrus::ir::{Instr, InstrLocId, InstrSeqId};
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

/// Whether `code` ends with the normal-state test, `global.get $normal`, that a guard's `if`
/// or a conditional store's `select` takes.
pub(crate) fn ends_with_normal_test(
    code: &[(Instr, InstrLocId)],
    normal: walrus::GlobalId,
) -> bool {
    matches!(code.last(), Some((Instr::GlobalGet(g), _)) if g.global == normal)
}

/// Instructions in a conditional store (see `is_conditional_store`).
pub(crate) const CONDITIONAL_STORE_LEN: usize = 4;

/// `local.get x; global.get $normal; select; local.set x` at `i`: the store of a result of a
/// block with sites that a rewind passes over (`x = state == normal ? v : x`). `$normal` is
/// the runtime's flag global that is 1 exactly in the normal state.
pub(crate) fn is_conditional_store(
    instrs: &[(Instr, walrus::ir::InstrLocId)],
    i: usize,
    x: walrus::LocalId,
    normal: walrus::GlobalId,
) -> bool {
    matches!(
        instrs.get(i + 1..i + CONDITIONAL_STORE_LEN),
        Some([
            (Instr::GlobalGet(g), _),
            (Instr::Select(_), _),
            (Instr::LocalSet(s), _),
        ]) if g.global == normal && s.local == x
    )
}

/// Rewrites every instruction sequence of `func`, one instruction at a time: `f` gets the
/// sequence's new code so far and pushes what replaces the instruction (the code of nested
/// sequences is rewritten too, whatever replaces their instruction).
pub(crate) fn rewrite_seqs(
    func: &mut LocalFunction,
    mut f: impl FnMut(&mut Vec<(Instr, InstrLocId)>, Instr, InstrLocId),
) {
    let mut work = vec![func.entry_block()];
    while let Some(seq) = work.pop() {
        let instrs = std::mem::take(&mut func.block_mut(seq).instrs);
        let mut out = Vec::with_capacity(instrs.len());
        for (instr, loc) in instrs {
            push_children(&instr, &mut work);
            f(&mut out, instr, loc);
        }
        func.block_mut(seq).instrs = out;
    }
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
