//! `asyncify IN -o OUT [options]`: a drop-in for `wasm-opt IN --asyncify -o OUT`.
//!
//! Accepts our option names and Binaryen's (`--pass-arg=asyncify-imports@env.sleep`), plus
//! the wasm-opt flags a build script passes along (`--asyncify`, `-O*`, `--enable-*`), which
//! need no action here. Text input may use Binaryen's dialect (`asyncify::text`), and
//! `--print` writes the result as text to stdout, so the seed article's
//! `wasm-opt input.wat -O --asyncify --print > output.wat` works with `asyncify` in its place.
//! Every error prints one line naming the problem and exits with 1; the output file is
//! written atomically, only after the result has validated.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use asyncify::{Emit, Options};

const USAGE: &str = "usage: asyncify IN.wasm|IN.wat (-o OUT | --print) [options]

IN.wat may be standard text or Binaryen's dialect (`if` arms without then/else, imports after
definitions, a function ending in a loop that ends in `br`).

options:
  -o, --output FILE        where to write the result
  --print                  write the result as text (.wat) to stdout (-g: with function names)
  -S, --emit-text          write the text format (.wat) to the -o file
  -g, --debuginfo          keep the name section
  --imports LIST           imports that may pause, as module.base globs (comma separated or @FILE);
                           default: every import may pause
  --ignore-imports         no import may pause
  --ignore-indirect        indirect calls never pause (unsafe if one does)
  --every-indirect-may-pause
                           Binaryen's assumption: every indirect call may pause (default: only
                           those that can reach a function that may, by table and type)
  --closed-world           the host never puts functions into the module's imported or
                           exported tables, nor hands it function references (default: such
                           tables' indirect calls, and call_ref when a reference crosses the
                           module's boundary, may reach anything)
  --only-list LIST         instrument exactly these functions
  --add-list LIST          these functions may pause too
  --remove-list LIST       these functions never pause
  --propagate-add-list     callers of add-listed functions may pause too
  --memory NAME            the exported memory holding the asyncify data
  --verbose                print each instrumented function and why
  --pass-arg=asyncify-NAME[@VALUE]   Binaryen's spelling of the options above
  --asyncify, -O, -O1..-O4, -Os, -Oz, --enable-*, --all-features   accepted for wasm-opt compatibility
";

struct Cli {
    input: PathBuf,
    output: Option<PathBuf>,
    text: bool,
    print: bool,
    emit: Emit,
    opts: Options,
}

fn parse_args(args: Vec<String>) -> Result<Option<Cli>> {
    let mut input = None;
    let mut output = None;
    let mut text = false;
    let mut print = false;
    let mut emit = Emit::default();
    let mut opts = Options::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .with_context(|| format!("option `{name}` needs a value"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-o" | "--output" => output = Some(PathBuf::from(value(&arg)?)),
            "-S" | "--emit-text" => text = true,
            "--print" => print = true,
            "-g" | "--debuginfo" => emit.debug_names = true,
            "--imports" => opts.apply_pass_arg(&format!("asyncify-imports@{}", value(&arg)?))?,
            "--ignore-imports" => opts.ignore_imports = true,
            "--ignore-indirect" => opts.ignore_indirect = true,
            "--every-indirect-may-pause" => opts.every_indirect_may_pause = true,
            "--closed-world" => opts.closed_world = true,
            "--only-list" => opts.apply_pass_arg(&format!("asyncify-onlylist@{}", value(&arg)?))?,
            "--add-list" => opts.apply_pass_arg(&format!("asyncify-addlist@{}", value(&arg)?))?,
            "--remove-list" => {
                opts.apply_pass_arg(&format!("asyncify-removelist@{}", value(&arg)?))?
            }
            "--propagate-add-list" => opts.propagate_add_list = true,
            "--memory" => opts.memory = Some(value(&arg)?),
            "--verbose" => opts.verbose = true,
            "--pass-arg" | "-pa" => opts.apply_pass_arg(&value(&arg)?)?,
            "--asyncify" | "--all-features" | "-O" | "-O0" | "-O1" | "-O2" | "-O3" | "-O4"
            | "-Os" | "-Oz" => {}
            a if a.starts_with("--pass-arg=") => opts.apply_pass_arg(&a["--pass-arg=".len()..])?,
            a if a.starts_with("--enable-") || a.starts_with("--disable-") => {}
            a if a.starts_with('-') && a.len() > 1 => bail!("unknown option `{a}` (see --help)"),
            a => {
                if input.replace(PathBuf::from(a)).is_some() {
                    bail!("more than one input file given (`{a}`)");
                }
            }
        }
    }
    let input = input.context("no input file given (see --help)")?;
    if output.is_none() && !print {
        bail!("no output file given: use -o OUT, or --print to write text to stdout");
    }
    opts.check()?;
    Ok(Some(Cli {
        input,
        output,
        text,
        print,
        emit,
        opts,
    }))
}

fn run() -> Result<()> {
    let Some(cli) = parse_args(std::env::args().skip(1).collect())? else {
        print!("{USAGE}");
        return Ok(());
    };
    let bytes = std::fs::read(&cli.input)
        .with_context(|| format!("cannot read `{}`", cli.input.display()))?;
    let out = asyncify::transform_with(&bytes, &cli.opts, cli.emit)
        .with_context(|| format!("`{}`", cli.input.display()))?;
    for w in &out.report.warnings {
        eprintln!("warning: {w}");
    }
    if cli.opts.verbose {
        for (f, why) in &out.report.instrumented {
            eprintln!("[asyncify] {f}: {why}");
        }
    }
    let printed = if cli.text || cli.print {
        Some(print_text(&out.wasm)?)
    } else {
        None
    };
    if let Some(path) = &cli.output {
        match (&printed, cli.text) {
            (Some(text), true) => write_atomically(path, text.as_bytes())?,
            _ => write_atomically(path, &out.wasm)?,
        }
    }
    if let (Some(text), true) = (printed, cli.print) {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
    }
    Ok(())
}

/// The text format with folded instructions, as `wasm-opt --print` writes it: Binaryen's own
/// reader (`wasm-shell` of Binaryen 108, which the seed article runs) and `wat` both read it.
fn print_text(wasm: &[u8]) -> Result<String> {
    let mut text = String::new();
    wasmprinter::Config::new()
        .fold_instructions(true)
        .print(wasm, &mut wasmprinter::PrintFmtWrite(&mut text))
        .context("cannot print the result as text")?;
    Ok(text)
}

/// Writes to a temporary file beside the target, then renames it over the target.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("`{}` is not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write `{}`", path.display()))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asyncify: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
