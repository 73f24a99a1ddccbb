//! Frames: what an unwinding function writes to the asyncify stack, and how it reads it back.
//!
//! Every site saves the locals live after it, followed by its i32 index. Two layouts do that,
//! and each function gets the smaller code:
//! - **per set**: one compact layout per distinct live set, with straight-line save and restore
//!   code for each. Best when a function has few distinct sets.
//! - **union**: one slot per local live at any site, and one shared piece of code that stores
//!   every slot (restoring loads them all). A slot whose local is dead at the site gets a value
//!   that nothing reads. Best when many sites have different sets (interpreter loops,
//!   `printf`), where per-set code would repeat the same stores dozens of times.
//!
//! The union layout used to store a slot only when a per-site bitmask said so. That saved
//! nothing the engine cares about: the test reads the local on the unwind path either way, so
//! the local counts as live across every call just the same, and it cost a branch per slot
//! per unwind and a mask per set.

use walrus::ir::*;
use walrus::{GlobalId, LocalFunction, LocalId, Module, ValType};

use super::save::SaveHelpers;
use super::{at, Code};
use crate::runtime::Runtime;

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

/// Each slot's offset when slots of `types` follow each other, and the bytes they take.
pub(crate) fn offsets(types: &[ValType]) -> (Vec<u64>, u64) {
    let mut offset = 0;
    let offsets = types
        .iter()
        .map(|t| {
            let o = offset;
            offset += width(*t);
            o
        })
        .collect();
    (offsets, offset)
}

/// The store of a `t` slot at `offset` in a frame (the frame's address and the value on the
/// stack).
pub(crate) fn slot_store(rt: &Runtime, t: ValType, offset: u64) -> Store {
    Store {
        memory: rt.abi.memory,
        kind: store_kind(t),
        arg: MemArg {
            align: width(t) as u32,
            offset,
        },
    }
}

/// A local's slot: the local, its type, its offset in the frame.
type Slot = (LocalId, ValType, u64);

/// Locals laid out largest first (so they stay aligned when the frame is), and by type within
/// a width (so frames with the same types have the same layout and share a save helper, see
/// `save`), at their offsets.
fn layout(module: &Module, set: &[LocalId]) -> (Vec<Slot>, u64) {
    let mut locals: Vec<(LocalId, ValType)> = set
        .iter()
        .map(|l| (*l, module.locals.get(*l).ty()))
        .collect();
    let rank = |t: ValType| match t {
        ValType::I64 | ValType::I32 => 0,
        _ => 1,
    };
    locals.sort_by_key(|(_, t)| (std::cmp::Reverse(width(*t)), rank(*t)));
    let types: Vec<ValType> = locals.iter().map(|(_, t)| *t).collect();
    let (offsets, offset) = offsets(&types);
    let slots = (locals.into_iter().zip(offsets))
        .map(|((l, t), o)| (l, t, o))
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

/// Bytes of `local.get p; local.get x; store offset=o` (and the load/set mirror).
fn slot_bytes(o: u64) -> usize {
    6 + uleb_len(o)
}

pub(crate) enum Frames {
    /// Per set: its slots and its size (index included).
    PerSet(Vec<(Vec<Slot>, u64)>),
    Union {
        slots: Vec<Slot>,
        /// Slot bytes plus the index.
        size: u64,
        /// Per set, per slot: whether the set saves it.
        saved: Vec<Vec<bool>>,
        /// Whether each set's code gives the other sets' locals a dummy value (see `save_set`).
        kills: bool,
    },
}

/// Precise liveness at every site may cost up to 3/2 of the plain union layout's code more
/// (plus a little); beyond that, the union layout goes without it. Measured against the union
/// code with its per-slot bitmask tests, the bound was half again that code; the union code
/// without them is about half as large, and with half of it instead, copy's main function
/// lost its dummy values and ran 1.07x normal instead of 0.95x.
fn kill_budget(union_bytes: usize) -> usize {
    union_bytes + union_bytes * 3 / 2 + 64
}

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
        let saved: Vec<Vec<bool>> = sets
            .iter()
            .map(|set| slots.iter().map(|(l, _, _)| set.contains(l)).collect())
            .collect();
        // The union's code stores and loads every slot once.
        let slot_code: usize = slots.iter().map(|(_, _, o)| 2 * slot_bytes(*o)).sum();
        let kill_bytes: usize = saved.iter().map(|s| kill_bytes(&slots, s)).sum();
        let union_bytes = slot_code + 24;
        let precise = per_set_bytes.min(union_bytes + kill_bytes);
        // Precise liveness, unless it costs much more code than the plain union layout.
        let kills = precise <= kill_budget(union_bytes);
        let union_cost = union_bytes + if kills { kill_bytes } else { 0 };
        if per_set.len() > 1 && union_cost < per_set_bytes {
            Frames::Union {
                slots,
                size: bytes + 4,
                saved,
                kills,
            }
        } else {
            Frames::PerSet(per_set.into_iter().map(|(s, b)| (s, b + 4)).collect())
        }
    }

    /// The same frames, with dummy values for a union frame's unsaved locals whatever they
    /// cost (for a split function's normal body: `super::split`).
    pub fn with_kills(&self) -> Frames {
        match self {
            Frames::PerSet(f) => Frames::PerSet(f.clone()),
            Frames::Union {
                slots, size, saved, ..
            } => Frames::Union {
                slots: slots.clone(),
                size: *size,
                saved: saved.clone(),
                kills: true,
            },
        }
    }

    /// How many save blocks the sites branch to, and which one a site of set `j` takes.
    pub fn save_blocks(&self) -> usize {
        match self {
            Frames::PerSet(f) => f.len(),
            Frames::Union { saved, kills, .. } => {
                if *kills {
                    saved.len()
                } else {
                    1
                }
            }
        }
    }

    pub fn save_block(&self, j: usize) -> usize {
        match self {
            Frames::Union { kills: false, .. } => 0,
            _ => j,
        }
    }

    /// The code of save block `b` (see `save_block`), with the site index on the stack; sites
    /// branch to their block, so each path reads only the locals its set saves. For a union
    /// frame with kills, that code keeps the index in `c` and gives the locals the set does
    /// not save a dummy value, so the shared code (`save_common`) does not keep them alive at
    /// this set's sites either (in wasmtime, a local that looks live across a pausing call in
    /// a hot loop gets spilled).
    pub fn save_set(
        &self,
        module: &mut Module,
        helpers: &mut SaveHelpers,
        rt: &Runtime,
        b: usize,
        c: LocalId,
    ) -> Code {
        match self {
            Frames::PerSet(frames) => helpers.save(module, rt, &typed(&frames[b].0)),
            Frames::Union {
                slots,
                saved,
                kills: true,
                ..
            } => {
                let mut code = vec![at(LocalSet { local: c })];
                code.extend(kill(slots, &saved[b]));
                code
            }
            Frames::Union { .. } => Vec::new(),
        }
    }

    /// Code after every save block: the union's shared save.
    pub fn save_common(
        &self,
        module: &mut Module,
        helpers: &mut SaveHelpers,
        rt: &Runtime,
        c: LocalId,
    ) -> Code {
        match self {
            Frames::PerSet(_) => Vec::new(),
            Frames::Union { slots, kills, .. } => {
                let mut code = Vec::new();
                if *kills {
                    code.push(at(LocalGet { local: c }));
                }
                code.extend(helpers.save(module, rt, &typed(slots)));
                code
            }
        }
    }

    /// Code that reads the site index of the top frame into the rewind target global, pops
    /// the frame and restores its locals. A union frame loads every slot: a slot its site did
    /// not save belongs to a local that is dead there, so any value will do.
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
            Frames::Union { slots, size, .. } => restore_slots(rt, slots, *size, p, true),
        }
    }

    /// Code that pops the frame of a site of set `j` and loads the locals it saved, for a
    /// site that restores its own locals.
    pub fn restore_one(&self, rt: &Runtime, j: usize, p: LocalId) -> Code {
        match self {
            Frames::PerSet(frames) => restore_slots(rt, &frames[j].0, frames[j].1, p, false),
            Frames::Union {
                slots, size, saved, ..
            } => restore_slots(rt, &slots_where(slots, &saved[j], true), *size, p, false),
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

/// The slots whose `saved` flag is `want`.
fn slots_where(slots: &[Slot], saved: &[bool], want: bool) -> Vec<Slot> {
    (slots.iter().zip(saved))
        .filter(|(_, s)| **s == want)
        .map(|(slot, _)| *slot)
        .collect()
}

/// The locals a set's slots leave out (dead at its sites), with their types.
fn unsaved(slots: &[Slot], saved: &[bool]) -> Vec<(LocalId, ValType)> {
    (slots_where(slots, saved, false).into_iter())
        .map(|(l, t, _)| (l, t))
        .collect()
}

/// Bytes of `kill` for a set (see `super::zeroes`): per type, one constant, then a
/// `local.tee`/`local.set` each.
fn kill_bytes(slots: &[Slot], saved: &[bool]) -> usize {
    let dead = unsaved(slots, saved);
    let mut types: Vec<ValType> = Vec::new();
    for (_, t) in &dead {
        if !types.contains(t) {
            types.push(*t);
        }
    }
    types.into_iter().map(const_bytes).sum::<usize>() + 2 * dead.len()
}

/// Sets every slot's local that `saved` leaves out to zero: those locals are dead at the
/// set's sites.
fn kill(slots: &[Slot], saved: &[bool]) -> Code {
    super::zeroes(&unsaved(slots, saved))
}

/// The slots' locals and types, in layout order.
fn typed(slots: &[Slot]) -> Vec<(LocalId, ValType)> {
    slots.iter().map(|(l, t, _)| (*l, *t)).collect()
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
