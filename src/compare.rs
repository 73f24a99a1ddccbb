//! `asyncify-bench compare OLD NEW`: what changed between two report folders (say, the
//! committed `reports/` and a run with a tuned transform), per program, mode and tool.
//!
//! Sizes are deterministic, so any change in bytes is a change. Times are not: a change
//! counts only when the two runs' ranges (fastest to slowest repeat) do not overlap; otherwise
//! it is printed as within noise. Times are compared as ratios to the same run's normal build,
//! which cancels most of what differs between two runs on one machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Result};

use crate::runtime::RuntimeRow;
use crate::sizes::{read_csv, SizeRow};

type Key = (String, String, String);

/// The comparison as text, one line per (program, mode, tool) present in both folders.
pub fn compare(old: &Path, new: &Path) -> Result<String> {
    let sizes = |dir: &Path| -> Result<BTreeMap<Key, SizeRow>> {
        Ok(read_csv::<SizeRow>(&dir.join("sizes.csv"))?
            .into_iter()
            .filter(|r| r.mode != "normal")
            .map(|r| ((r.program.clone(), r.mode.clone(), label(&r)), r))
            .collect())
    };
    // A runtime.csv is optional: a sizes-only run compares sizes.
    let times = |dir: &Path| -> Result<BTreeMap<Key, RuntimeRow>> {
        let path = dir.join("runtime.csv");
        if !path.exists() {
            return Ok(BTreeMap::new());
        }
        Ok(read_csv::<RuntimeRow>(&path)?
            .into_iter()
            .map(|r| ((r.program.clone(), r.mode.clone(), r.tool.clone()), r))
            .collect())
    };
    let (old_sizes, new_sizes) = (sizes(old)?, sizes(new)?);
    let (old_times, new_times) = (times(old)?, times(new)?);
    let mut lines = vec![[
        "program",
        "mode",
        "tool",
        "size ratio old -> new",
        "time ratio old -> new [range]",
    ]
    .map(String::from)];
    for (key, n) in &new_sizes {
        let Some(o) = old_sizes.get(key) else {
            continue;
        };
        let size = if !o.resumes || !n.resumes {
            format!(
                "{} -> {}",
                if o.resumes { "ok" } else { "FAIL" },
                if n.resumes { "ok" } else { "FAIL" }
            )
        } else {
            format!(
                "{:.3} -> {:.3} ({:+.1}%)",
                o.ratio,
                n.ratio,
                100.0 * (n.bytes as f64 / o.bytes as f64 - 1.0)
            )
        };
        let time = match (old_times.get(key), new_times.get(key)) {
            (Some(o), Some(n)) => time_change(o, n),
            _ => String::from("-"),
        };
        lines.push([key.0.clone(), key.1.clone(), key.2.clone(), size, time]);
    }
    if lines.len() == 1 {
        bail!(
            "{} and {} have no (program, mode, tool) in common",
            old.display(),
            new.display()
        );
    }
    // Columns as wide as their widest cell (a --tool name can be long); sizes right-aligned.
    let width = |c: usize| lines.iter().map(|l| l[c].len()).max().unwrap_or(0);
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    let mut out = String::new();
    for [program, mode, tool, size, time] in &lines {
        writeln!(
            out,
            "{program:<w0$} {mode:<w1$} {tool:<w2$} {size:>w3$}  {time}"
        )?;
    }
    Ok(out)
}

/// The runtime stage's tool name for a sizes row (it runs only optimized outputs).
fn label(r: &SizeRow) -> String {
    if r.optimized || r.tool == "ours" {
        r.tool.clone()
    } else {
        format!("{}-O0", r.tool)
    }
}

/// How one timed range compares with another: a difference counts only when the ranges
/// (fastest to slowest repeat) do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Faster,
    Slower,
    WithinNoise,
}

impl Verdict {
    /// Range `a` (`(min, max)`) against range `b`.
    pub fn of(a: (f64, f64), b: (f64, f64)) -> Verdict {
        if a.1 < b.0 {
            Verdict::Faster
        } else if a.0 > b.1 {
            Verdict::Slower
        } else {
            Verdict::WithinNoise
        }
    }
}

fn time_change(o: &RuntimeRow, n: &RuntimeRow) -> String {
    // Each run's range, as ratios to its own normal build's median.
    let scale = |r: &RuntimeRow| r.ratio / r.ms_median;
    let (olo, ohi) = (o.ms_min * scale(o), o.ms_max * scale(o));
    let (nlo, nhi) = (n.ms_min * scale(n), n.ms_max * scale(n));
    let verdict = match Verdict::of((nlo, nhi), (olo, ohi)) {
        Verdict::Faster => "faster",
        Verdict::Slower => "SLOWER",
        Verdict::WithinNoise => "within noise",
    };
    format!(
        "{:.2} [{olo:.2}-{ohi:.2}] -> {:.2} [{nlo:.2}-{nhi:.2}] ({:+.1}%) {verdict}",
        o.ratio,
        n.ratio,
        100.0 * (n.ratio / o.ratio - 1.0)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sizes::write_csv;

    fn size(program: &str, mode: &str, tool: &str, bytes: u64, resumes: bool) -> SizeRow {
        SizeRow {
            program: program.into(),
            mode: mode.into(),
            tool: tool.into(),
            optimized: true,
            bytes,
            gzip_bytes: bytes / 2,
            ratio: bytes as f64 / 1000.0,
            resumes,
            pauses: 3,
            failure: String::new(),
        }
    }

    /// A runtime row timed `[min, median, max]` ms, with a normal build of 10 ms.
    pub(crate) fn time(program: &str, mode: &str, tool: &str, ms: [f64; 3]) -> RuntimeRow {
        let normal = 10.0;
        RuntimeRow {
            program: program.into(),
            mode: mode.into(),
            tool: tool.into(),
            size: 1,
            runs: 5,
            ms_median: ms[1],
            ms_min: ms[0],
            ms_max: ms[2],
            ratio: ms[1] / normal,
            fuel: 100,
            fuel_ratio: 1.0,
        }
    }

    fn folder(name: &str, sizes: &[SizeRow], times: &[RuntimeRow]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("compare-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_csv(&dir.join("sizes.csv"), sizes).unwrap();
        write_csv(&dir.join("runtime.csv"), times).unwrap();
        dir
    }

    #[test]
    fn flags_only_changes_beyond_the_spread() {
        let old = folder(
            "old",
            &[
                size("a", "normal", "clang", 1000, true),
                size("a", "worst", "ours", 1500, true),
                size("a", "list", "ours", 1200, true),
                size("a", "worst", "binaryen-132", 1600, true),
                size("a", "worst", "ours-with-a-long-tuning-name", 1500, true),
            ],
            &[
                time("a", "worst", "ours", [19.0, 20.0, 21.0]),
                time("a", "list", "ours", [14.0, 15.0, 16.0]),
                time("a", "worst", "binaryen-132", [19.0, 20.0, 21.0]),
            ],
        );
        let new = folder(
            "new",
            &[
                size("a", "normal", "clang", 1000, true),
                size("a", "worst", "ours", 1350, true),
                size("a", "list", "ours", 1200, false),
                size("a", "worst", "binaryen-132", 1600, true),
                size("a", "worst", "ours-with-a-long-tuning-name", 15000, true),
            ],
            &[
                time("a", "worst", "ours", [14.0, 15.0, 15.5]),
                time("a", "list", "ours", [15.0, 15.5, 17.0]),
                time("a", "worst", "binaryen-132", [22.0, 23.0, 24.0]),
            ],
        );
        let text = compare(&old, &new).unwrap();
        let line = |mode: &str, tool: &str| {
            text.lines()
                .find(|l| l.split_whitespace().take(3).eq(["a", mode, tool]))
                .unwrap_or_else(|| panic!("no {mode} {tool} line in\n{text}"))
                .to_string()
        };
        let worst = line("worst", "ours");
        assert!(worst.contains("1.500 -> 1.350 (-10.0%)"), "{worst}");
        assert!(worst.ends_with("faster"), "{worst}");
        let list = line("list", "ours");
        assert!(list.contains("ok -> FAIL"), "{list}");
        assert!(list.ends_with("within noise"), "{list}");
        let binaryen = line("worst", "binaryen-132");
        assert!(binaryen.contains("(+0.0%)"), "{binaryen}");
        assert!(binaryen.ends_with("SLOWER"), "{binaryen}");
        assert!(!text.contains("normal"), "{text}");
        // The time column starts at one offset on every line, however long a tool's name or
        // a size change's text.
        let col = text.lines().next().unwrap().find("time ratio").unwrap();
        for l in text.lines() {
            assert!(
                l[..col].ends_with("  ") && !l[col..].starts_with(' '),
                "misaligned:\n{text}"
            );
        }
        let other = folder("other", &[size("b", "worst", "ours", 1, true)], &[]);
        assert!(compare(&old, &other).is_err());
    }
}
