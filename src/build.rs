//! Stage `build`: compiles every program to wasm32-wasi with clang-16, cached by content under
//! `target/bench/build/` so reruns are free.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::programs::{root, Lang, Program};

pub fn out_dir() -> PathBuf {
    root().join("target/bench")
}

/// Compiles `p` (if its sources or flags changed) and returns the path of its module.
pub fn build(p: &Program) -> Result<PathBuf> {
    let dir = root().join("bench-programs");
    let mut args: Vec<String> = vec![
        "--target=wasm32-wasi".into(),
        "-O2".into(),
        "-Wl,--strip-debug".into(),
    ];
    if p.lang == Lang::Cpp {
        args.extend([
            "-fno-exceptions".into(),
            "-isystem".into(),
            "/usr/include/wasm32-wasi/c++/v1".into(),
        ]);
    }
    args.extend(p.flags.iter().cloned());
    let mut h = DefaultHasher::new();
    args.hash(&mut h);
    for s in &p.sources {
        std::fs::read(dir.join(s))
            .with_context(|| format!("{}: cannot read source {s}", p.name))?
            .hash(&mut h);
    }
    std::fs::read(dir.join("micro/bench.h"))
        .unwrap_or_default()
        .hash(&mut h);
    let out = out_dir()
        .join("build")
        .join(format!("{}-{:016x}.wasm", p.name, h.finish()));
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(out.parent().unwrap())?;
    let compiler = if p.lang == Lang::Cpp {
        "clang++-16"
    } else {
        "clang-16"
    };
    // Unique per process: two runs may build the same program at once (the tests do).
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let status = Command::new(compiler)
        .args(&args)
        .args(p.sources.iter().map(|s| dir.join(s)))
        .arg("-lm")
        .arg("-o")
        .arg(&tmp)
        .status()
        .with_context(|| format!("cannot run {compiler} (scripts/setup installs it)"))?;
    if !status.success() {
        bail!("{}: {compiler} failed", p.name);
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}
