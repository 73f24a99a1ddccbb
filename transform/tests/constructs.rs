//! Execution tests, one fixture per construct: each `;; run:` line of each fixture in
//! `tests/fixtures/constructs/` runs the original module, the transformed module without
//! pauses, and the transformed module pausing at *every* import call. All three must agree
//! exactly (results, every import call with its arguments, and memory), and the paused run
//! must really have unwound at each import call. Each fixture runs with the rewind restoring
//! locals where the transform picks, at the sites, and at the entry, and with functions
//! running their rewind in a copy of themselves where the transform picks, everywhere and
//! nowhere.

mod common;

use common::{run_lines, Runner};

const FUEL: u64 = 50_000_000;

/// Runs a fixture with each place a rewind can restore locals in: chosen per function, at the
/// sites, at the entry (`Options::restore_at_sites`), and with and without rewind copies
/// (`Options::rewind_copy`).
fn check_fixture(path: &std::path::Path) {
    let shapes = [
        (None, None),
        (Some(true), None),
        (Some(false), None),
        (Some(true), Some(true)),
        (Some(false), Some(true)),
        (Some(false), Some(false)),
    ];
    for (restore_at_sites, rewind_copy) in shapes {
        let opts = asyncify::Options {
            restore_at_sites,
            rewind_copy,
            ..Default::default()
        };
        check_fixture_with(path, &opts);
    }
}

fn check_fixture_with(path: &std::path::Path, opts: &asyncify::Options) {
    let text = std::fs::read_to_string(path).unwrap();
    let original = wat::parse_str(&text).unwrap();
    let out = asyncify::transform(text.as_bytes(), opts)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let runs = run_lines(&text);
    assert!(!runs.is_empty(), "{}: no `;; run:` lines", path.display());
    for (export, args) in runs {
        let what = format!(
            "{} {export}{args:?} (restore at sites: {:?}, rewind copy: {:?})",
            path.display(),
            opts.restore_at_sites,
            opts.rewind_copy
        );
        let base = Runner::new(&original, false, FUEL)
            .unwrap()
            .call(&export, &args);
        assert!(
            base.result.is_ok(),
            "{what}: the original fails: {:?}",
            base.result
        );
        let plain = Runner::new(&out.wasm, false, FUEL)
            .unwrap()
            .call(&export, &args);
        assert_eq!(plain, base, "{what}: transformed, no pause");
        let paused = Runner::new(&out.wasm, true, FUEL)
            .unwrap()
            .call(&export, &args);
        assert_eq!(paused.result, base.result, "{what}: result with pauses");
        assert_eq!(paused.calls, base.calls, "{what}: import calls with pauses");
        assert_eq!(paused.memory, base.memory, "{what}: memory with pauses");
        assert_eq!(
            paused.pauses,
            base.calls.len(),
            "{what}: every import call paused"
        );
    }
}

macro_rules! fixture_tests {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            check_fixture(&fixtures().join(concat!(stringify!($name), ".wat")));
        }
    )*};
}

fixture_tests!(
    loops, branches, stack, types, calls, masked, operands, coalesce, indirect, call_ref, dispatch,
    params, frames, division, phi
);

/// Every fixture in the folder is listed above (a new file cannot be silently skipped).
#[test]
fn all_fixtures_are_listed() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "branches", "call_ref", "calls", "coalesce", "dispatch", "division", "frames",
            "indirect", "loops", "masked", "operands", "params", "phi", "stack", "types"
        ]
    );
}

/// The folder of the construct fixtures.
fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/constructs")
}

/// The text of construct fixture `name`.
fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

/// The text of the first function of the transformed fixture whose text contains `marker`.
fn transformed_function(name: &str, marker: &str) -> String {
    let text = fixture(name);
    let out = asyncify::transform(text.as_bytes(), &asyncify::Options::default()).unwrap();
    let printed = wasmprinter::print_bytes(&out.wasm).unwrap();
    let func = printed.split("(func").find(|f| f.contains(marker)).unwrap();
    func.to_string()
}

/// How many lines of `text` start with `start` (indentation aside).
fn count_lines(text: &str, start: &str) -> usize {
    text.lines().filter(|l| l.trim().starts_with(start)).count()
}

/// `params.wat`: the parameters of a function that only instrumented functions call are not
/// in its frame (only the site index is); an export's and a table function's are.
#[test]
fn unwritten_parameters_of_inner_functions_are_not_saved() {
    let inner = transformed_function("params.wat", "i64.extend_i32_s");
    assert_eq!(count_lines(&inner, "i64.store"), 0, "{inner}");
    assert_eq!(count_lines(&inner, "i32.store"), 1, "{inner}");
    let exported = transformed_function("params.wat", "f64.convert_i32_s");
    assert_eq!(count_lines(&exported, "f64.store"), 1, "{exported}");
    let held = transformed_function("params.wat", "i32.const 3");
    assert_eq!(count_lines(&held, "i32.store"), 2, "{held}");
}

/// `frames.wat`: four functions whose frames have the same types save through one shared
/// helper, which stores each slot at its offset and the index after them (the fixture's run
/// lines check that they resume); a frame whose types no other has is saved inline.
#[test]
fn frames_of_one_kind_share_a_save_helper() {
    let text = fixture("frames.wat");
    let names = asyncify::Emit { debug_names: true };
    let out =
        asyncify::transform_with(text.as_bytes(), &asyncify::Options::default(), names).unwrap();
    let printed = wasmprinter::print_bytes(&out.wasm).unwrap();
    let helpers: Vec<&str> = (printed.split("(func "))
        .filter(|f| f.starts_with("$__asyncify_save_"))
        .collect();
    assert_eq!(helpers.len(), 1, "{printed}");
    let helper = helpers[0];
    let name = helper.split_whitespace().next().unwrap();
    assert_eq!(
        count_lines(&printed, &format!("call {name}")),
        4,
        "{printed}"
    );
    for store in [
        "i64.store",
        "f64.store offset=8",
        "i32.store offset=16",
        "f32.store offset=20",
        "i32.store offset=24",
    ] {
        assert_eq!(count_lines(helper, store), 1, "{store} in {helper}");
    }
    let once = transformed_function("frames.wat", "i64.add");
    assert_eq!(count_lines(&once, "i64.store"), 1, "{once}");
}

/// The `masked` fixture's function has so many distinct live sets that the shared, bitmask
/// driven frame code is smaller: its frame is allocated by a single call site.
#[test]
fn many_live_sets_use_one_shared_save() {
    let many = transformed_function("masked.wat", "i64.extend_i32_u");
    let stores = count_lines(&many, "i32.store offset=");
    // One store per slot (plus the index), not one per slot per set.
    assert!(
        stores <= 16,
        "{stores} stores: the per-set layout was chosen"
    );
}

/// A function with many call sites whose inputs must be carried into their guards reuses the
/// same few locals for them. Fresh locals per site made QuickJS's interpreter loop (about 800
/// sites) need 2500 locals, and its wasmtime frame overflowed the native stack.
#[test]
fn site_inputs_share_their_locals() {
    let mut body = String::new();
    for i in 0..300 {
        // The first argument is computed by a call, so it cannot move into the site's guard.
        body.push_str(&format!(
            "(drop (call $pause (call $id (i32.const {i})) (i64.const {i}) (f64.const {i})))\n"
        ));
    }
    let wat = format!(
        r#"(module
  (import "env" "pause" (func $pause (param i32 i64 f64) (result i32)))
  (memory (export "memory") 1)
  (func $id (param i32) (result i32) (local.get 0))
  (func (export "many") {body}))"#
    );
    let opts = asyncify::Options {
        imports: Some(vec!["env.pause".into()]),
        ..Default::default()
    };
    let out = asyncify::transform(wat.as_bytes(), &opts).unwrap();
    let mut most = 0;
    for payload in wasmparser::Parser::new(0).parse_all(&out.wasm) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
            let mut locals = 0;
            for l in body.get_locals_reader().unwrap() {
                locals += l.unwrap().0;
            }
            most = most.max(locals);
        }
    }
    assert!(most < 20, "the function with 300 sites has {most} locals");
}

/// The locals each defined function declares (parameters not included), in order.
fn declared_locals(wasm: &[u8]) -> Vec<u32> {
    bodies(wasm)
        .iter()
        .map(|body| {
            (body.get_locals_reader().unwrap().into_iter())
                .map(|local| local.unwrap().0)
                .sum()
        })
        .collect()
}

/// The function bodies of `wasm`, in order.
fn bodies(wasm: &[u8]) -> Vec<wasmparser::FunctionBody<'_>> {
    (wasmparser::Parser::new(0).parse_all(wasm))
        .filter_map(|payload| match payload.unwrap() {
            wasmparser::Payload::CodeSectionEntry(body) => Some(body),
            _ => None,
        })
        .collect()
}

/// `coalesce.wat`'s eight section locals are never live at once, nor are the temps the
/// transform adds per section: merged, the instrumented function needs fewer locals than the
/// original declares, although it adds its own (frame pointer, site index, temps).
#[test]
fn locals_never_live_at_once_share_one() {
    let text = fixture("coalesce.wat");
    let original = declared_locals(&wat::parse_str(&text).unwrap());
    let out = asyncify::transform(text.as_bytes(), &asyncify::Options::default()).unwrap();
    let transformed = declared_locals(&out.wasm);
    assert_eq!(original, [9]);
    // (The runtime's helpers have fewer locals still.)
    assert!(
        transformed.iter().all(|n| *n < original[0]),
        "{transformed:?} locals after the transform, {original:?} before"
    );
}

/// What `indirect.wat` instruments, and why: an indirect call is a pause site only if its
/// (table, type) group can reach a function that may pause, unless the table is exported
/// (the host may put anything there) and no closed world is promised, or Binaryen's
/// assumption is asked for.
#[test]
fn indirect_calls_pause_only_where_their_group_can() {
    let text = fixture("indirect.wat");
    let exported = text.replace(
        "(table $t 4 funcref)",
        "(table $t (export \"t\") 4 funcref)",
    );
    let run = |text: &str, opts: asyncify::Options| {
        let out = asyncify::transform(text.as_bytes(), &opts).unwrap();
        let why: std::collections::HashMap<String, String> =
            out.report.instrumented.into_iter().collect();
        (why, out.wasm.len())
    };
    // Every import may pause: late's table gets a function that logs by table.set.
    let (why, _) = run(&text, Default::default());
    assert!(
        why["late"].starts_with("calls eight indirectly (type "),
        "{why:?}"
    );
    // Only env.pause may pause, as in the suite's list mode.
    let list = asyncify::Options {
        imports: Some(vec!["env.pause".into()]),
        ..Default::default()
    };
    let (why, by_type) = run(&text, list.clone());
    assert!(
        why["by_type"].starts_with("calls pauses indirectly (type ")
            && why["by_type"].ends_with("-> import env.pause may pause"),
        "{why:?}"
    );
    assert!(!why.contains_key("pure_only"), "{why:?}");
    assert!(!why.contains_key("late"), "{why:?}");
    let every = asyncify::Options {
        every_indirect_may_pause: true,
        ..list.clone()
    };
    let (why, binaryen_like) = run(&text, every);
    assert!(why["pure_only"].contains("may reach anything"), "{why:?}");
    assert!(why.contains_key("late"), "{why:?}");
    // pure_then_pause pauses either way, but its indirect call is a site only here.
    assert!(binaryen_like > by_type, "{binaryen_like} > {by_type}");
    let (why, _) = run(&exported, list.clone());
    assert!(why["pure_only"].contains("may reach anything"), "{why:?}");
    let closed = asyncify::Options {
        closed_world: true,
        ..list
    };
    let (why, _) = run(&exported, closed);
    assert!(!why.contains_key("pure_only"), "{why:?}");
}

/// `call_ref` of a type reaches the functions of that type whose reference escapes: the
/// fixture's call_ref reaches only pure functions and is no pause site; once a function of
/// its type that logs escapes too, it may pause, and instrumenting it is refused (as Binaryen
/// can't either); a reference the host can hand in (here an exported function's parameter)
/// may reach anything unless `closed_world` is promised.
#[test]
fn call_ref_pauses_only_where_its_type_can() {
    let text = fixture("call_ref.wat");
    let transform = |text: &str, opts: &asyncify::Options| {
        asyncify::transform(text.as_bytes(), opts).map(|out| {
            let why: std::collections::HashMap<String, String> =
                out.report.instrumented.into_iter().collect();
            why
        })
    };
    let defaults = asyncify::Options::default();
    let why = transform(&text, &defaults).unwrap();
    assert!(
        why["by_ref"].ends_with("import env.log may pause"),
        "{why:?}"
    );
    let logging = text.replace(
        "(elem declare func $double $triple)",
        "(elem declare func $double $triple $loud)
  (func $loud (type $un) (call $log (i64.const 9)) (local.get 0))",
    );
    let err = transform(&logging, &defaults).unwrap_err().to_string();
    assert!(err.contains("by_ref") && err.contains("call_ref"), "{err}");
    // Binaryen's escape hatch still works.
    let ignore = asyncify::Options {
        ignore_indirect: true,
        ..Default::default()
    };
    transform(&logging, &ignore).unwrap();
    let handed_in = text.replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") 1)
  (func (export \"take\") (param (ref null $un)))",
    );
    let err = transform(&handed_in, &defaults).unwrap_err().to_string();
    assert!(err.contains("call_ref"), "{err}");
    let closed = asyncify::Options {
        closed_world: true,
        ..Default::default()
    };
    let why = transform(&handed_in, &closed).unwrap();
    assert!(!why.contains_key("take"), "{why:?}");
}

/// `dispatch.wat`'s two dispatches (the interpreter loop's and the nested one) each get a
/// second `br_table`, on the rewind target, so a rewind jumps to the case it heads for
/// instead of falling through every case before it (see `instrument/skip.rs`).
#[test]
fn a_rewind_jumps_to_its_case() {
    let interp = transformed_function("dispatch.wat", "i32.load8_u");
    let tables = count_lines(&interp, "br_table");
    assert_eq!(tables, 4, "{interp}");
}

/// Construct fixture `name` transformed with the default options, printed as text with the
/// runtime's names (`$__asyncify_state`, ...).
fn printed_with_names(name: &str) -> String {
    let names = asyncify::Emit { debug_names: true };
    let out = asyncify::transform_with(fixture(name).as_bytes(), &Default::default(), names);
    wasmprinter::print_bytes(out.unwrap().wasm).unwrap()
}

/// The text of function `$name` in `printed` (from `printed_with_names`).
fn function_named(printed: &str, name: &str) -> String {
    let header = format!(" ${name} ");
    printed
        .split("(func")
        .find(|f| f.starts_with(&header))
        .unwrap_or_else(|| panic!("no function {name}:\n{printed}"))
        .to_string()
}

/// `dispatch.wat`'s `interp`: a rewind's table branches to the latest point before its site,
/// past the code its case runs first (`land_after_prefixes` in `instrument/skip.rs`), so no
/// rewind passes over that code and its guards become plain code. The guards left are the two
/// dispatches' own; landing at the cases' starts, five were.
#[test]
fn a_rewind_lands_after_what_its_case_runs_first() {
    let printed = printed_with_names("dispatch.wat");
    let interp = printed
        .split("(func")
        .find(|f| f.contains("i32.load8_u"))
        .unwrap();
    let guards = interp.matches("global.get $__asyncify_normal").count();
    assert_eq!(guards, 2, "{interp}");
}

/// An `if` whose `then` arm every rewind reaching it enters (it holds the function's last
/// sites) picks its arm with `cond | state` instead of a range check on the rewind target:
/// `branches.wat`'s `last`. Its `;; run:` lines check that it resumes.
#[test]
fn an_if_every_rewind_enters_tests_only_the_state() {
    let printed = printed_with_names("branches.wat");
    let func = |name: &str| function_named(&printed, name);
    let short = |f: &str| runs(f, 2, |w| w == ["global.get $__asyncify_state", "i32.or"]);
    let last = func("last");
    assert_eq!(short(&last), 1, "{last}");
    assert!(!last.contains("select"), "{last}");
    // `arms`' inner `if`: rewinds to either arm's site reach it, so it keeps its range check.
    let arms = func("arms");
    assert_eq!(short(&arms), 0, "{arms}");
    assert!(arms.contains("select"), "{arms}");
}

/// `division.wat`'s `every`: `i % 60 == 0` cannot trap, so the rewind evaluates it again
/// instead of a guard keeping it in a local; the arm choice takes it as it is. By -1 it can.
#[test]
fn a_division_by_a_constant_needs_no_guard() {
    let printed = printed_with_names("division.wat");
    let every = function_named(&printed, "every");
    let direct = |w: &[&str]| {
        w[..3] == ["i32.const 60", "i32.rem_u", "i32.eqz"] && w[3].starts_with("global.get")
    };
    assert!(runs(&every, 4, direct) > 0, "{every}");
    // In `signed`, a division by -1 can trap (MIN / -1): the call's operand is computed once,
    // in a guard, into a local the rewind restores, not evaluated again at the call.
    let signed = function_named(&printed, "signed");
    let temp = |w: &[&str]| {
        w[..3] == ["i32.const -1", "i32.div_s", "i64.extend_i32_s"]
            && (w[3].starts_with("local.set") || w[3].starts_with("local.tee"))
    };
    assert!(runs(&signed, 4, temp) > 0, "{signed}");
}

#[test]
fn a_value_moved_through_a_local_to_the_next_instruction_stays_on_the_stack() {
    let printed = printed_with_names("phi.wat");
    let phi = function_named(&printed, "phi");
    // The block's result goes straight into the add: no `local.set` and `local.get` (nor a
    // `local.tee` that nothing reads) between them.
    let direct = |w: &[&str]| {
        w[0] == "end" && w[1].starts_with("local.get") && w[2..] == ["i64.extend_i32_u", "i64.add"]
    };
    assert!(runs(&phi, 4, direct) > 0, "{phi}");
}

/// How many runs of `len` consecutive lines of `text` (each trimmed) `matches` accepts.
fn runs(text: &str, len: usize, matches: impl Fn(&[&str]) -> bool) -> usize {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines.windows(len).filter(|w| matches(w)).count()
}

/// Per function body of `wasm`: how many `block`s nothing branches to.
fn untargeted_blocks(wasm: &[u8]) -> Vec<usize> {
    use wasmparser::Operator as Op;
    let count = |body: &wasmparser::FunctionBody| {
        // The open constructs, innermost last: (is a `block`, something branches to it).
        let mut open = vec![(false, false)];
        let mut n = 0;
        for op in body.get_operators_reader().unwrap() {
            let mut target = |depth: u32| {
                let i = open.len() - 1 - depth as usize;
                open[i].1 = true;
            };
            match op.unwrap() {
                Op::Block { .. } => open.push((true, false)),
                Op::Loop { .. } | Op::If { .. } => open.push((false, false)),
                Op::Br { relative_depth } | Op::BrIf { relative_depth } => target(relative_depth),
                Op::BrTable { targets } => {
                    target(targets.default());
                    for t in targets.targets() {
                        target(t.unwrap());
                    }
                }
                Op::End => n += usize::from(open.pop() == Some((true, false))),
                _ => {}
            }
        }
        n
    };
    bodies(wasm).iter().map(count).collect()
}

/// `dispatch.wat`: the code that no rewind reaches (after a case's last pause) and the
/// sites no rewind passes over are left without a `block` around them, as is every other
/// block that nothing branches to (3 bytes each). The original has none.
#[test]
fn blocks_nothing_branches_to_are_removed() {
    let text = fixture("dispatch.wat");
    let original = wat::parse_str(&text).unwrap();
    assert!(untargeted_blocks(&original).iter().all(|n| *n == 0));
    let out = asyncify::transform(text.as_bytes(), &asyncify::Options::default()).unwrap();
    assert_eq!(
        untargeted_blocks(&out.wasm).iter().sum::<usize>(),
        0,
        "{}",
        wasmprinter::print_bytes(&out.wasm).unwrap()
    );
}

/// `loops.wat`'s `strided`, restoring at its sites: the path that skips the first call's arm
/// (a rewind to the second call) zeroes the one local the arm writes that is dead before it,
/// so the old value does not flow around the loop in the engine's view; the loop counter,
/// live before the arm anyway, gets nothing (`zero_on_skip` in `instrument/mod.rs`).
#[test]
fn a_skipping_path_zeroes_only_what_was_dead_before() {
    let text = fixture("loops.wat");
    let opts = asyncify::Options {
        restore_at_sites: Some(true),
        ..Default::default()
    };
    let out = asyncify::transform(text.as_bytes(), &opts).unwrap();
    let printed = wasmprinter::print_bytes(&out.wasm).unwrap();
    let strided = (printed.split("(func ").find(|f| f.contains("i32.const 4")))
        .expect("strided is in the output");
    let lines: Vec<&str> = strided.lines().map(str::trim).collect();
    // The `else` arms that hold code: each is its lines up to the `end` that closes it.
    let arms: Vec<&[&str]> = (lines.iter().enumerate())
        .filter(|(_, l)| **l == "else")
        .map(|(i, _)| {
            let len = lines[i + 1..].iter().position(|l| *l == "end").unwrap();
            &lines[i + 1..i + 1 + len]
        })
        .filter(|arm| !arm.is_empty())
        .collect();
    assert_eq!(arms.len(), 1, "{strided}");
    assert_eq!(arms[0].len(), 2, "{strided}");
    assert_eq!(arms[0][0], "i32.const 0", "{strided}");
    assert!(arms[0][1].starts_with("local.set"), "{strided}");
}

/// `dispatch.wat`'s interpreter with a rewind copy (`instrument/split.rs`): the exported
/// function's own body reads neither the rewind target nor `$normal` (no guards, site tests
/// or restores are left), and reads the state only at its entry, which calls the copy, and
/// in each call's unwind check; the copy holds the rewind. The fixture's run lines check that
/// both resume (`check_fixture` runs every fixture with copies).
#[test]
fn a_rewind_copy_leaves_the_normal_body_without_rewind_code() {
    let text = fixture("dispatch.wat");
    let opts = asyncify::Options {
        rewind_copy: Some(true),
        ..Default::default()
    };
    let names = asyncify::Emit { debug_names: true };
    let out = asyncify::transform_with(text.as_bytes(), &opts, names).unwrap();
    let printed = wasmprinter::print_bytes(&out.wasm).unwrap();
    let funcs: Vec<&str> = printed.split("(func ").collect();
    let normal = (funcs.iter())
        .find(|f| f.contains("call $interp$rewind"))
        .unwrap_or_else(|| panic!("no call of the copy: {printed}"));
    let copy = (funcs.iter())
        .find(|f| f.starts_with("$interp$rewind"))
        .unwrap_or_else(|| panic!("no copy: {printed}"));
    let reads = |f: &str, global: &str| f.matches(&format!("global.get ${global}")).count();
    assert_eq!(reads(normal, "__asyncify_rewind_target"), 0, "{normal}");
    assert_eq!(reads(normal, "__asyncify_normal"), 0, "{normal}");
    let calls = normal.matches("call $pause").count() + normal.matches("call $tick").count();
    assert!(calls > 0, "{normal}");
    assert_eq!(reads(normal, "__asyncify_state"), 1 + calls, "{normal}");
    assert!(reads(copy, "__asyncify_rewind_target") > 0, "{copy}");
}

/// A recursion whose every level calls itself inside a loop (what gets a rewind copy), which
/// pauses at its bottom; its asyncify stack is the second MiB of its memory.
const RECURSION: &str = r#"(module
  (import "env" "pause" (func $pause))
  (memory (export "memory") 32)
  (func $rec (export "rec") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (if (i32.eqz (local.get $n))
      (then (call $pause) (return (i32.const 1))))
    (local.set $acc (local.get $n))
    (loop $again
      (local.set $acc
        (i32.add (local.get $acc) (call $rec (i32.sub (local.get $n) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1))))
    (local.get $acc)))"#;

/// Runs `rec(depth)` of `RECURSION`, transformed to `wasm`, pausing at its import or not.
fn recurse(wasm: &[u8], depth: i32, pause: bool) -> common::Outcome {
    let mut runner = Runner::with_data(wasm, pause, u64::MAX, "memory", 1 << 20, 2 << 20).unwrap();
    runner.call("rec", &[wasmtime::Val::I32(depth)])
}

#[test]
fn a_paused_recursion_through_a_rewind_copy_resumes_about_as_deep_as_it_runs() {
    // A rewinding caller calls the copy itself: were it to enter the normal body, whose
    // entry then calls the copy, every paused level would hold both frames while rewinding.
    let opts = asyncify::Options {
        rewind_copy: Some(true),
        ..Default::default()
    };
    let wasm = asyncify::transform(wat::parse_str(RECURSION).unwrap().as_slice(), &opts)
        .unwrap()
        .wasm;
    // The deepest recursion that runs (the engine's stack is what stops it).
    let (mut ok, mut fails) = (1, 1 << 20);
    assert!(recurse(&wasm, fails, false).result.is_err());
    while fails - ok > 1 {
        let mid = (ok + fails) / 2;
        match recurse(&wasm, mid, false).result {
            Ok(_) => ok = mid,
            Err(_) => fails = mid,
        }
    }
    let deep = ok * 9 / 10;
    let paused = recurse(&wasm, deep, true);
    assert_eq!(paused.pauses, 1);
    assert_eq!(
        paused.result,
        recurse(&wasm, deep, false).result,
        "depth {deep} of {ok}"
    );
}
