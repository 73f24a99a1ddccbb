//! Frames: what an unwinding function writes to the asyncify stack, and how it reads it back.
//!
//! Every site saves exactly the locals live after it, followed by its i32 index. Two layouts
//! produce that, and each function gets the smaller code:
//! - **per set**: one compact layout per distinct live set, with straight-line save and restore
//!   code for each. Best when a function has few distinct sets.
//! - **masked**: one slot per local live at any site; each site's bitmask says which slots it
//!   writes, and one shared piece of code saves (or restores) the slots whose bit is set. Best
//!   when many sites have different sets (interpreter loops, `printf`), where per-set code would
//!   repeat the same stores dozens of times.

use walrus::ir::*;
use walrus::{LocalFunction, LocalId, Module, ValType};

use crate::runtime::Runtime;

type Code = Vec<(Instr, InstrLocId)>;

fn at(i: impl Into<Instr>) -> (Instr, InstrLocId) {
    (i.into(), InstrLocId::default())
}

fn width(t: ValType) -> u64 {
    match t {
        ValType::I32 | ValType::F32 => 4,
        ValType::I64 | ValType::F64 => 8,
        ValType::V128 => 16,
        ValType::Ref(_) => unreachable!("reference locals are rejected before layout"),
    }
}

fn store_kind(t: ValType) -> StoreKind {
    match t {
        ValType::I32 => StoreKind::I32 { atomic: false },
        ValType::I64 => StoreKind::I64 { atomic: false },
        ValType::F32 => StoreKind::F32,
        ValType::F64 => StoreKind::F64,
        _ => StoreKind::V128,
    }
}

fn load_kind(t: ValType) -> LoadKind {
    match t {
        ValType::I32 => LoadKind::I32 { atomic: false },
        ValType::I64 => LoadKind::I64 { atomic: false },
        ValType::F32 => LoadKind::F32,
        ValType::F64 => LoadKind::F64,
        _ => LoadKind::V128,
    }
}

/// A local's slot: the local, its type, its offset in the frame.
type Slot = (LocalId, ValType, u64);

/// Locals laid out largest first (so they stay aligned when the frame is), at their offsets.
fn layout(module: &Module, set: &[LocalId]) -> (Vec<Slot>, u64) {
    let mut locals: Vec<(LocalId, ValType)> = set
        .iter()
        .map(|l| (*l, module.locals.get(*l).ty()))
        .collect();
    locals.sort_by_key(|(_, t)| std::cmp::Reverse(width(*t)));
    let mut offset = 0;
    let slots = locals
        .into_iter()
        .map(|(l, t)| {
            let o = offset;
            offset += width(t);
            (l, t, o)
        })
        .collect();
    (slots, offset)
}

fn uleb_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn sleb_len(v: i32) -> usize {
    let mut v = v as i64;
    let mut n = 1;
    while !(-64..64).contains(&v) {
        v >>= 7;
        n += 1;
    }
    n
}

/// Bytes of `local.get p; local.get x; store offset=o` (and the load/set mirror).
fn slot_bytes(o: u64) -> usize {
    6 + uleb_len(o)
}

pub(crate) enum Frames {
    /// Per set: its slots and its size (index included).
    PerSet(Vec<(Vec<Slot>, u64)>),
    Masked {
        slots: Vec<Slot>,
        /// Slot bytes plus the index.
        size: u64,
        /// Per set: one 32-bit word per 32 slots.
        masks: Vec<Vec<i32>>,
        words: Vec<LocalId>,
    },
}

impl Frames {
    /// Picks the layout with the smaller code for these live sets.
    pub fn choose(module: &mut Module, sets: &[Vec<LocalId>]) -> Frames {
        let per_set: Vec<_> = sets.iter().map(|s| layout(module, s)).collect();
        let per_set_bytes: usize = per_set
            .iter()
            .map(|(slots, size)| {
                let body: usize = slots.iter().map(|(_, _, o)| slot_bytes(*o) + 2).sum();
                2 * body + 16 + uleb_len(*size)
            })
            .sum();
        let mut union: Vec<LocalId> = sets.iter().flatten().copied().collect();
        union.sort();
        union.dedup();
        let (slots, bytes) = layout(module, &union);
        let nwords = slots.len().div_ceil(32);
        let masks: Vec<Vec<i32>> = sets
            .iter()
            .map(|set| {
                let mut m = vec![0i32; nwords];
                for (i, (l, _, _)) in slots.iter().enumerate() {
                    if set.contains(l) {
                        m[i / 32] |= 1 << (i % 32);
                    }
                }
                m
            })
            .collect();
        let tests: usize = slots
            .iter()
            .enumerate()
            .map(|(i, (_, _, o))| 2 * (2 + sleb_len(1 << (i % 32)) + 1 + 3 + slot_bytes(*o) + 2))
            .sum();
        let stubs: usize = masks
            .iter()
            .map(|m| 2 * m.iter().map(|w| 3 + sleb_len(*w)).sum::<usize>() + 6)
            .sum();
        if per_set.len() > 1 && tests + stubs + 20 < per_set_bytes {
            let words = (0..nwords)
                .map(|_| module.locals.add(ValType::I32))
                .collect();
            Frames::Masked {
                slots,
                size: bytes + 4,
                masks,
                words,
            }
        } else {
            Frames::PerSet(per_set.into_iter().map(|(s, b)| (s, b + 4)).collect())
        }
    }

    pub fn sets(&self) -> usize {
        match self {
            Frames::PerSet(f) => f.len(),
            Frames::Masked { masks, .. } => masks.len(),
        }
    }

    /// With a single per-set layout: its (save, restore) code, the index coming from `c`.
    pub fn single(&self, rt: &Runtime, c: LocalId, p: LocalId) -> Option<(Code, Code)> {
        match self {
            Frames::PerSet(frames) if frames.len() == 1 => {
                let (slots, size) = &frames[0];
                Some((
                    save_slots(rt, slots, *size, c, p, None),
                    restore_slots(rt, slots, *size, p, None),
                ))
            }
            _ => None,
        }
    }

    /// Code for set `j`, with the site index in `r`: for per-set frames the whole save (then
    /// `return`) or restore, depending on the state; for masked frames just the masks.
    pub fn stub(
        &self,
        lf: &mut LocalFunction,
        rt: &Runtime,
        j: usize,
        r: LocalId,
        p: LocalId,
        zeros: &[(Instr, InstrLocId)],
    ) -> Code {
        match self {
            Frames::PerSet(frames) => {
                let (slots, size) = &frames[j];
                let save = save_slots(rt, slots, *size, r, p, None);
                let restore = restore_slots(rt, slots, *size, p, None);
                by_state(lf, rt, save, restore, zeros)
            }
            Frames::Masked { masks, words, .. } => set_masks(&masks[j], words),
        }
    }

    /// Code shared by all sets, after the stub.
    pub fn common(
        &self,
        lf: &mut LocalFunction,
        rt: &Runtime,
        r: LocalId,
        p: LocalId,
        zeros: &[(Instr, InstrLocId)],
    ) -> Code {
        match self {
            Frames::PerSet(_) => Vec::new(),
            Frames::Masked {
                slots, size, words, ..
            } => {
                let save = save_slots(rt, slots, *size, r, p, Some((&mut *lf, words)));
                let restore = restore_slots(rt, slots, *size, p, Some((&mut *lf, words)));
                by_state(lf, rt, save, restore, zeros)
            }
        }
    }
}

/// `if (state == unwinding) { save; return zeros } else { restore }`.
fn by_state(
    lf: &mut LocalFunction,
    rt: &Runtime,
    mut save: Code,
    restore: Code,
    zeros: &[(Instr, InstrLocId)],
) -> Code {
    save.extend(zeros.iter().cloned());
    save.push(at(Return {}));
    let then = lf.builder_mut().dangling_instr_seq(None).id();
    lf.block_mut(then).instrs = save;
    let els = lf.builder_mut().dangling_instr_seq(None).id();
    lf.block_mut(els).instrs = restore;
    vec![
        at(GlobalGet {
            global: rt.abi.state,
        }),
        at(Const {
            value: Value::I32(crate::runtime::STATE_UNWINDING),
        }),
        at(Binop {
            op: BinaryOp::I32Eq,
        }),
        at(IfElse {
            consequent: then,
            alternative: els,
        }),
    ]
}

fn set_masks(mask: &[i32], words: &[LocalId]) -> Code {
    mask.iter()
        .zip(words)
        .flat_map(|(m, w)| {
            [
                at(Const {
                    value: Value::I32(*m),
                }),
                at(LocalSet { local: *w }),
            ]
        })
        .collect()
}

/// Wraps `code` in `if (word & bit)` for slot `i` of a masked frame.
fn when_bit(lf: &mut LocalFunction, words: &[LocalId], i: usize, code: Code) -> Code {
    vec![
        at(LocalGet {
            local: words[i / 32],
        }),
        at(Const {
            value: Value::I32(1 << (i % 32)),
        }),
        at(Binop {
            op: BinaryOp::I32And,
        }),
        at(super::if_then(lf, code)),
    ]
}

/// Reserves the frame (trapping before any write if it does not fit), stores the slots (only
/// those whose mask bit is set, for a masked frame) and the index.
fn save_slots(
    rt: &Runtime,
    slots: &[Slot],
    size: u64,
    r: LocalId,
    p: LocalId,
    mut masked: Option<(&mut LocalFunction, &Vec<LocalId>)>,
) -> Code {
    let mut v = vec![
        at(Const {
            value: rt.abi.ptr_const(size),
        }),
        at(Call { func: rt.alloc }),
        at(LocalSet { local: p }),
    ];
    for (i, &(l, t, o)) in slots.iter().enumerate() {
        let arg = MemArg {
            align: width(t) as u32,
            offset: o,
        };
        let store = vec![
            at(LocalGet { local: p }),
            at(LocalGet { local: l }),
            at(Store {
                memory: rt.abi.memory,
                kind: store_kind(t),
                arg,
            }),
        ];
        match masked.as_mut() {
            Some((lf, words)) => v.extend(when_bit(lf, words, i, store)),
            None => v.extend(store),
        }
    }
    v.push(at(LocalGet { local: p }));
    v.push(at(LocalGet { local: r }));
    let arg = MemArg {
        align: 4,
        offset: size - 4,
    };
    v.push(at(Store {
        memory: rt.abi.memory,
        kind: StoreKind::I32 { atomic: false },
        arg,
    }));
    v
}

/// Pops the frame and loads the slots (only those whose bit is set, for a masked frame).
fn restore_slots(
    rt: &Runtime,
    slots: &[Slot],
    size: u64,
    p: LocalId,
    mut masked: Option<(&mut LocalFunction, &Vec<LocalId>)>,
) -> Code {
    let mut v = vec![
        at(Const {
            value: rt.abi.ptr_const(size),
        }),
        at(Call { func: rt.pop }),
    ];
    if slots.is_empty() {
        v.push(at(Drop {}));
        return v;
    }
    v.push(at(LocalSet { local: p }));
    for (i, &(l, t, o)) in slots.iter().enumerate() {
        let arg = MemArg {
            align: width(t) as u32,
            offset: o,
        };
        let load = vec![
            at(LocalGet { local: p }),
            at(Load {
                memory: rt.abi.memory,
                kind: load_kind(t),
                arg,
            }),
            at(LocalSet { local: l }),
        ];
        match masked.as_mut() {
            Some((lf, words)) => v.extend(when_bit(lf, words, i, load)),
            None => v.extend(load),
        }
    }
    v
}
