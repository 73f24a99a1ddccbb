//! `asyncify IN -o OUT [options]`: a drop-in for `wasm-opt IN --asyncify -o OUT`.
//!
//! Accepts our option names and Binaryen's (`--pass-arg=asyncify-imports@env.sleep`), plus
//! the wasm-opt flags a build script passes along (`--asyncify`, `-O*`, `--enable-*`), which
//! need no action here (clap parses the command line, after `wasm_opt_spellings`). Text input
//! may use Binaryen's dialect (`asyncify::text`), and `--print` writes the result as text to
//! stdout, so the seed article's `wasm-opt input.wat -O --asyncify --print > output.wat` works
//! with `asyncify` in its place. Every error prints one line naming the problem and exits with
//! 1 (a command line that clap rejects: its message and the usage, exit 2); the output file is
//! written atomically, only after the result has validated.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use asyncify::{Emit, Options};
use clap::{Parser, ValueEnum};

/// Transform a WebAssembly module so that its code can pause and resume (Asyncify): a drop-in
/// for `wasm-opt IN --asyncify -o OUT`.
#[derive(Parser)]
#[command(name = "asyncify", version, max_term_width = 100, after_help = AFTER_HELP)]
#[command(args_override_self = true)]
struct Cli {
    /// The module: binary, standard text, or Binaryen's text dialect (`if` arms without
    /// then/else, imports after definitions, a function ending in a loop that ends in `br`)
    #[arg(value_name = "IN.wasm|IN.wat")]
    input: PathBuf,
    /// Where to write the result
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write the result as text (.wat) to stdout (with -g: with function names)
    #[arg(long)]
    print: bool,
    /// Write the text format (.wat) to the -o file
    #[arg(short = 'S', long)]
    emit_text: bool,
    /// Keep the name section
    #[arg(short = 'g', long)]
    debuginfo: bool,
    /// Imports that may pause, as module.base globs (comma separated, or @FILE) [default:
    /// every import may pause]
    #[arg(long, value_name = "LIST")]
    imports: Option<String>,
    /// No import may pause
    #[arg(long)]
    ignore_imports: bool,
    /// Indirect calls never pause (unsafe if one does)
    #[arg(long)]
    ignore_indirect: bool,
    /// Binaryen's assumption: every indirect call may pause [default: only those that can
    /// reach a function that may, by table and type]
    #[arg(long)]
    every_indirect_may_pause: bool,
    /// The host never puts functions into the module's imported or exported tables, nor hands
    /// it function references [default: such tables' indirect calls, and call_ref when a
    /// reference crosses the module's boundary, may reach anything]
    #[arg(long)]
    closed_world: bool,
    /// Instrument exactly these functions
    #[arg(long, value_name = "LIST")]
    only_list: Option<String>,
    /// These functions may pause too
    #[arg(long, value_name = "LIST")]
    add_list: Vec<String>,
    /// These functions never pause
    #[arg(long, value_name = "LIST")]
    remove_list: Vec<String>,
    /// Callers of add-listed functions may pause too
    #[arg(long)]
    propagate_add_list: bool,
    /// The exported memory holding the asyncify data [default: memory 0]
    #[arg(long, value_name = "NAME")]
    memory: Option<String>,
    /// Where a rewind restores a function's locals (for tuning; see docs/transform.md)
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = Restore::Auto)]
    restore_locals: Restore,
    /// Which functions run their rewind in a copy of themselves, so that their own body
    /// serves the normal state alone (for tuning; see docs/transform.md)
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = RewindCopy::Auto)]
    rewind_copy: RewindCopy,
    /// Print each instrumented function and why
    #[arg(long)]
    verbose: bool,
    /// Binaryen's spelling of the options above (also `-pa`)
    #[arg(long, value_name = "asyncify-NAME[@VALUE]")]
    pass_arg: Vec<String>,
    /// Accepted for wasm-opt compatibility (no action)
    #[arg(long)]
    asyncify: bool,
    /// Accepted for wasm-opt compatibility (no action), as are --enable-* and --disable-*
    #[arg(long)]
    all_features: bool,
    /// Accepted for wasm-opt compatibility as -O, -O0..-O4, -Os, -Oz (no action)
    #[arg(long, value_name = "LEVEL", value_parser = ["0", "1", "2", "3", "4", "s", "z"])]
    opt_level: Option<String>,
}

const AFTER_HELP: &str =
    "A LIST is comma separated (commas inside brackets, as in `foo(int, char)`, \
do not split), or @FILE with one entry per line. Errors name the problem and exit with 1; the \
output file is written atomically, only after the result has validated.";

/// `--restore-locals`: `Options::restore_at_sites`.
#[derive(Clone, Copy, ValueEnum)]
enum Restore {
    /// Per function: at the site in functions with a hot inner loop, else at the entry
    Auto,
    /// Once, at every function's entry (Binaryen's shape)
    Entry,
    /// At the site the rewind heads for, in every function
    Sites,
}

/// `--rewind-copy`: `Options::rewind_copy`.
#[derive(Clone, Copy, ValueEnum)]
enum RewindCopy {
    /// Functions with a loop that restore their locals at the entry
    Auto,
    /// No function
    Never,
    /// Every instrumented function
    Always,
}

/// wasm-opt's spellings that clap cannot take as they are: `-pa` is `--pass-arg`, `-O2` is
/// `--opt-level 2`, and feature flags are dropped (the transform reads every feature).
fn wasm_opt_spellings(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    for arg in args {
        match arg.to_str() {
            Some("-pa") => out.push("--pass-arg".into()),
            Some(a) if a.starts_with("-O") && a.len() <= 3 => {
                out.push("--opt-level".into());
                out.push(if a.len() == 2 { "2" } else { &a[2..] }.into());
            }
            Some(a) if a.starts_with("--enable-") || a.starts_with("--disable-") => {}
            _ => out.push(arg),
        }
    }
    out
}

impl Cli {
    fn options(&self) -> Result<Options> {
        if self.output.is_none() && !self.print {
            bail!("no output file given: use -o OUT, or --print to write text to stdout");
        }
        let mut opts = Options {
            ignore_imports: self.ignore_imports,
            ignore_indirect: self.ignore_indirect,
            every_indirect_may_pause: self.every_indirect_may_pause,
            closed_world: self.closed_world,
            propagate_add_list: self.propagate_add_list,
            memory: self.memory.clone(),
            verbose: self.verbose,
            restore_at_sites: match self.restore_locals {
                Restore::Auto => None,
                Restore::Entry => Some(false),
                Restore::Sites => Some(true),
            },
            rewind_copy: match self.rewind_copy {
                RewindCopy::Auto => None,
                RewindCopy::Never => Some(false),
                RewindCopy::Always => Some(true),
            },
            ..Options::default()
        };
        let lists = (self.imports.iter().map(|v| ("imports", v)))
            .chain(self.only_list.iter().map(|v| ("onlylist", v)))
            .chain(self.add_list.iter().map(|v| ("addlist", v)))
            .chain(self.remove_list.iter().map(|v| ("removelist", v)));
        for (name, v) in lists {
            opts.apply_pass_arg(&format!("asyncify-{name}@{v}"))?;
        }
        for a in &self.pass_arg {
            opts.apply_pass_arg(a)?;
        }
        opts.check()?;
        Ok(opts)
    }
}

fn run(cli: Cli) -> Result<()> {
    let opts = cli.options()?;
    let bytes = std::fs::read(&cli.input)
        .with_context(|| format!("cannot read `{}`", cli.input.display()))?;
    let out = asyncify::transform_with(
        &bytes,
        &opts,
        Emit {
            debug_names: cli.debuginfo,
        },
    )
    .with_context(|| format!("`{}`", cli.input.display()))?;
    for w in &out.report.warnings {
        eprintln!("warning: {w}");
    }
    if opts.verbose {
        for (f, why) in &out.report.instrumented {
            eprintln!("[asyncify] {f}: {why}");
        }
    }
    let printed = if cli.emit_text || cli.print {
        Some(print_text(&out.wasm)?)
    } else {
        None
    };
    if let Some(path) = &cli.output {
        match (&printed, cli.emit_text) {
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

/// Writes to a temporary file beside the target, then renames it over the target. A target
/// that exists and is not a regular file (`/dev/null`, a named pipe) is written as it is:
/// renaming over it would replace the device or pipe with a file.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::write(path, data)
            .with_context(|| format!("cannot write `{}`", path.display()));
    }
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
    let cli = Cli::parse_from(wasm_opt_spellings(std::env::args_os()));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asyncify: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
