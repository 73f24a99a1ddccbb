//! The `asyncify` command as a user runs it: formats, Binaryen's spelling, and errors that
//! name the problem, exit non-zero and leave no output behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asyncify"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seed")
        .join(name)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean failure: status 1, one line naming `needle`, no panic, no output file.
fn assert_fails(o: &Output, needle: &str, out: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "no output file on error");
}

#[test]
fn text_in_binary_out_validates() {
    let out = tmp("sleep.wasm");
    let o = bin()
        .arg(seed("sleep.wat"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let wasm = std::fs::read(&out).unwrap();
    wasmparser::validate(&wasm).unwrap();
    let exports: Vec<String> = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::ExportSection(s) => Some(
                s.into_iter()
                    .map(|e| e.unwrap().name.to_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    for name in [
        "asyncify_start_unwind",
        "asyncify_stop_unwind",
        "asyncify_start_rewind",
        "asyncify_stop_rewind",
        "asyncify_get_state",
    ] {
        assert!(exports.iter().any(|e| e == name), "missing export {name}");
    }
}

#[test]
fn emit_text_writes_wat_that_parses() {
    let out = tmp("sleep.wat");
    let o = bin()
        .arg(seed("sleep.wat"))
        .args(["-S", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("(module"));
    wasmparser::validate(&wat::parse_str(&text).unwrap()).unwrap();
}

#[test]
fn binaryen_spelling_and_lists_from_files() {
    let list = tmp("imports.txt");
    std::fs::write(&list, "env.sleep\n").unwrap();
    let out = tmp("list.wasm");
    let o = bin()
        .arg(seed("sleep.wat"))
        .args([
            "--asyncify",
            "-O",
            "-O3",
            "-Oz",
            "--enable-bulk-memory",
            "--disable-simd",
            "--all-features",
            "-pa",
            "asyncify-verbose",
        ])
        .arg(format!("--pass-arg=asyncify-imports@@{}", list.display()))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("main: calls sleep -> import env.sleep may pause"),
        "{err}"
    );
    // Only env.sleep may pause: the calls to before/after are left alone, so the module is
    // smaller than in the worst mode.
    let worst = tmp("worst.wasm");
    let o = bin()
        .arg(seed("sleep.wat"))
        .arg("-o")
        .arg(&worst)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(std::fs::metadata(&out).unwrap().len() < std::fs::metadata(&worst).unwrap().len());
}

#[test]
fn an_unreadable_file_is_named() {
    let out = tmp("missing.wasm");
    let o = bin()
        .arg("/nonexistent/in.wasm")
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_fails(&o, "cannot read `/nonexistent/in.wasm`", &out);
}

#[test]
fn an_invalid_module_is_rejected() {
    let input = tmp("bad.wasm");
    std::fs::write(&input, b"\0asm\x01\0\0\0\x99garbage").unwrap();
    let out = tmp("bad-out.wasm");
    let o = bin().arg(&input).arg("-o").arg(&out).output().unwrap();
    assert_fails(&o, "invalid input module", &out);
}

#[test]
fn bad_options_are_named() {
    let out = tmp("opt.wasm");
    let o = bin()
        .arg(seed("sleep.wat"))
        .arg("--pass-arg=asyncify-frobnicate")
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_fails(&o, "asyncify-frobnicate", &out);
    // A command line clap rejects: its message and the usage, exit 2 (clap's convention).
    for bad in [["--wibble", "x"], ["--restore-locals", "nowhere"]] {
        let o = bin()
            .arg(seed("sleep.wat"))
            .args(bad)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(bad[0]) && err.starts_with("error: "), "{err}");
        assert!(!out.exists(), "no output file on error");
    }
    let o = bin().arg(seed("sleep.wat")).output().unwrap();
    assert_fails(&o, "no output file given: use -o OUT, or --print", &out);
    let o = bin()
        .arg(seed("sleep.wat"))
        .args(["--only-list", "main", "--add-list", "x", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_fails(&o, "asyncify-onlylist", &out);
    let o = bin()
        .arg(seed("sleep.wat"))
        .args(["--memory", "nope", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_fails(&o, "no exported memory `nope`", &out);
}

#[test]
fn unsupported_features_name_the_function() {
    let cases = [
        (
            "tail.wat",
            r#"(module (import "env" "sleep" (func $sleep))
                (func $t (export "t") (return_call $sleep)))"#,
            "function `t`: a tail call",
        ),
        (
            "refs.wat",
            r#"(module (import "env" "sleep" (func $sleep))
                (func $r (export "r") (result funcref) (local $f funcref)
                  (local.set $f (ref.func $r)) (call $sleep) (local.get $f)))"#,
            "function `r`: a reference-typed local live across a pause",
        ),
        (
            "exn.wat",
            r#"(module (import "env" "sleep" (func $sleep)) (tag $e)
                (func $x (export "x")
                  (block $h (try_table (catch_all $h) (call $sleep)))))"#,
            "function `x`: a pause inside an exception handling block",
        ),
    ];
    for (name, text, needle) in cases {
        let input = tmp(name);
        std::fs::write(&input, text).unwrap();
        let out = tmp(&format!("{name}.out.wasm"));
        let o = bin().arg(&input).arg("-o").arg(&out).output().unwrap();
        assert_fails(&o, needle, &out);
    }
}

#[test]
fn an_error_leaves_an_existing_output_untouched() {
    let out = tmp("keep.wasm");
    std::fs::write(&out, b"previous").unwrap();
    let o = bin()
        .arg("/nonexistent.wat")
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"previous");
}

#[test]
fn print_writes_text_to_stdout_and_no_file() {
    // The seed article's command line, run in an empty directory: nothing but stdout.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-print");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let o = bin()
        .current_dir(&dir)
        .arg(seed("article_runtime.wat"))
        .args(["-O", "--asyncify", "--print"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("(module"), "{text}");
    let wasm = wat::parse_str(&text).unwrap();
    wasmparser::validate(&wasm).unwrap();
    assert!(text.contains("(export \"asyncify_start_unwind\""), "{text}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no file written"
    );
    // With -o too, both: the binary file and its text on stdout.
    let out = tmp("printed.wasm");
    let o = bin()
        .arg(seed("article_sleep.wat"))
        .args(["--print", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let file = std::fs::read(&out).unwrap();
    assert!(file.starts_with(b"\0asm"));
    let printed = wat::parse_str(String::from_utf8(o.stdout).unwrap()).unwrap();
    assert_eq!(
        wasmprinter::print_bytes(&printed).unwrap(),
        wasmprinter::print_bytes(&file).unwrap(),
        "the same module"
    );
}

#[test]
fn invalid_text_names_the_file_and_line() {
    // Binaryen's dialect (import after the memory, a bare `if` arm) with a real mistake on
    // line 5: the standard parser's message, at the line and column of the file as written.
    let input = tmp("bad-dialect.wat");
    std::fs::write(
        &input,
        "(module\n  (memory 1 1)\n  (import \"env\" \"sleep\" (func $sleep))\n  (func $main\n    (if (i32.const 1) (block (call $sleep) (i32.frob)))))\n",
    )
    .unwrap();
    let out = tmp("bad-dialect.wasm");
    let o = bin()
        .arg(&input)
        .args(["--print", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_fails(
        &o,
        &format!(
            "`{}`: invalid input module: line 5, column 45: unknown operator or unexpected token",
            input.display()
        ),
        &out,
    );
    assert!(o.stdout.is_empty(), "nothing printed on error");
    // Standard text with a mistake: the same kind of message.
    std::fs::write(&input, "(module\n  (func (i32.frob)))\n").unwrap();
    let o = bin().arg(&input).arg("--print").output().unwrap();
    assert_fails(
        &o,
        "bad-dialect.wat`: invalid input module: line 2, column",
        &out,
    );
}

/// Runs `asyncify` on a construct fixture with `args` and `-o NAME`, which must succeed:
/// its stderr and the output.
fn transform_fixture(fixture: &str, name: &str, args: &[&str]) -> (String, Vec<u8>) {
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/constructs")
        .join(fixture);
    let out = tmp(name);
    let o = bin()
        .arg(input)
        .args(args)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    (stderr(&o), std::fs::read(&out).unwrap())
}

/// `--verbose` explains an indirect chain; `--every-indirect-may-pause` (Binaryen's
/// assumption) instruments more; `--closed-world` is accepted.
#[test]
fn indirect_call_options() {
    let size = |name: &str, extra: &[&str]| {
        let args = [&["--imports", "env.pause", "--verbose"], extra].concat();
        let (err, wasm) = transform_fixture("indirect.wat", name, &args);
        (err, wasm.len())
    };
    let (err, by_type) = size("by-type.wasm", &[]);
    assert!(
        err.contains("by_type: calls pauses indirectly (type ")
            && err.contains("-> calls pause -> import env.pause may pause"),
        "{err}"
    );
    assert!(!err.contains("pure_only"), "{err}");
    let (err, every) = size("every.wasm", &["--every-indirect-may-pause"]);
    assert!(
        err.contains("pure_only: makes an indirect call that may reach anything"),
        "{err}"
    );
    assert!(every > by_type, "{every} > {by_type}");
    let (_, closed) = size("closed.wasm", &["--closed-world"]);
    assert_eq!(closed, by_type, "no open table in this module");
}

/// `--restore-locals` reaches the transform: the two forced shapes differ from each other,
/// and `auto` is the default.
#[test]
fn restore_locals_picks_the_shape() {
    let run = |name: &str, args: &[&str]| transform_fixture("loops.wat", name, args).1;
    let default = run("restore-default.wasm", &[]);
    let auto = run("restore-auto.wasm", &["--restore-locals", "auto"]);
    let entry = run("restore-entry.wasm", &["--restore-locals", "entry"]);
    let sites = run("restore-sites.wasm", &["--restore-locals=sites"]);
    assert_eq!(default, auto);
    assert_ne!(entry, sites);
}

/// `--rewind-copy` (`Options::rewind_copy`): `auto` is the default, and giving every function
/// a copy changes the output.
#[test]
fn rewind_copy_picks_the_functions() {
    let run = |name: &str, args: &[&str]| transform_fixture("dispatch.wat", name, args).1;
    let default = run("copy-default.wasm", &[]);
    let auto = run("copy-auto.wasm", &["--rewind-copy", "auto"]);
    let never = run("copy-never.wasm", &["--rewind-copy", "never"]);
    let always = run("copy-always.wasm", &["--rewind-copy=always"]);
    assert_eq!(default, auto);
    assert_ne!(never, always);
}

/// An output that is not a regular file (a named pipe here, `/dev/null` in a build script) is
/// written as it is: the atomic write's rename would replace it with a file.
#[test]
fn an_output_pipe_stays_a_pipe() {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let fifo = tmp("out.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // The read end, opened first and without blocking (Linux's O_NONBLOCK), so that the
    // command's open for writing does not wait and a module smaller than the pipe's buffer
    // is waiting there when it exits.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(&fifo)
        .unwrap();
    let o = bin()
        .arg(seed("sleep.wat"))
        .arg("-o")
        .arg(&fifo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
    let mut wasm = Vec::new();
    reader.read_to_end(&mut wasm).unwrap();
    wasmparser::validate(&wasm).unwrap();
}
