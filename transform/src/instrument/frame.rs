//! Frames: what an unwinding function writes to the asyncify stack, and how it reads it back.
//!
//! Every site saves exactly the locals live after it, followed by its i32 index. Two layouts
//! produce that, and each function gets the smaller code:
//! - **per set**: one compact layout per distinct live set, with straight-line save and restore
//!   code for each. Best when a function has few distinct sets.
//! - **masked**: one slot per local live at any site; each site's bitmask says which slots it
//!   writes, and one shared piece of code saves the slots whose bit is set (restoring loads
//!   them all). Best when many sites have different sets (interpreter loops, `printf`), where
//!   per-set code would repeat the same stores dozens of times.

use walrus::ir::*;
use walrus::{GlobalId, LocalFunction, LocalId, Module, ValType};

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
        /// Whether each set's code gives the other sets' locals a dummy value (see `save_set`).
        kills: bool,
    },
}

/// Precise liveness at every site may cost up to 1/KILL_SLACK more code than the plain masked
/// layout (plus a little); beyond that, the masked layout goes without it.
const KILL_SLACK: usize = 2;

/// Bytes of a `br_table` dispatch over `sites` to `sets` targets (blocks, table, branches).
fn dispatch_bytes(sites: usize, sets: usize) -> usize {
    if sets == 1 {
        0
    } else {
        8 + sites + 4 * sets
    }
}

impl Frames {
    /// Picks the layout with the smaller code for these live sets (`sites` of them).
    pub fn choose(module: &mut Module, sets: &[Vec<LocalId>], sites: usize) -> Frames {
        let per_set: Vec<_> = sets.iter().map(|s| layout(module, s)).collect();
        // Save and restore per set; sites branch to their set's save code, restoring
        // dispatches on the index.
        let per_set_bytes: usize = per_set
            .iter()
            .map(|(slots, size)| {
                let body: usize = slots.iter().map(|(_, _, o)| slot_bytes(*o)).sum();
                2 * body + 12 + uleb_len(*size)
            })
            .sum::<usize>()
            + dispatch_bytes(sites, per_set.len());
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
        // Masked saves test each slot's bit; restores load every slot.
        let slot_code: usize = slots
            .iter()
            .enumerate()
            .map(|(i, (_, _, o))| 2 + sleb_len(1 << (i % 32)) + 1 + 3 + 2 * slot_bytes(*o))
            .sum();
        let stubs: usize = masks
            .iter()
            .map(|m| m.iter().map(|w| 3 + sleb_len(*w)).sum::<usize>() + 5)
            .sum();
        let kill_bytes: usize = sets.iter().map(|set| kill_bytes(&slots, set)).sum();
        let masked_bytes = slot_code + stubs + 24;
        let precise = per_set_bytes.min(masked_bytes + kill_bytes);
        // Precise liveness, unless it costs much more code than the plain masked layout.
        let kills = precise <= masked_bytes + masked_bytes / KILL_SLACK + 64;
        let masked_cost = masked_bytes + if kills { kill_bytes } else { 0 };
        if per_set.len() > 1 && masked_cost < per_set_bytes {
            let words = (0..nwords)
                .map(|_| module.locals.add(ValType::I32))
                .collect();
            Frames::Masked {
                slots,
                size: bytes + 4,
                masks,
                words,
                kills,
            }
        } else {
            Frames::PerSet(per_set.into_iter().map(|(s, b)| (s, b + 4)).collect())
        }
    }

    /// Code that saves the frame of a site of set `j`, whose index is in `c`; sites branch to
    /// their set's code, so each path reads only the locals its set saves. For a masked frame
    /// that code sets the mask and gives the locals of the other sets a dummy value, so the
    /// shared code (`save_common`) does not keep them alive at this set's sites either (in
    /// wasmtime, a local that looks live across a pausing call in a hot loop gets spilled).
    pub fn save_set(&self, rt: &Runtime, j: usize, c: LocalId, p: LocalId) -> Code {
        match self {
            Frames::PerSet(frames) => save_slots(rt, &frames[j].0, frames[j].1, c, p, None),
            Frames::Masked {
                slots,
                masks,
                words,
                kills,
                ..
            } => {
                let mut code = set_masks(&masks[j], words);
                if *kills {
                    code.extend(kill(slots, &masks[j]));
                }
                code
            }
        }
    }

    /// Code after every set's `save_set`: the masked save.
    pub fn save_common(
        &self,
        lf: &mut LocalFunction,
        rt: &Runtime,
        c: LocalId,
        p: LocalId,
    ) -> Code {
        match self {
            Frames::PerSet(_) => Vec::new(),
            Frames::Masked {
                slots, size, words, ..
            } => save_slots(rt, slots, *size, c, p, Some((lf, words))),
        }
    }

    pub fn sets(&self) -> usize {
        match self {
            Frames::PerSet(f) => f.len(),
            Frames::Masked { masks, .. } => masks.len(),
        }
    }

    /// Code that reads the site index of the top frame into the rewind target global, pops
    /// the frame and restores its locals. A masked frame loads every slot: a slot its site did
    /// not write belongs to a local that is dead there, so any value will do.
    pub fn restore(
        &self,
        lf: &mut LocalFunction,
        rt: &Runtime,
        set_of_site: &[usize],
        p: LocalId,
    ) -> Code {
        let target = rt.abi.target;
        match self {
            Frames::PerSet(frames) if frames.len() == 1 => {
                restore_slots(rt, &frames[0].0, frames[0].1, p, true)
            }
            Frames::PerSet(frames) => {
                // The size depends on the set, which depends on the index: read it first.
                let code = frames
                    .iter()
                    .map(|(slots, size)| restore_slots(rt, slots, *size, p, false))
                    .collect();
                let mut v = vec![
                    at(Call { func: rt.top_index }),
                    at(GlobalSet { global: target }),
                ];
                v.extend(dispatch(lf, target, set_of_site, code));
                v
            }
            Frames::Masked { slots, size, .. } => restore_slots(rt, slots, *size, p, true),
        }
    }

    /// Code that pops the frame of a site of set `j` and loads the locals it saved, for a
    /// site that restores its own locals.
    pub fn restore_one(&self, rt: &Runtime, j: usize, p: LocalId) -> Code {
        match self {
            Frames::PerSet(frames) => restore_slots(rt, &frames[j].0, frames[j].1, p, false),
            Frames::Masked {
                slots, size, masks, ..
            } => {
                let mask = &masks[j];
                let saved: Vec<Slot> = slots
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask[i / 32] & (1 << (i % 32)) != 0)
                    .map(|(_, s)| *s)
                    .collect();
                restore_slots(rt, &saved, *size, p, false)
            }
        }
    }

    /// Whether restoring calls the `top_index` helper.
    pub fn reads_top_index(&self) -> bool {
        matches!(self, Frames::PerSet(f) if f.len() > 1)
    }
}

/// Runs `code[set_of_site[k]]` for the site index `k` in global `k`: direct when all sites
/// share one set, otherwise through a `br_table` (unknown indices trap).
fn dispatch(lf: &mut LocalFunction, k: GlobalId, set_of_site: &[usize], code: Vec<Code>) -> Code {
    if code.len() == 1 {
        return code.into_iter().next().unwrap();
    }
    let bad = lf.builder_mut().dangling_instr_seq(None).id();
    let targets: Vec<InstrSeqId> = (0..code.len())
        .map(|_| lf.builder_mut().dangling_instr_seq(None).id())
        .collect();
    lf.block_mut(bad).instrs = vec![
        at(GlobalGet { global: k }),
        at(BrTable {
            blocks: set_of_site.iter().map(|j| targets[*j]).collect(),
            default: bad,
        }),
    ];
    let mut code = code;
    let innermost = vec![at(Block { seq: bad }), at(Unreachable {})];
    super::nest(lf, innermost, &targets, |j| std::mem::take(&mut code[j]))
}

fn const_bytes(t: ValType) -> usize {
    match t {
        ValType::I32 | ValType::I64 => 2,
        ValType::F32 => 5,
        ValType::F64 => 9,
        _ => 18,
    }
}

/// The slots' locals outside `saved`, grouped by type.
fn dead_by_type(
    slots: &[Slot],
    saved: impl Fn(usize, LocalId) -> bool,
) -> Vec<(ValType, Vec<LocalId>)> {
    let mut by_type: Vec<(ValType, Vec<LocalId>)> = Vec::new();
    for (i, (l, t, _)) in slots.iter().enumerate() {
        if saved(i, *l) {
            continue;
        }
        match by_type.iter_mut().find(|(ty, _)| ty == t) {
            Some((_, ls)) => ls.push(*l),
            None => by_type.push((*t, vec![*l])),
        }
    }
    by_type
}

/// Bytes of `kill` for a set: per type, one constant, then a `local.tee`/`local.set` each.
fn kill_bytes(slots: &[Slot], set: &[LocalId]) -> usize {
    dead_by_type(slots, |_, l| set.contains(&l))
        .iter()
        .map(|(t, ls)| const_bytes(*t) + 2 * ls.len())
        .sum()
}

/// Sets every slot's local outside `mask` to zero (`const; local.tee a; local.tee b; local.set c`
/// per type): those locals are dead at the set's sites.
fn kill(slots: &[Slot], mask: &[i32]) -> Code {
    let mut v = Vec::new();
    for (t, ls) in dead_by_type(slots, |i, _| mask[i / 32] & (1 << (i % 32)) != 0) {
        v.push(at(super::zero(t).expect("numeric slot")));
        let (last, rest) = ls.split_last().expect("at least one local");
        v.extend(rest.iter().map(|l| at(LocalTee { local: *l })));
        v.push(at(LocalSet { local: *last }));
    }
    v
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

/// Pops the frame, reads its site index into the rewind target (when `index`) and loads its
/// slots.
fn restore_slots(rt: &Runtime, slots: &[Slot], size: u64, p: LocalId, index: bool) -> Code {
    let mut v = vec![
        at(Const {
            value: rt.abi.ptr_const(size),
        }),
        at(Call { func: rt.pop }),
    ];
    match (index, slots.is_empty()) {
        (false, true) => v.push(at(Drop {})),
        (false, false) => v.push(at(LocalSet { local: p })),
        (true, true) => {}
        (true, false) => v.push(at(LocalTee { local: p })),
    }
    if index {
        let arg = MemArg {
            align: 4,
            offset: size - 4,
        };
        v.extend([
            at(Load {
                memory: rt.abi.memory,
                kind: LoadKind::I32 { atomic: false },
                arg,
            }),
            at(GlobalSet {
                global: rt.abi.target,
            }),
        ]);
    }
    for &(l, t, o) in slots {
        let arg = MemArg {
            align: width(t) as u32,
            offset: o,
        };
        v.extend([
            at(LocalGet { local: p }),
            at(Load {
                memory: rt.abi.memory,
                kind: load_kind(t),
                arg,
            }),
            at(LocalSet { local: l }),
        ]);
    }
    v
}
