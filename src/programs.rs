//! `bench-programs/programs.toml`: the programs, their sizes and expected checksums.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub program: Vec<Program>,
}

impl Manifest {
    /// The programs called `names`, in that order (`what` names the option they came from).
    pub fn pick(&self, names: &[String], what: &str) -> Result<Vec<Program>> {
        names
            .iter()
            .map(|name| {
                let p = self.program.iter().find(|p| &p.name == name);
                p.cloned()
                    .with_context(|| format!("{what}: no program `{name}` in programs.toml"))
            })
            .collect()
    }
}

#[derive(Debug, Deserialize, Clone)]
pub struct Program {
    pub name: String,
    /// Paths relative to `bench-programs/`; `{crate}` and `*` as in [`crate::sources`].
    pub sources: Vec<String>,
    /// File names a `*` source must not match.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Part of the quick run (default); `false`: only with `--full`.
    #[serde(default = "yes")]
    pub quick: bool,
    /// In a quick run, Binaryen's outputs come from the cache under `target/bench/cache/`
    /// (made by the first run) and their transform time is not measured: Binaryen takes up
    /// to a minute per transform on the big programs. `--full` times them.
    #[serde(default)]
    pub quick_from_cache: bool,
    pub lang: Lang,
    pub sizes: Vec<u32>,
    /// Where the program calls `env.pause`.
    pub pause: String,
    /// Checksum per size: string keys (TOML tables) and string values (u64 beyond i64).
    #[serde(default)]
    pub expected: BTreeMap<String, String>,
    /// Compiler and linker flags, after the sources; `{crate}` as in sources.
    #[serde(default)]
    pub flags: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    C,
    Cpp,
}

impl Program {
    /// The sizes a run uses: the first two when quick, all otherwise.
    pub fn sizes(&self, full: bool) -> &[u32] {
        if full {
            &self.sizes
        } else {
            &self.sizes[..self.sizes.len().min(2)]
        }
    }

    /// The size the runtime stage times: the largest, long enough to time well.
    pub fn runtime_size(&self) -> u32 {
        *self.sizes.last().unwrap_or(&1)
    }

    pub fn expected(&self, size: u32) -> Option<u64> {
        self.expected
            .get(&size.to_string())
            .and_then(|v| v.parse().ok())
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

pub fn load(path: &Path) -> Result<Manifest> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid program list", path.display()))
}

#[cfg(test)]
mod tests {
    use super::{load, root};

    #[test]
    fn picks_programs_by_name_in_the_order_asked_and_names_an_unknown_one() {
        let manifest = load(&root().join("bench-programs/programs.toml")).unwrap();
        let names = ["life".to_string(), "primes".to_string()];
        let picked = manifest.pick(&names, "--only").unwrap();
        assert_eq!(
            picked.iter().map(|p| &p.name).collect::<Vec<_>>(),
            ["life", "primes"]
        );
        let e = manifest.pick(&["lfe".into()], "--only").unwrap_err();
        assert_eq!(e.to_string(), "--only: no program `lfe` in programs.toml");
    }
}
