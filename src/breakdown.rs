//! Where an asyncified module's added bytes go: the code our transform added to a program,
//! split by what each piece is for (`examples/breakdown.rs` prints it for the suite's
//! programs; `docs/transform.md` says what the split showed).
//!
//! It reads our output only (Binaryen's shapes differ) and finds our constructs by their
//! shapes, with exact byte lengths from the operators' offsets:
//! - *unwind checks*: `i32.const K; global.get $state; br_if; drop` after each call that may
//!   pause (7 bytes while `K` < 64);
//! - *site tests*: `i32.const K; global.get $target; i32.ge_u; if ... end` around a site that
//!   a rewind may pass over;
//! - *guards*: `global.get $normal; if ... end` around code a rewind must skip (an `else`
//!   counts with them);
//! - *arm choices*: the rewind's choice of an `if`'s arm (`global.get $target` compared,
//!   `global.get $normal; select`, or `global.get $state; i32.or`);
//! - *restore tests*: `global.get $state; if ... end` at a function's entry or a site's arm;
//! - *result stores*: `local.get x; global.get $normal; select; local.set x`;
//! - *frames*: the frame's address (`call` of a runtime helper; `local.set`/`local.tee` of
//!   it), the loads and stores through it (restores and inline saves), and calls of the save
//!   helpers with their arguments;
//! - *runtime*: the `asyncify_*` exports and the helpers (every function that reads or
//!   writes `$data`, the unwind buffer's address);
//! - *locals*: the growth of the local declarations (new functions' included);
//! - *other*: the rest (save blocks, rewind dispatches, zeros on skipping paths, ...).
//!
//! The globals are found from the exports: `asyncify_start_rewind` sets `$state`, `$normal`
//! and `$data`, in that order; `asyncify_stop_rewind` sets `$state`, `$normal` and
//! `$target`.

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use wasmparser::{ExternalKind, FunctionBody, Operator, Parser, Payload, TypeRef};

/// The parts of an output's code section growth, in bytes (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// Code section bytes of the normal build and of our output (function bodies).
    pub normal: u64,
    pub ours: u64,
    pub unwind_checks: u64,
    pub site_tests: u64,
    pub guards: u64,
    pub arm_choices: u64,
    pub restore_tests: u64,
    pub result_stores: u64,
    pub frames: u64,
    pub runtime: u64,
    pub locals: u64,
    /// How many unwind checks (one per call that may pause).
    pub sites: u64,
}

impl Breakdown {
    /// The bytes added to the function bodies.
    pub fn added(&self) -> i64 {
        self.ours as i64 - self.normal as i64
    }

    /// The named parts, in the order of the module docs, `other` last.
    pub fn parts(&self) -> [(&'static str, i64); 10] {
        let named = [
            ("unwind checks", self.unwind_checks),
            ("site tests", self.site_tests),
            ("guards", self.guards),
            ("arm choices", self.arm_choices),
            ("restore tests", self.restore_tests),
            ("result stores", self.result_stores),
            ("frames", self.frames),
            ("runtime", self.runtime),
            ("locals", self.locals),
        ];
        let sum: u64 = named.iter().map(|(_, b)| b).sum();
        let mut out = [("other", self.added() - sum as i64); 10];
        for (o, (name, b)) in out.iter_mut().zip(named) {
            *o = (name, b as i64);
        }
        out
    }

    /// The bytes a rewind spends on finding its way back to the paused call and passing
    /// over code: site tests, guards, arm choices, restore tests and result stores.
    pub fn rewind_path(&self) -> u64 {
        self.site_tests + self.guards + self.arm_choices + self.restore_tests + self.result_stores
    }
}

/// One operator of a body: what it is, and its bytes.
struct Op<'a> {
    op: Operator<'a>,
    len: u64,
}

struct Func<'a> {
    /// Bytes of the local declarations (the body's size prefix excluded).
    locals: u64,
    ops: Vec<Op<'a>>,
    ty: u32,
}

struct Parsed<'a> {
    imported: u32,
    /// Per type: how many parameters and results.
    arity: Vec<(usize, usize)>,
    funcs: Vec<Func<'a>>,
    exports: Vec<(String, u32)>,
}

fn parse(wasm: &[u8]) -> Result<Parsed<'_>> {
    let mut p = Parsed {
        imported: 0,
        arity: Vec::new(),
        funcs: Vec::new(),
        exports: Vec::new(),
    };
    let mut types = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(s) => {
                for group in s {
                    for t in group?.types() {
                        let arity = match &t.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                (f.params().len(), f.results().len())
                            }
                            _ => (0, 0),
                        };
                        p.arity.push(arity);
                    }
                }
            }
            Payload::ImportSection(s) => {
                for import in s.into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        p.imported += 1;
                    }
                }
            }
            Payload::FunctionSection(s) => {
                for t in s {
                    types.push(t?);
                }
            }
            Payload::ExportSection(s) => {
                for e in s {
                    let e = e?;
                    if e.kind == ExternalKind::Func {
                        p.exports.push((e.name.to_string(), e.index));
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let ty = *types
                    .get(p.funcs.len())
                    .context("more bodies than functions")?;
                p.funcs.push(func(body, ty)?);
            }
            _ => {}
        }
    }
    Ok(p)
}

fn func(body: FunctionBody<'_>, ty: u32) -> Result<Func<'_>> {
    let mut reader = body.get_operators_reader()?;
    let start = body.range().start;
    let first = reader.original_position();
    let mut ops: Vec<Op> = Vec::new();
    let mut offsets = Vec::new();
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        offsets.push(offset);
        ops.push(Op { op, len: 0 });
    }
    offsets.push(body.range().end);
    for (i, o) in ops.iter_mut().enumerate() {
        o.len = (offsets[i + 1] - offsets[i]) as u64;
    }
    Ok(Func {
        locals: (first - start) as u64,
        ops,
        ty,
    })
}

/// The globals our runtime added, found from its exports.
struct Globals {
    state: u32,
    normal: u32,
    data: u32,
    target: u32,
}

fn sets(f: &Func) -> Vec<u32> {
    f.ops
        .iter()
        .filter_map(|o| match o.op {
            Operator::GlobalSet { global_index } => Some(global_index),
            _ => None,
        })
        .collect()
}

fn globals(p: &Parsed) -> Result<Globals> {
    let export = |name: &str| -> Result<&Func> {
        let (_, index) = p
            .exports
            .iter()
            .find(|(n, _)| n == name)
            .with_context(|| format!("no export `{name}`: not an output of our transform"))?;
        let i = index
            .checked_sub(p.imported)
            .context("an imported runtime")?;
        p.funcs.get(i as usize).context("export out of range")
    };
    let start = sets(export("asyncify_start_rewind")?);
    let stop = sets(export("asyncify_stop_rewind")?);
    let (&[state, normal, data], [s, n, rest @ ..]) = (start.as_slice(), stop.as_slice()) else {
        bail!("the start and stop exports do not have our runtime's shape");
    };
    let target = rest
        .iter()
        .copied()
        .find(|g| ![state, normal, data].contains(g));
    match target {
        Some(target) if *s == state && *n == normal => Ok(Globals {
            state,
            normal,
            data,
            target,
        }),
        _ => bail!("the start and stop exports do not have our runtime's shape"),
    }
}

fn body_bytes(f: &Func) -> u64 {
    f.locals + f.ops.iter().map(|o| o.len).sum::<u64>()
}

/// Splits the growth of `ours` (our transform's output) over `normal` (its input).
pub fn breakdown(normal: &[u8], ours: &[u8]) -> Result<Breakdown> {
    let n = parse(normal).context("reading the normal module")?;
    let p = parse(ours).context("reading our output")?;
    let g = globals(&p)?;
    let mut b = Breakdown {
        normal: n.funcs.iter().map(body_bytes).sum(),
        ours: p.funcs.iter().map(body_bytes).sum(),
        ..Default::default()
    };
    b.locals = p
        .funcs
        .iter()
        .map(|f| f.locals)
        .sum::<u64>()
        .saturating_sub(n.funcs.iter().map(|f| f.locals).sum());
    // The runtime: functions that touch `$data`, and the exports.
    let touches = |f: &Func| {
        f.ops.iter().any(|o| {
            matches!(o.op, Operator::GlobalGet { global_index } | Operator::GlobalSet { global_index }
                if global_index == g.data)
        })
    };
    let exported: HashSet<u32> = p
        .exports
        .iter()
        .filter(|(name, _)| name.starts_with("asyncify_"))
        .map(|(_, i)| *i)
        .collect();
    let mut runtime = HashSet::new();
    for (i, f) in p.funcs.iter().enumerate() {
        let index = p.imported + i as u32;
        if touches(f) || exported.contains(&index) {
            runtime.insert(index);
            b.runtime += body_bytes(f) - f.locals;
        }
    }
    for (i, f) in p.funcs.iter().enumerate() {
        if !runtime.contains(&(p.imported + i as u32)) {
            classify(f, &g, &runtime, &p, &mut b);
        }
    }
    Ok(b)
}

#[derive(Clone, Copy)]
enum Part {
    SiteTest,
    Guard,
    RestoreTest,
    Other,
}

fn classify(f: &Func, g: &Globals, runtime: &HashSet<u32>, p: &Parsed, b: &mut Breakdown) {
    use Operator as O;
    let ops = &f.ops;
    let at = |i: usize| ops.get(i).map(|o| &o.op);
    let len = |r: std::ops::Range<usize>| ops[r].iter().map(|o| o.len).sum::<u64>();
    let get = |i: usize, global: u32| matches!(at(i), Some(O::GlobalGet { global_index }) if *global_index == global);
    let mut frame_locals: HashSet<u32> = HashSet::new();
    let mut stack: Vec<Part> = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i].op;
        // A control construct of ours is pushed with its part, so that its `else` and `end`
        // count with it.
        let next = match op {
            O::I32Const { .. }
                if get(i + 1, g.state)
                    && matches!(at(i + 2), Some(O::BrIf { .. }))
                    && matches!(at(i + 3), Some(O::Drop)) =>
            {
                b.unwind_checks += len(i..i + 4);
                b.sites += 1;
                i + 4
            }
            O::I32Const { .. }
                if get(i + 1, g.target)
                    && matches!(at(i + 2), Some(O::I32GeU))
                    && matches!(at(i + 3), Some(O::If { .. })) =>
            {
                b.site_tests += len(i..i + 4);
                stack.push(Part::SiteTest);
                i + 4
            }
            _ if get(i, g.normal) && matches!(at(i + 1), Some(O::If { .. })) => {
                b.guards += len(i..i + 2);
                stack.push(Part::Guard);
                i + 2
            }
            _ if get(i, g.state) && matches!(at(i + 1), Some(O::If { .. })) => {
                b.restore_tests += len(i..i + 2);
                stack.push(Part::RestoreTest);
                i + 2
            }
            _ if get(i, g.state) && matches!(at(i + 1), Some(O::I32Or)) => {
                b.arm_choices += len(i..i + 2);
                i + 2
            }
            _ if get(i, g.target) => {
                // A comparison of the rewind target, then `global.get $normal; select`.
                let mut j = i + 1;
                while matches!(
                    at(j),
                    Some(
                        O::I32Const { .. }
                            | O::I32Eq
                            | O::I32Ne
                            | O::I32LtU
                            | O::I32LeU
                            | O::I32GtU
                            | O::I32GeU
                            | O::I32Sub
                            | O::I32Eqz
                    )
                ) || get(j, g.target)
                {
                    j += 1;
                }
                if get(j, g.normal) && matches!(at(j + 1), Some(O::Select)) {
                    b.arm_choices += len(i..j + 2);
                    j + 2
                } else {
                    i + 1
                }
            }
            _ if get(i, g.normal) && matches!(at(i + 1), Some(O::Select)) => {
                // `local.get x; global.get $normal; select; local.set x`.
                let before = usize::from(i > 0 && matches!(at(i - 1), Some(O::LocalGet { .. })));
                let after = usize::from(matches!(
                    at(i + 2),
                    Some(O::LocalSet { .. } | O::LocalTee { .. })
                ));
                b.result_stores += len(i - before..i + 2 + after);
                i + 2 + after
            }
            O::Call { function_index } if runtime.contains(function_index) => {
                // A helper's call with its arguments (constants and locals just before it),
                // where it puts the frame's address, and the first access through it.
                let (params, results) = usize::try_from(*function_index - p.imported)
                    .ok()
                    .and_then(|d| p.funcs.get(d))
                    .map_or((0, 0), |h| p.arity[h.ty as usize]);
                let mut s = i;
                while s > 0
                    && i - s < params
                    && matches!(
                        at(s - 1),
                        Some(O::LocalGet { .. } | O::I32Const { .. } | O::I64Const { .. })
                    )
                {
                    s -= 1;
                }
                let mut e = i + 1;
                let mut on_stack = results == 1;
                if let Some(O::LocalSet { local_index } | O::LocalTee { local_index }) = at(e) {
                    frame_locals.insert(*local_index);
                    on_stack &= matches!(at(e), Some(O::LocalTee { .. }));
                    e += 1;
                }
                if on_stack {
                    e = frame_access(ops, e - 1).unwrap_or(e);
                }
                b.frames += len(s..e);
                e
            }
            O::LocalGet { local_index } if frame_locals.contains(local_index) => {
                match frame_access(ops, i) {
                    Some(e) => {
                        b.frames += len(i..e);
                        e
                    }
                    None => i + 1,
                }
            }
            O::Else => {
                if let Some(slot) = stack.last().and_then(|p| part_slot(b, *p)) {
                    *slot += ops[i].len;
                }
                i + 1
            }
            O::End => {
                if let Some(slot) = stack.pop().and_then(|p| part_slot(b, p)) {
                    *slot += ops[i].len;
                }
                i + 1
            }
            O::Block { .. }
            | O::Loop { .. }
            | O::If { .. }
            | O::Try { .. }
            | O::TryTable { .. } => {
                stack.push(Part::Other);
                i + 1
            }
            O::Delegate { .. } => {
                // Ends a `try` as its `end` would.
                stack.pop();
                i + 1
            }
            _ => i + 1,
        };
        i = next;
    }
}

fn part_slot(b: &mut Breakdown, part: Part) -> Option<&mut u64> {
    match part {
        Part::SiteTest => Some(&mut b.site_tests),
        Part::Guard => Some(&mut b.guards),
        Part::RestoreTest => Some(&mut b.restore_tests),
        // Not ours, or not one of the counted parts: `other` is what is left.
        Part::Other => None,
    }
}

/// A frame slot's restore or save through the address the op at `a` leaves on the stack
/// (`local.get $frame`, or the `call`/`local.tee` that made it): `T.load` then `local.set`,
/// `local.tee` or `global.set`, or a value (`local.get`, a constant) then `T.store`. The index
/// after it, if one follows.
fn frame_access(ops: &[Op], a: usize) -> Option<usize> {
    use Operator as O;
    let at = |i: usize| ops.get(i).map(|o| &o.op);
    match (at(a + 1), at(a + 2)) {
        (
            Some(
                O::I32Load { .. }
                | O::I64Load { .. }
                | O::F32Load { .. }
                | O::F64Load { .. }
                | O::V128Load { .. },
            ),
            next,
        ) => Some(
            a + 2
                + usize::from(matches!(
                    next,
                    Some(O::LocalSet { .. } | O::LocalTee { .. } | O::GlobalSet { .. })
                )),
        ),
        (
            Some(
                O::LocalGet { .. }
                | O::I32Const { .. }
                | O::I64Const { .. }
                | O::F32Const { .. }
                | O::F64Const { .. },
            ),
            Some(
                O::I32Store { .. }
                | O::I64Store { .. }
                | O::F32Store { .. }
                | O::F64Store { .. }
                | O::V128Store { .. },
            ),
        ) => Some(a + 3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::breakdown;

    /// A loop with two calls that may pause; `$acc` and `$n` live across both.
    const LOOP: &str = r#"(module
      (import "env" "pause" (func $pause))
      (import "env" "log" (func $log (param i32)))
      (memory (export "memory") 1)
      (func (export "run") (param $n i32) (result i32) (local $acc i32)
        (loop $l
          (call $log (local.get $acc))
          (local.set $acc (i32.add (local.get $acc) (i32.load (local.get $n))))
          (call $pause)
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $acc)))"#;

    #[test]
    fn splits_the_added_bytes_of_our_output() {
        let normal = wat::parse_str(LOOP).unwrap();
        let ours = asyncify::transform(&normal, &asyncify::Options::default())
            .unwrap()
            .wasm;
        let b = breakdown(&normal, &ours).unwrap();
        assert_eq!(b.sites, 2, "{b:?}");
        // `i32.const K; global.get $state; br_if; drop`: 2 + 2 + 2 + 1 bytes.
        assert_eq!(b.unwind_checks, 14, "{b:?}");
        assert!(
            b.frames > 0 && b.runtime > 0 && b.restore_tests > 0,
            "{b:?}"
        );
        assert_eq!(
            b.added(),
            ours.len() as i64 - normal.len() as i64 - sections(&normal, &ours)
        );
        let parts = b.parts();
        assert_eq!(parts.iter().map(|(_, n)| n).sum::<i64>(), b.added());
        assert!(parts.iter().all(|(_, n)| *n >= 0), "{parts:?}");
    }

    /// Bytes the output grew by outside the function bodies (the runtime's globals, exports,
    /// types and function declarations, and the section and body size prefixes).
    fn sections(normal: &[u8], ours: &[u8]) -> i64 {
        let bodies = |wasm: &[u8]| -> i64 {
            wasmparser::Parser::new(0)
                .parse_all(wasm)
                .filter_map(|p| match p.unwrap() {
                    wasmparser::Payload::CodeSectionEntry(b) => Some(b.range().len() as i64),
                    _ => None,
                })
                .sum()
        };
        (ours.len() as i64 - bodies(ours)) - (normal.len() as i64 - bodies(normal))
    }

    #[test]
    fn a_module_not_made_by_our_transform_is_refused_by_name() {
        let normal = wat::parse_str(LOOP).unwrap();
        let e = breakdown(&normal, &normal).unwrap_err();
        assert!(
            format!("{e:#}").contains("not an output of our transform"),
            "{e:#}"
        );
    }
}
