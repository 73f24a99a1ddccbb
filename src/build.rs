//! Stage `build`: compiles every program to wasm32-wasi with clang-16, cached by content under
//! `target/bench/build/` so reruns are free.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use crate::programs::{root, Lang, Program};
use crate::sources;

pub fn out_dir() -> PathBuf {
    root().join("target/bench")
}

/// Our headers (`bench.h`, the macro drivers' shims): part of every program's cache key.
fn our_headers(dir: &Path, h: &mut DefaultHasher) {
    let mut paths: Vec<PathBuf> = ["micro", "macro", "macro/shim"]
        .iter()
        .filter_map(|d| std::fs::read_dir(dir.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    paths.sort();
    for p in paths {
        std::fs::read(&p).unwrap_or_default().hash(h);
    }
}

/// Compiles `p` (if its sources or flags changed) and returns the path of its module.
pub fn build(p: &Program) -> Result<PathBuf> {
    let dir = root().join("bench-programs");
    let mut args: Vec<String> = vec![
        "--target=wasm32-wasi".into(),
        "-O2".into(),
        "-Wl,--strip-debug".into(),
        "-w".into(),
    ];
    if p.lang == Lang::Cpp {
        args.extend([
            "-fno-exceptions".into(),
            "-isystem".into(),
            "/usr/include/wasm32-wasi/c++/v1".into(),
        ]);
    }
    let mut files = Vec::new();
    for s in &p.sources {
        files.extend(sources::files(s, &p.exclude).with_context(|| p.name.clone())?);
    }
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    for f in &p.flags {
        args.push(sources::expand(f).with_context(|| p.name.clone())?);
    }
    args.push("-lm".into());
    let mut h = DefaultHasher::new();
    args.hash(&mut h);
    for f in &files {
        std::fs::read(f)
            .with_context(|| format!("{}: cannot read source {}", p.name, f.display()))?
            .hash(&mut h);
    }
    our_headers(&dir, &mut h);
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
    // Two runs may build the same program at once (the tests do).
    let tmp = crate::tools::temp_beside(&out);
    let result = Command::new(compiler)
        .current_dir(&dir)
        .args(&args)
        .arg("-o")
        .arg(&tmp)
        .output()
        .with_context(|| format!("cannot run {compiler} (scripts/setup installs it)"))?;
    if !result.status.success() {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "{}: {compiler} failed:\n{}",
            p.name,
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

/// Builds every program, two at a time (clang is single-threaded); the paths in order.
pub fn build_all(programs: &[Program]) -> Result<Vec<PathBuf>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<PathBuf>>>> =
        Mutex::new(programs.iter().map(|_| None).collect());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = programs.get(i) else { break };
                let r = build(p);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every program was built"))
        .collect()
}
