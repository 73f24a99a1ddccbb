//! The four modes and the tools that make them, as data: a run is a (program, mode, tool).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::programs::root;

/// A fresh path beside `path` (same directory, so renaming it onto `path` is atomic), unique
/// across processes and across threads of one (the tests run stages concurrently and write
/// the same modules).
pub fn temp_beside(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// How much of the program may pause.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    pub name: &'static str,
    /// `None`: the untransformed program.
    pub asyncify: Option<Flags>,
}

#[derive(Clone, Copy, Debug)]
pub struct Flags {
    /// Only these imports may pause (`None`: every import).
    pub imports: Option<&'static str>,
    pub ignore_indirect: bool,
}

impl Flags {
    /// Our library's options for this mode (what the suite passes our CLI as flags).
    pub fn options(self) -> asyncify::Options {
        asyncify::Options {
            imports: self
                .imports
                .map(|l| l.split(',').map(String::from).collect()),
            ignore_indirect: self.ignore_indirect,
            ..Default::default()
        }
    }

    /// The asyncified mode called `name` (`what` names the option it came from).
    pub fn of_mode(name: &str, what: &str) -> anyhow::Result<Flags> {
        MODES
            .iter()
            .find_map(|m| m.asyncify.filter(|_| m.name == name))
            .ok_or_else(|| anyhow::anyhow!("{what}: no asyncified mode `{name}`"))
    }

    /// The import calls that may pause in this mode: what a checked run pauses at.
    pub fn pause(self) -> asyncify_host::check::Pause {
        use asyncify_host::check::Pause;
        match self.imports {
            None => Pause::EveryImport,
            Some(list) => Pause::Matching(list.split(',').map(String::from).collect()),
        }
    }
}

pub const MODES: [Mode; 4] = [
    Mode {
        name: "normal",
        asyncify: None,
    },
    Mode {
        name: "worst",
        asyncify: Some(Flags {
            imports: None,
            ignore_indirect: false,
        }),
    },
    Mode {
        name: "list",
        asyncify: Some(Flags {
            imports: Some("env.pause"),
            ignore_indirect: false,
        }),
    },
    Mode {
        name: "list-indirect",
        asyncify: Some(Flags {
            imports: Some("env.pause"),
            ignore_indirect: true,
        }),
    },
];

/// Who transforms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tool {
    Ours,
    /// Binaryen's `wasm-opt --asyncify`: Debian's 108 or npm's 132, with `-O2` or without.
    Binaryen {
        version: u32,
        optimize: bool,
    },
    /// A variant added to a run with `--tool NAME=COMMAND` (another build of ours, ours with an
    /// option, wasm-opt with other flags), called like wasm-opt:
    /// `COMMAND INPUT --asyncify [--pass-arg=asyncify-imports@LIST]
    /// [--pass-arg=asyncify-ignore-indirect] -o OUTPUT`.
    Variant {
        name: String,
        command: Vec<String>,
    },
}

pub const TOOLS: [Tool; 5] = [
    Tool::Ours,
    Tool::Binaryen {
        version: 108,
        optimize: true,
    },
    Tool::Binaryen {
        version: 132,
        optimize: true,
    },
    Tool::Binaryen {
        version: 108,
        optimize: false,
    },
    Tool::Binaryen {
        version: 132,
        optimize: false,
    },
];

impl std::str::FromStr for Tool {
    type Err = String;

    /// `NAME=COMMAND`: the command is split at spaces (no shell), and the name is what the
    /// CSVs and charts call the variant.
    fn from_str(s: &str) -> Result<Tool, String> {
        let (name, command) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not NAME=COMMAND"))?;
        let ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if name.is_empty() || !name.chars().all(ok) {
            return Err(format!(
                "`{name}`: a tool name is letters, digits, `.`, `_` and `-`"
            ));
        }
        let taken = TOOLS.iter().any(|t| t.name() == name || t.label() == name);
        if taken || name == "clang" {
            return Err(format!("`{name}` is already a tool of the suite"));
        }
        let command: Vec<String> = command.split_whitespace().map(String::from).collect();
        if command.is_empty() {
            return Err(format!("`{name}` has no command"));
        }
        Ok(Tool::Variant {
            name: name.into(),
            command,
        })
    }
}

/// The tools of a run: the suite's own, then the variants given with `--tool`.
pub fn run_tools(variants: &[Tool]) -> Vec<Tool> {
    TOOLS.iter().chain(variants).cloned().collect()
}

impl Tool {
    pub fn name(&self) -> String {
        match self {
            Tool::Ours => "ours".into(),
            Tool::Binaryen { version, .. } => format!("binaryen-{version}"),
            Tool::Variant { name, .. } => name.clone(),
        }
    }

    pub fn optimized(&self) -> bool {
        match self {
            Tool::Binaryen { optimize, .. } => *optimize,
            Tool::Ours | Tool::Variant { .. } => true,
        }
    }

    /// A file-name-safe label including the optimisation setting.
    pub fn label(&self) -> String {
        match self {
            Tool::Ours => "ours".into(),
            Tool::Variant { name, .. } => name.clone(),
            Tool::Binaryen {
                version,
                optimize: true,
            } => format!("binaryen-{version}-O2"),
            Tool::Binaryen {
                version,
                optimize: false,
            } => format!("binaryen-{version}-O0"),
        }
    }

    /// The command that transforms `input` into `output` in `flags`' mode.
    pub fn command(&self, input: &Path, output: &Path, flags: Flags) -> Command {
        let mut c = match self {
            Tool::Ours => {
                let mut c = Command::new(ours_binary());
                c.arg(input);
                if let Some(list) = flags.imports {
                    c.args(["--imports", list]);
                }
                if flags.ignore_indirect {
                    c.arg("--ignore-indirect");
                }
                c
            }
            Tool::Variant { command, .. } => {
                let mut c = Command::new(&command[0]);
                c.args(&command[1..]).arg(input).arg("--asyncify");
                binaryen_flags(&mut c, flags);
                c
            }
            Tool::Binaryen { version, optimize } => {
                let mut c = if *version == 108 {
                    let mut c = Command::new("wasm-opt");
                    // Binaryen 108 rejects clang-16's output without these.
                    c.args([
                        "--enable-bulk-memory",
                        "--enable-nontrapping-float-to-int",
                        "--enable-sign-ext",
                        "--enable-mutable-globals",
                    ]);
                    c
                } else {
                    Command::new(root().join("tools/node_modules/.bin/wasm-opt"))
                };
                c.arg(input).arg("--asyncify");
                binaryen_flags(&mut c, flags);
                if *optimize {
                    c.arg("-O2");
                }
                c
            }
        };
        c.arg("-o").arg(output);
        c
    }
}

/// `flags` in wasm-opt's spelling.
fn binaryen_flags(c: &mut Command, flags: Flags) {
    if let Some(list) = flags.imports {
        c.arg(format!("--pass-arg=asyncify-imports@{list}"));
    }
    if flags.ignore_indirect {
        c.arg("--pass-arg=asyncify-ignore-indirect");
    }
}

pub fn ours_binary() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let dir = exe.as_ref().and_then(|e| e.parent()).map(Path::to_path_buf);
    dir.map(|d| d.join("asyncify"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| root().join("target/release/asyncify"))
}

/// `tool`'s output for `input` in `flags`' mode, made once and kept under
/// `target/bench/cache/`, keyed by the input's bytes, the tool and the flags (Binaryen's
/// output is deterministic, and slow to make for big programs).
pub fn transform_cached(tool: &Tool, input: &Path, flags: Flags) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    tool.label().hash(&mut h);
    format!("{flags:?}").hash(&mut h);
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    let dir = root().join("target/bench/cache");
    let out = dir.join(format!("{stem}.{}.{:016x}.wasm", tool.label(), h.finish()));
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(&dir)?;
    let tmp = temp_beside(&out);
    let result = tool
        .command(input, &tmp, flags)
        .output()
        .with_context(|| format!("cannot run {} (scripts/setup installs it)", tool.label()))?;
    if !result.status.success() {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!(
            "{} on {}: {}",
            tool.label(),
            input.display(),
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}
