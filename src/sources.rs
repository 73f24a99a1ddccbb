//! Sources of the macro-benchmarks: C libraries that registry crates ship (SQLite in
//! libsqlite3-sys, Lua in lua-src, ...). `cargo metadata` on `bench-programs/macro/Cargo.toml`
//! downloads them into cargo's cache and says where each crate is; nothing is copied into git.
//!
//! In `programs.toml`, `{crate-name}` in a source or flag stands for that crate's folder, and a
//! `*` in a source's file name matches every file of its folder (minus `exclude`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use crate::programs::root;

fn manifest() -> PathBuf {
    root().join("bench-programs/macro/Cargo.toml")
}

/// Crate name -> its folder in cargo's registry cache; computed once per process.
fn crate_dirs() -> Result<HashMap<String, PathBuf>> {
    static DIRS: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut dirs = DIRS.lock().unwrap();
    if let Some(d) = &*dirs {
        return Ok(d.clone());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(manifest())
        .output()
        .with_context(|| format!("cannot run `{cargo} metadata`"))?;
    if !out.status.success() {
        bail!(
            "`cargo metadata` on {} failed (it downloads the macro-benchmarks' sources): {}",
            manifest().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("`cargo metadata` printed no JSON")?;
    let mut found = HashMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if let (Some(name), Some(path)) = (p["name"].as_str(), p["manifest_path"].as_str()) {
            found.insert(
                name.to_string(),
                Path::new(path).parent().unwrap().to_path_buf(),
            );
        }
    }
    *dirs = Some(found.clone());
    Ok(found)
}

/// Replaces every `{crate}` in `text` with the crate's folder.
pub fn expand(text: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            bail!("`{text}`: unclosed `{{`");
        };
        let name = &rest[start + 1..start + len];
        let dirs = crate_dirs()?;
        let dir = dirs
            .get(name)
            .with_context(|| format!("`{text}`: no crate `{name}` in {}", manifest().display()))?;
        out.push_str(&rest[..start]);
        out.push_str(&dir.to_string_lossy());
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The files a source entry names: a path relative to `bench-programs/` (or a crate folder),
/// whose file name may hold one `*`, minus files named in `exclude`.
pub fn files(entry: &str, exclude: &[String]) -> Result<Vec<PathBuf>> {
    let path = root().join("bench-programs").join(expand(entry)?);
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return Ok(vec![path]);
    };
    let dir = path.parent().unwrap();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("`{entry}`: cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.len() >= prefix.len() + suffix.len()
                && n.starts_with(prefix)
                && n.ends_with(suffix)
                && !exclude.contains(n)
        })
        .map(|n| dir.join(n))
        .collect();
    if found.is_empty() {
        bail!("`{entry}` matches no file");
    }
    found.sort();
    Ok(found)
}
