//! Differential testing on random modules (wasm-smith, fixed seeds): every exported function
//! of the original and of the transformed module is called in sequence with the same
//! arguments; the transformed module runs once without pauses and once pausing at *every*
//! call of an import that may pause (unwind, stop, rewind, continue). Results, traps, every
//! import call with its arguments, and a hash of memory must match. Each module is
//! transformed twice: in worst mode (every import may pause) and in list mode (only the
//! added `env.hook` may pause, with `closed_world`: the analysis decides which indirect calls,
//! grouped by table and type, can reach it). Odd seeds restore locals at the sites, even ones
//! at the entry (see `Options::restore_at_sites`), and seeds 2 and 3 modulo 4 give every
//! function a rewind copy (`Options::rewind_copy`).

mod common;

use arbitrary::Unstructured;
use common::{value_for, Outcome, Runner};
use wasmtime::Val;

/// Seeds per shard; the shards run in parallel. 4 x 150 = 600 modules, and 4 x 10 with big
/// functions (more with `DIFF_SEEDS`, see `seeds`).
const SHARD: u64 = 150;
const BIG_SHARD: u64 = 10;
const FUEL: u64 = 300_000;
/// The memory the host keeps the asyncify data in: added to each module, never used by it.
const DATA_MEMORY: &str = "__asyncify_data";
const DATA_PAGES: u64 = 16;

/// The functions wasm-smith may import: a spread of signatures over every numeric type.
const IMPORTS: &str = r#"(module
  (import "env" "f0" (func))
  (import "env" "f1" (func (param i32) (result i32)))
  (import "env" "f2" (func (param i64 f64) (result f32)))
  (import "env" "f3" (func (result v128)))
  (import "env" "f4" (func (param f32 i32) (result i64 i32)))
  (import "env" "f5" (func (param v128) (result f64))))"#;

/// Seeds from here on make a few big functions (deep nesting, thousands of instructions):
/// more locals, webs and sites per function for liveness and coalescing.
const BIG_FROM: u64 = 1_000_000;

fn config(seed: u64) -> wasm_smith::Config {
    let big = seed >= BIG_FROM;
    wasm_smith::Config {
        // Half the modules avoid traps, so more of their code (and import calls) runs.
        disallow_traps: seed.is_multiple_of(2),
        min_imports: 3,
        available_imports: Some(wat::parse_str(IMPORTS).unwrap()),
        min_funcs: 3,
        max_funcs: 12,
        max_imports: 6,
        max_instructions: if big { 3000 } else { 500 },
        max_nesting_depth: if big { 12 } else { 6 },
        max_memories: 1,
        max_tables: 1,
        max_memory32_bytes: 4 << 16,
        max_table_elements: 64,
        export_everything: true,
        allow_start_export: true,
        simd_enabled: true,
        multi_value_enabled: true,
        bulk_memory_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        // Features the transform rejects around pauses, or that the engine runs
        // nondeterministically, are off.
        reference_types_enabled: false,
        relaxed_simd_enabled: false,
        exceptions_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        threads_enabled: false,
        memory64_enabled: false,
        ..wasm_smith::Config::default()
    }
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    // splitmix64: a fixed, dependency-free stream per seed.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..len)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// The original module with a private data memory added and memory 0 exported as `memory`.
fn prepare(seed: u64) -> Vec<u8> {
    let data = random_bytes(seed, if seed >= BIG_FROM { 1 << 17 } else { 1 << 14 });
    let mut u = Unstructured::new(&data);
    let module = wasm_smith::Module::new(config(seed), &mut u).expect("wasm-smith");
    let mut m =
        walrus::Module::from_buffer(&module.to_bytes()).expect("walrus parses smith output");
    if let Some(mem0) = m.memories.iter().next().map(|m| m.id()) {
        if m.exports.iter().all(|e| e.name != "memory") {
            m.exports.add("memory", mem0);
        }
    }
    add_hooks(&mut m);
    // Re-exported imports are host functions: calling them runs no wasm to pause.
    let reexported: Vec<walrus::ExportId> = m
        .exports
        .iter()
        .filter(|e| {
            matches!(e.item, walrus::ExportItem::Function(f)
            if matches!(m.funcs.get(f).kind, walrus::FunctionKind::Import(_)))
        })
        .map(|e| e.id())
        .collect();
    for e in reexported {
        m.exports.delete(e);
    }
    let extra = m.memories.add_local(false, false, DATA_PAGES, None, None);
    m.exports.add(DATA_MEMORY, extra);
    m.emit_wasm()
}

/// Random code rarely calls its imports; a pause point at the start of every instruction
/// sequence (function bodies, blocks, loops, if arms) gives each module many pauses at every
/// nesting depth. The pause points take turns among shapes that test the rewind contract
/// (a paused call is re-entered with the same callee and identical operands), each reading
/// a global and a memory that the host changes at every import call (`common::HOOK_*`):
/// - `env.hook(load, global.get)`: an import whose arguments come from a load and a global;
/// - `call_indirect` with a table index loaded from memory, into one of four functions that
///   call the hook with different constants: a pause below an indirect call;
/// - the hook with a value below it on the operand stack that is used after the call.
fn add_hooks(m: &mut walrus::Module) {
    use walrus::ir::{BinaryOp, LoadKind, MemArg};
    use walrus::{ConstExpr, ValType::I32};
    let hook_ty = m.types.add(&[I32, I32], &[]);
    let (hook, _) = m.add_import_func("env", "hook", hook_ty);
    let mem = m.memories.add_local(false, false, 1, None, None);
    m.exports.add(common::HOOK_MEMORY, mem);
    let global = m.globals.add_local(
        I32,
        true,
        false,
        ConstExpr::Value(walrus::ir::Value::I32(0)),
    );
    m.exports.add(common::HOOK_GLOBAL, global);
    let word = |offset: u64| walrus::ir::Load {
        memory: mem,
        kind: LoadKind::I32 { atomic: false },
        arg: MemArg { align: 4, offset },
    };
    let funcs: Vec<walrus::FunctionId> = m.funcs.iter_local().map(|(id, _)| id).collect();
    let void = m.types.add(&[], &[]);
    let wrappers: Vec<walrus::FunctionId> = (0..4)
        .map(|k| {
            let mut b = walrus::FunctionBuilder::new(&mut m.types, &[], &[]);
            b.func_body().i32_const(k).global_get(global).call(hook);
            b.finish(vec![], &mut m.funcs)
        })
        .collect();
    let table = m
        .tables
        .add_local(false, 4, Some(4), walrus::RefType::FUNCREF);
    let offset = ConstExpr::Value(walrus::ir::Value::I32(0));
    let elem = m.elements.add(
        walrus::ElementKind::Active { table, offset },
        walrus::ElementItems::Functions(wrappers),
    );
    m.tables.get_mut(table).elem_segments.insert(elem);
    let mut turn = 0usize;
    for f in funcs {
        let lf = m.funcs.get_mut(f).kind.unwrap_local_mut();
        let mut seqs = vec![lf.entry_block()];
        let mut i = 0;
        while i < seqs.len() {
            for (instr, _) in lf.block(seqs[i]).instrs.iter() {
                match instr {
                    walrus::ir::Instr::Block(b) => seqs.push(b.seq),
                    walrus::ir::Instr::Loop(l) => seqs.push(l.seq),
                    walrus::ir::Instr::IfElse(e) => seqs.extend([e.consequent, e.alternative]),
                    _ => {}
                }
            }
            i += 1;
        }
        for seq in seqs {
            let mut b = lf.builder_mut().dangling_instr_seq(None);
            match turn % 3 {
                0 => {
                    b.i32_const(0).instr(word(0)).global_get(global).call(hook);
                }
                1 => {
                    b.i32_const(0)
                        .instr(word(4))
                        .i32_const(3)
                        .binop(BinaryOp::I32And)
                        .call_indirect(void, table);
                }
                _ => {
                    // The global's value before the call, kept on the stack across it, is
                    // stored back after it: the next pause point's arguments see it.
                    b.global_get(global)
                        .i32_const(0)
                        .instr(word(4))
                        .i32_const(0)
                        .instr(word(0))
                        .call(hook)
                        .global_set(global);
                }
            }
            turn += 1;
            let id = b.id();
            let code = std::mem::take(&mut lf.block_mut(id).instrs);
            lf.block_mut(seq).instrs.splice(0..0, code);
        }
    }
}

fn stop_comparing(o: &Outcome) -> bool {
    matches!(&o.result, Err(e) if e.contains("fuel") || e.contains("stack overflow") || e.contains("call stack exhausted"))
}

/// Both modes; returns (exports compared, pauses taken).
fn check_seed(seed: u64) -> (usize, usize) {
    let original = prepare(seed);
    if let Ok(dir) = std::env::var("DIFF_DUMP") {
        std::fs::write(format!("{dir}/seed-{seed}.wasm"), &original).unwrap();
    }
    let (e1, p1) = check_mode(seed, &original, None);
    let (e2, p2) = check_mode(seed, &original, Some("env.hook"));
    (e1 + e2, p1 + p2)
}

/// One mode: every import may pause (`only` is `None`), or only `only`.
fn check_mode(seed: u64, original: &[u8], only: Option<&str>) -> (usize, usize) {
    let opts = asyncify::Options {
        memory: Some(DATA_MEMORY.into()),
        imports: only.map(|i| vec![i.to_string()]),
        // The host never writes the tables wasm-smith exports.
        closed_world: only.is_some(),
        // Every loop here has a hook call, so the transform would always restore at the
        // entry: odd seeds restore at the sites instead.
        restore_at_sites: (seed % 2 == 1).then_some(true),
        // Every function runs its rewind in a copy of itself for seeds 2 and 3 modulo 4, the
        // transform picks for the others (where the sites restore, it picks no copy).
        rewind_copy: (seed % 4 >= 2).then_some(true),
        ..Default::default()
    };
    let transformed = asyncify::transform(original, &opts)
        .unwrap_or_else(|e| panic!("seed {seed}, {only:?}: transform failed: {e}"))
        .wasm;
    let runner = |wasm: &[u8], pause: bool, fuel: u64| {
        Runner::with_data(wasm, pause, fuel, DATA_MEMORY, 0, (DATA_PAGES << 16) as u32)
    };
    let Ok(mut base) = runner(original, false, FUEL) else {
        return (0, 0); // instantiation traps (start function or segments): nothing to compare
    };
    let mut plain = runner(&transformed, false, FUEL * 20).expect("transformed instantiates");
    let mut paused = runner(&transformed, true, FUEL * 100).expect("transformed instantiates");
    paused.store.data_mut().pause_only = only.map(str::to_string);
    let engine_module = wasmtime::Module::new(common::engine(), original).unwrap();
    let exports: Vec<(String, Vec<Val>)> = engine_module
        .exports()
        .filter_map(|e| {
            let f = e.ty().func()?.clone();
            let args = f
                .params()
                .enumerate()
                .map(|(i, t)| value_for(&t, i as u64 + 7))
                .collect();
            Some((e.name().to_string(), args))
        })
        .collect();
    let (mut compared, mut pauses) = (0, 0);
    for (name, args) in exports {
        let b = base.call(&name, &args);
        if stop_comparing(&b) {
            break;
        }
        let p = plain.call(&name, &args);
        assert_eq!(
            p, b,
            "seed {seed}, export {name}, {only:?}: transformed without pauses"
        );
        let q = paused.call(&name, &args);
        assert_eq!(
            q.result, b.result,
            "seed {seed}, export {name}, {only:?}: result with pauses"
        );
        assert_eq!(
            q.calls, b.calls,
            "seed {seed}, export {name}, {only:?}: import calls with pauses"
        );
        assert_eq!(
            q.memory, b.memory,
            "seed {seed}, export {name}, {only:?}: memory with pauses"
        );
        let pausing = q
            .calls
            .iter()
            .filter(|(i, _)| only.is_none_or(|o| o == i))
            .count();
        assert_eq!(
            q.pauses, pausing,
            "seed {seed}, export {name}, {only:?}: every call that may pause paused"
        );
        compared += 1;
        pauses += q.pauses;
    }
    (compared, pauses)
}

/// Seeds beyond the shards' that once failed, kept as regression tests (run with shard 0).
/// 8459: a local read before its first write (zero) shared one local with a parameter that
/// was written but never read, and read the argument instead.
const FOUND: [u64; 1] = [8459];

/// The seeds of shard `n` of 4: `DIFF_SEEDS=FROM..TO` (a fuzzing campaign beyond the fixed
/// seeds, split among the shards) or the fixed ones (small and big), with `FOUND` in shard 0.
fn seeds(n: u64) -> Vec<u64> {
    match std::env::var("DIFF_SEEDS") {
        Ok(range) => {
            let (from, to) = range
                .split_once("..")
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .unwrap_or_else(|| panic!("DIFF_SEEDS={range}: expected FROM..TO"));
            (from..to).filter(|s| s % 4 == n).collect()
        }
        Err(_) => {
            let found = if n == 0 { &FOUND[..] } else { &[] };
            let big = BIG_FROM + n * BIG_SHARD..BIG_FROM + (n + 1) * BIG_SHARD;
            (n * SHARD..(n + 1) * SHARD)
                .chain(big)
                .chain(found.iter().copied())
                .collect()
        }
    }
}

fn shard(n: u64) {
    let (mut exports, mut pauses, mut failed) = (0, 0, Vec::new());
    let seeds = seeds(n);
    for &seed in &seeds {
        // Each failing seed is reported (the panic message has the details), not just the first.
        match std::panic::catch_unwind(|| check_seed(seed)) {
            Ok((e, p)) => {
                exports += e;
                pauses += p;
            }
            Err(_) => failed.push(seed),
        }
    }
    let count = seeds.len();
    eprintln!("shard {n}: {count} modules, {exports} exports compared, {pauses} pauses");
    assert!(failed.is_empty(), "shard {n}: seeds {failed:?} failed");
    if count == 0 {
        return; // a DIFF_SEEDS range with none of this shard's seeds
    }
    // The shard must really have exercised modules and pauses, not skipped them.
    assert!(
        exports > count,
        "only {exports} exports compared in shard {n}"
    );
    assert!(pauses > count, "only {pauses} pauses in shard {n}");
}

#[test]
fn random_modules_shard_0() {
    shard(0);
}
#[test]
fn random_modules_shard_1() {
    shard(1);
}
#[test]
fn random_modules_shard_2() {
    shard(2);
}
#[test]
fn random_modules_shard_3() {
    shard(3);
}
