//! Save helpers shared by every function whose frame has the same slot types.
//!
//! A save stores each slot with `local.get $frame; local.get $x; T.store offset=o`, about 7
//! bytes a slot, after reserving the frame. Many frames have the same slot types (SQLite's
//! worst mode has 936 save blocks of 109 kinds: four i32 slots, 109 times), so one function per
//! kind, `save(k, v1, ..., vn)`, reserves the frame, stores its arguments and the site index
//! `k`, and each save becomes `local.get $x` per slot and a call: 2 bytes a slot.
//!
//! Instrumentation emits every save as a call of its kind's helper; `finish` then keeps the
//! helpers that make the module smaller (`pays`) and writes the others' code back in place of
//! their calls (the inline form above), so a kind used once costs nothing extra. A helper
//! reserves the frame itself (the allocation helper's code, inline), so an unwind makes one
//! call per frame either way.

use std::collections::HashMap;

use walrus::ir::*;
use walrus::{FunctionBuilder, FunctionId, LocalId, Module, TypeId, ValType};

use super::frame::{offsets, slot_store};
use super::{at, Code};
use crate::runtime::Runtime;

/// A frame kind: its slot types in layout order (see `frame::offsets`).
type Kind = Vec<ValType>;

/// The frame size of a kind: its slots and the index after them.
fn size(kind: &[ValType]) -> (Vec<u64>, u64) {
    let (offsets, bytes) = offsets(kind);
    (offsets, bytes + 4)
}

/// Whether a helper for `uses` saves of `slots` slots makes the module smaller. Each save
/// written inline costs about 14 + 5 bytes a slot more than a call (`c = K`, the reservation,
/// the frame address before each store but the first, the index's store); the helper costs
/// its body (the reservation inline, about 30 bytes, and 7 bytes a slot), its header and
/// perhaps a new type (25 + 8 a slot together).
fn pays(uses: usize, slots: usize) -> bool {
    uses * (11 + 5 * slots) > 55 + 8 * slots
}

struct Helper {
    func: FunctionId,
    uses: usize,
    /// The function type, when it was made for the helper (deleted with it).
    own_type: Option<TypeId>,
}

#[derive(Default)]
pub(crate) struct SaveHelpers {
    by_kind: HashMap<Kind, Helper>,
    /// The functions that call a helper, with their index and frame address locals.
    callers: Vec<(FunctionId, LocalId, LocalId)>,
}

impl SaveHelpers {
    /// The save of `slots` (in layout order), the site index below them on the stack: pushes
    /// each slot's local and calls the helper of their kind.
    pub fn save(
        &mut self,
        module: &mut Module,
        rt: &Runtime,
        slots: &[(LocalId, ValType)],
    ) -> Code {
        let kind: Kind = slots.iter().map(|(_, t)| *t).collect();
        let helper = self.by_kind.entry(kind).or_insert_with_key(|kind| {
            let mut params = vec![ValType::I32];
            params.extend(kind);
            let new_type = module.types.find(&params, &[]).is_none();
            let func = add_helper(module, rt, &params);
            let own_type = new_type.then(|| module.funcs.get(func).ty());
            Helper {
                func,
                uses: 0,
                own_type,
            }
        });
        helper.uses += 1;
        let mut code: Code = slots
            .iter()
            .map(|(l, _)| at(LocalGet { local: *l }))
            .collect();
        code.push(at(Call { func: helper.func }));
        code
    }

    /// Records that `func` (index local `c`, frame address local `p`) may call helpers.
    pub fn caller(&mut self, func: FunctionId, c: LocalId, p: LocalId) {
        self.callers.push((func, c, p));
    }

    /// Keeps the helpers that pay for themselves and writes the others' saves inline (then
    /// deletes them). Returns whether any code still calls the allocation helper.
    pub fn finish(self, module: &mut Module, rt: &Runtime) -> bool {
        let inline: HashMap<FunctionId, (&Kind, &Helper)> = (self.by_kind.iter())
            .filter(|(kind, h)| !pays(h.uses, kind.len()))
            .map(|(kind, h)| (h.func, (kind, h)))
            .collect();
        if inline.is_empty() {
            return false;
        }
        for &(func, c, p) in &self.callers {
            let walrus::FunctionKind::Local(lf) = &mut module.funcs.get_mut(func).kind else {
                continue;
            };
            crate::analysis::rewrite_seqs(lf, |out, instr, loc| {
                let kind = match &instr {
                    Instr::Call(call) => inline.get(&call.func).map(|(kind, _)| *kind),
                    _ => None,
                };
                let Some(kind) = kind else {
                    return out.push((instr, loc));
                };
                let gets = out.split_off(out.len() - kind.len());
                let slots: Vec<LocalId> = (gets.into_iter())
                    .map(|(i, _)| match i {
                        Instr::LocalGet(g) => g.local,
                        _ => unreachable!("a save pushes its slots' locals"),
                    })
                    .collect();
                // A save whose index is in `c` already pushed it from there.
                let in_c = matches!(out.last(), Some((Instr::LocalGet(g), _)) if g.local == c);
                if in_c {
                    out.pop();
                }
                out.extend(inline_save(rt, kind, &slots, c, p, !in_c));
            });
        }
        for (_, h) in inline.values() {
            module.funcs.delete(h.func);
            if let Some(ty) = h.own_type {
                module.types.delete(ty);
            }
        }
        true
    }
}

/// The inline form of a save: `c = K` (unless `set_c` is false: it is there already),
/// reserve the frame, store the slots and the index.
fn inline_save(
    rt: &Runtime,
    kind: &[ValType],
    slots: &[LocalId],
    c: LocalId,
    p: LocalId,
    set_c: bool,
) -> Code {
    let (offsets, size) = size(kind);
    let mut v = Vec::new();
    if set_c {
        v.push(at(LocalSet { local: c }));
    }
    v.push(at(Const {
        value: rt.abi.ptr_const(size),
    }));
    v.push(at(Call { func: rt.alloc }));
    for (i, ((l, t), o)) in slots.iter().zip(kind).zip(&offsets).enumerate() {
        v.push(at(if i == 0 {
            Instr::from(LocalTee { local: p })
        } else {
            Instr::from(LocalGet { local: p })
        }));
        v.push(at(LocalGet { local: *l }));
        v.push(at(slot_store(rt, *t, *o)));
    }
    if !slots.is_empty() {
        v.push(at(LocalGet { local: p }));
    }
    v.push(at(LocalGet { local: c }));
    v.push(at(slot_store(rt, ValType::I32, size - 4)));
    v
}

/// `save(k, v1, ..., vn)` (`params`: the index's type, then the slots'): reserves the frame
/// (trapping before any write if it does not fit), stores the values and the index.
fn add_helper(module: &mut Module, rt: &Runtime, params: &[ValType]) -> FunctionId {
    let kind = &params[1..];
    let mut b = FunctionBuilder::new(&mut module.types, params, &[]);
    let args: Vec<LocalId> = params.iter().map(|t| module.locals.add(*t)).collect();
    let frame = module.locals.add(rt.abi.ptr);
    let new_top = module.locals.add(rt.abi.ptr);
    let (offsets, size) = size(kind);
    let mut body = b.func_body();
    rt.abi.reserve(
        &mut body,
        |b| {
            b.const_(rt.abi.ptr_const(size));
        },
        frame,
        new_top,
    );
    for ((arg, t), o) in args[1..].iter().zip(kind).zip(offsets) {
        body.local_get(frame)
            .local_get(*arg)
            .instr(slot_store(rt, *t, o));
    }
    body.local_get(frame)
        .local_get(args[0])
        .instr(slot_store(rt, ValType::I32, size - 4));
    let name: String = kind
        .iter()
        .map(|t| match t {
            ValType::I32 => 'i',
            ValType::I64 => 'I',
            ValType::F32 => 'f',
            ValType::F64 => 'F',
            _ => 'v',
        })
        .collect();
    b.name(format!("__asyncify_save_{name}"));
    b.finish(args, &mut module.funcs)
}
