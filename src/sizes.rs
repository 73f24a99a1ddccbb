//! Stage `sizes`: every program in every mode by every tool; code size (raw and gzip) and
//! transform cost (wall time, median of interleaved repeats; peak memory), with every output
//! validated and run to its expected checksum. Every pausable module is also run once pausing
//! at every import call its mode lets pause (`asyncify_host::check`) and compared with the
//! original: a module that fails is marked in `sizes.csv` (`resumes`, `failure`) and is no
//! result in the report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use asyncify_host::check::{Pause, Report};
use indicatif::{ProgressBar, ProgressStyle};
use wasmtime::Module;

use crate::build::{build_all, out_dir};
use crate::programs::Program;
use crate::run::{check_resumes, compile, parse_checksum};
use crate::runtime::spread;
use crate::tools::{temp_beside, transform_cached, Mode, Tool, MODES};
use crate::Run;

#[derive(Debug, serde::Serialize, serde::Deserialize, Clone)]
pub struct SizeRow {
    pub program: String,
    pub mode: String,
    pub tool: String,
    pub optimized: bool,
    pub bytes: u64,
    pub gzip_bytes: u64,
    pub ratio: f64,
    /// Paused at every import call its mode lets pause, it behaved exactly like the original
    /// (always true for the original itself). A module that does not is no result to compare.
    pub resumes: bool,
    /// Pauses taken by that run, and why it failed (empty when it passed).
    pub pauses: u64,
    pub failure: String,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, Clone)]
pub struct TransformRow {
    pub program: String,
    pub mode: String,
    pub tool: String,
    pub optimized: bool,
    pub wall_ms_median: f64,
    pub wall_ms_min: f64,
    pub wall_ms_max: f64,
    pub peak_kb: u64,
}

fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes)?;
    Ok(e.finish()?.len() as u64)
}

/// Checks `wasm` validates and prints the expected checksum at every size of the run; returns
/// the compiled module and its run at [`pause_check_size`] (one of those sizes).
pub fn verify(p: &Program, wasm: &[u8], full: bool, what: &str) -> Result<(Module, Report)> {
    wasmparser::validate(wasm).with_context(|| format!("{what}: invalid module"))?;
    let module = compile(wasm).with_context(|| what.to_string())?;
    let mut checked = None;
    for &size in p.sizes(full) {
        let report = crate::run::run(&module, &p.name, size, Pause::Never)
            .with_context(|| format!("{what}: run at size {size}"))?;
        if report.exit_code != 0 {
            bail!("{what} at size {size}: exit code {}", report.exit_code);
        }
        let got =
            parse_checksum(&report.stdout).with_context(|| format!("{what} at size {size}"))?;
        match (p.expected(size), got) {
            (None, None) if size == 0 => {}
            (Some(e), Some(g)) if e == g => {}
            (e, g) => {
                bail!("{what} at size {size}: checksum {g:?}, expected {e:?} (programs.toml)")
            }
        }
        if size == pause_check_size(p) {
            checked = Some(report);
        }
    }
    let report = checked.with_context(|| format!("{what}: programs.toml gives no sizes"))?;
    Ok((module, report))
}

/// The size at which transformed modules are checked with pauses: the smallest that does work,
/// among the sizes even a quick run uses.
pub fn pause_check_size(p: &Program) -> u32 {
    let quick = p.sizes(false);
    quick
        .iter()
        .copied()
        .find(|s| *s > 0)
        .unwrap_or(quick.first().copied().unwrap_or(0))
}

/// Runs `cmd` under GNU time; returns (wall ms, peak KiB).
fn timed(mut cmd: Command) -> Result<(f64, u64)> {
    let stats = tempfile_path("time");
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&stats)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let start = Instant::now();
    let out = wrapped
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        let _ = cmd.output();
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let kb = std::fs::read_to_string(&stats)?
        .trim()
        .lines()
        .last()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    Ok((ms, kb))
}

fn tempfile_path(tag: &str) -> PathBuf {
    temp_beside(&std::env::temp_dir().join(format!("asyncify-bench-{tag}")))
}

pub fn module_path(p: &Program, mode: &Mode, tool: &Tool) -> PathBuf {
    out_dir()
        .join("modules")
        .join(format!("{}.{}.{}.wasm", p.name, mode.name, tool.label()))
}

/// Runs the stage; writes `reports/sizes.csv` and `reports/transform.csv`.
pub fn run(run: Run) -> Result<()> {
    let (programs, tools, full, reports) = (run.programs, run.tools, run.full, run.reports);
    let repeats = run.repeats.unwrap_or(if full { 5 } else { 3 }).max(1);
    std::fs::create_dir_all(out_dir().join("modules"))?;
    let combos: Vec<(Mode, &Tool)> = MODES
        .iter()
        .filter(|m| m.asyncify.is_some())
        .flat_map(|m| tools.iter().map(move |t| (*m, t)))
        .collect();
    let bar = ProgressBar::new((programs.len() * (1 + combos.len())) as u64);
    bar.set_style(ProgressStyle::with_template("sizes {bar:40} {pos}/{len} {msg}").unwrap());
    let mut sizes = Vec::new();
    let mut transform = Vec::new();
    bar.set_message("building the programs");
    let built = build_all(programs)?;
    for (p, normal_path) in programs.iter().zip(built) {
        let normal = std::fs::read(&normal_path)?;
        let (_, original) = verify(p, &normal, full, &format!("{} normal", p.name))?;
        let check_size = pause_check_size(p);
        let base = normal.len() as u64;
        sizes.push(SizeRow {
            program: p.name.clone(),
            mode: "normal".into(),
            tool: "clang".into(),
            optimized: true,
            bytes: base,
            gzip_bytes: gzip_len(&normal)?,
            ratio: 1.0,
            resumes: true,
            pauses: 0,
            failure: String::new(),
        });
        bar.inc(1);
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); combos.len()];
        let mut peaks = vec![0u64; combos.len()];
        // Only Binaryen's outputs: ours and the variants are what is being tuned.
        let cached =
            |tool: &Tool| p.quick_from_cache && !full && matches!(tool, Tool::Binaryen { .. });
        for (mode, tool) in combos.iter().filter(|(_, t)| cached(t)) {
            let made = transform_cached(tool, &normal_path, mode.asyncify.unwrap())?;
            let out = module_path(p, mode, tool);
            let tmp = temp_beside(&out);
            std::fs::copy(made, &tmp)?;
            std::fs::rename(tmp, out)?;
        }
        for _ in 0..repeats {
            for (i, (mode, tool)) in combos.iter().enumerate() {
                if cached(tool) {
                    continue;
                }
                // Written beside and renamed: a concurrent run may be reading the module.
                let out = module_path(p, mode, tool);
                let tmp = temp_beside(&out);
                let (ms, kb) = timed(tool.command(&normal_path, &tmp, mode.asyncify.unwrap()))
                    .with_context(|| format!("{} {} {}", p.name, mode.name, tool.label()))?;
                std::fs::rename(tmp, out)?;
                times[i].push(ms);
                peaks[i] = peaks[i].max(kb);
            }
        }
        for (i, (mode, tool)) in combos.iter().enumerate() {
            bar.set_message(format!("{} {} {}", p.name, mode.name, tool.label()));
            let out = module_path(p, mode, tool);
            let wasm = std::fs::read(&out)?;
            let what = format!("{} {} {}", p.name, mode.name, tool.label());
            let (module, _) = verify(p, &wasm, full, &what)?;
            let flags = mode.asyncify.expect("a transformed mode");
            let check = check_resumes(&original, &module, &p.name, check_size, flags.pause());
            if let Err(e) = &check {
                bar.println(format!("FAIL {what} at size {check_size}: {e:#}"));
            }
            sizes.push(SizeRow {
                program: p.name.clone(),
                mode: mode.name.into(),
                tool: tool.name(),
                optimized: tool.optimized(),
                bytes: wasm.len() as u64,
                gzip_bytes: gzip_len(&wasm)?,
                ratio: wasm.len() as f64 / base as f64,
                resumes: check.is_ok(),
                pauses: check.as_ref().copied().unwrap_or(0),
                failure: check.err().map(|e| format!("{e:#}")).unwrap_or_default(),
            });
            if times[i].is_empty() {
                bar.inc(1);
                continue; // from the cache: not timed
            }
            let (median, min, max) = spread(&times[i]);
            transform.push(TransformRow {
                program: p.name.clone(),
                mode: mode.name.into(),
                tool: tool.name(),
                optimized: tool.optimized(),
                wall_ms_median: median,
                wall_ms_min: min,
                wall_ms_max: max,
                peak_kb: peaks[i],
            });
            bar.inc(1);
        }
    }
    bar.finish_with_message("done");
    write_csv(&reports.join("sizes.csv"), &sizes)?;
    write_csv(&reports.join("transform.csv"), &transform)?;
    Ok(())
}

/// Writes a CSV atomically.
pub fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    std::fs::create_dir_all(path.parent().unwrap())?;
    let tmp = path.with_extension("csv.tmp");
    let mut w = csv::Writer::from_path(&tmp)?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read {} (run its stage first)", path.display()))?;
    r.deserialize().map(|row| row.map_err(Into::into)).collect()
}
