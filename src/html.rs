//! `reports/index.html`: what was measured, on what machine, every chart with a caption, the
//! tables behind them and links to the CSVs. [`check_renders`] opens it in headless Chromium.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::compare::Verdict;
use crate::programs::root;
use crate::runtime::RuntimeRow;
use crate::sizes::{SizeRow, TransformRow};
use crate::switch::{FannkuchRow, SwitchRow};

const MODES: [&str; 3] = ["worst", "list", "list-indirect"];

fn geomean(v: &[f64]) -> f64 {
    let v: Vec<f64> = v.iter().cloned().filter(|x| *x > 0.0).collect();
    if v.is_empty() {
        return 0.0;
    }
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// First line a command prints, or "unknown".
fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines().next().map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> Vec<(&'static str, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let wasmtime = std::fs::read_to_string(root().join("Cargo.lock"))
        .ok()
        .and_then(|lock| {
            let at = lock.find("name = \"wasmtime\"\n")?;
            let rest = &lock[at..];
            let v = rest
                .lines()
                .nth(1)?
                .trim_start_matches("version = ")
                .trim_matches('"');
            Some(v.to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    vec![
        (
            "generated",
            first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ),
        ("cpu", format!("{cpu} ({cores} cores)")),
        ("system", os),
        ("rustc", first_line("rustc", &["--version"])),
        ("wasmtime", wasmtime),
        ("clang", first_line("clang-16", &["--version"])),
        ("binaryen (Debian)", first_line("wasm-opt", &["--version"])),
        (
            "binaryen (npm)",
            first_line(
                &root()
                    .join("tools/node_modules/.bin/wasm-opt")
                    .to_string_lossy(),
                &["--version"],
            ),
        ),
    ]
}

fn figure(out: &mut String, name: &str, caption: &str) {
    let _ = writeln!(
        out,
        "<figure><img src=\"{name}.svg\" alt=\"{}\"><figcaption>{caption} \
         (<a href=\"{name}.png\">PNG</a>)</figcaption></figure>",
        esc(caption)
    );
}

/// The page, from the rows of every CSV the run wrote.
pub fn page(
    reports: &Path,
    sizes: &[SizeRow],
    transform: &[TransformRow],
    runtime: Option<&[RuntimeRow]>,
    fannkuch: Option<&[FannkuchRow]>,
    switch: Option<&[SwitchRow]>,
) -> Result<String> {
    let _ = reports;
    let mut h = String::new();
    h.push_str(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Asyncify: ours beside Binaryen</title>\n<style>\
         body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\
         table{border-collapse:collapse;margin:1em 0;font-size:90%}\
         td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
         th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
         tr.sum td{font-weight:bold;background:#fafafa}td.fail{color:#b00;font-weight:bold}\
         figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ddd}\
         figcaption{color:#555;font-size:90%}</style></head>\n<body>\n",
    );
    h.push_str(
        "<h1>Asyncify: our transform beside Binaryen's</h1>\n<p>Benchmark programs (C and C++ \
         micro-benchmarks, and real C libraries from registry crates: SQLite, Lua, QuickJS, \
         Box2D, zlib, zstd, bzip2, lz4) compiled with clang-16 for wasm32-wasi, then made \
         pausable in three modes: <b>worst</b> (every import and indirect call may pause), \
         <b>list</b> (only the program's <code>env.pause</code>) and <b>list-indirect</b> \
         (<code>env.pause</code>, indirect calls never pause); by our <code>asyncify</code> and by \
         Binaryen's <code>wasm-opt --asyncify</code> (Debian's 108 and npm's 132, with -O2 unless \
         said otherwise). Every module was validated and run to its expected checksum, and every \
         pausable one was run once more pausing at every import call its mode lets pause \
         (<code>asyncify_host::check</code>) and compared with the original.</p>\n\
         <p><b>These figures come from the machine below, in the run that wrote this page.</b> \
         Rerun <code>scripts/bench</code> (quick) or <code>scripts/bench --full</code> to measure \
         your own.</p>\n<table>",
    );
    for (k, v) in machine() {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    h.push_str(
        "</table>\n<p>Data: <a href=\"sizes.csv\">sizes.csv</a>, \
        <a href=\"transform.csv\">transform.csv</a>, <a href=\"runtime.csv\">runtime.csv</a>, \
        <a href=\"fannkuch.csv\">fannkuch.csv</a>, <a href=\"switch.csv\">switch.csv</a>.</p>\n",
    );

    // Sizes.
    h.push_str("<h2>Code size</h2>\n");
    figure(&mut h, "sizes", "Size of each pausable build relative to the normal build, per program: our bars beside Binaryen 132's (lower is better).");
    let mut programs: Vec<&str> = Vec::new();
    // Ours, Binaryen's, then the variants a run added with `--tool`.
    let mut tools: Vec<&str> = Vec::new();
    for r in sizes {
        if !programs.contains(&r.program.as_str()) {
            programs.push(&r.program);
        }
        if r.tool != "clang" && !tools.contains(&r.tool.as_str()) {
            tools.push(&r.tool);
        }
    }
    h.push_str("<table><tr><th>program</th><th>normal bytes</th>");
    for m in MODES {
        for &t in &tools {
            let _ = write!(h, "<th>{m}<br>{t}</th>");
        }
    }
    h.push_str("</tr>\n");
    // `None`: the module failed the pause check, so its size is no result.
    let ratio = |p: &str, m: &str, t: &str| {
        sizes
            .iter()
            .find(|r| r.program == p && r.mode == m && r.tool == t && r.optimized)
            .map_or(Some(0.0), |r| r.resumes.then_some(r.ratio))
    };
    for p in &programs {
        let normal = sizes
            .iter()
            .find(|r| r.program == *p && r.mode == "normal")
            .map_or(0, |r| r.bytes);
        let _ = write!(h, "<tr><td>{p}</td><td>{normal}</td>");
        for m in MODES {
            for &t in &tools {
                match ratio(p, m, t) {
                    Some(v) => {
                        let _ = write!(h, "<td>{v:.3}</td>");
                    }
                    None => h.push_str("<td class=\"fail\">FAIL</td>"),
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("<tr class=\"sum\"><td>geomean</td><td></td>");
    for m in MODES {
        for &t in &tools {
            let v: Option<Vec<f64>> = programs.iter().map(|p| ratio(p, m, t)).collect();
            match v {
                Some(v) => {
                    let _ = write!(h, "<td>{:.3}</td>", geomean(&v));
                }
                None => h.push_str("<td class=\"fail\">FAIL</td>"),
            }
        }
    }
    h.push_str("</tr></table>\n");
    let failed: Vec<&SizeRow> = sizes.iter().filter(|r| !r.resumes).collect();
    if failed.is_empty() {
        h.push_str(
            "<p>Every pausable module passed the pause check: paused at every import call its \
             mode lets pause, it printed, exited and called its imports exactly like the \
             original.</p>\n",
        );
    } else {
        h.push_str(
            "<p><b>FAIL</b>: these modules did not behave like the original when paused at \
             every import call their mode lets pause; their sizes are no result (no bar, no \
             geomean) and they were not timed:</p>\n<ul>",
        );
        for r in failed {
            let opt = if r.optimized { "" } else { " (not optimized)" };
            let _ = write!(
                h,
                "<li>{} {} {}{opt}: {}</li>",
                esc(&r.program),
                esc(&r.mode),
                esc(&r.tool),
                esc(&r.failure)
            );
        }
        h.push_str("</ul>\n");
    }
    figure(&mut h, "optimization", "Worst mode with and without Binaryen's optimizer: Asyncify's raw output needs optimizing; ours is emitted compact.");

    // Transform cost.
    h.push_str("<h2>Transform cost</h2>\n");
    figure(
        &mut h,
        "transform-time",
        "Wall time of one transform in worst mode, median of interleaved repeats (log scale).",
    );
    figure(
        &mut h,
        "transform-memory",
        "Peak memory of one transform in worst mode.",
    );
    h.push_str("<table><tr><th>program (worst mode)</th><th>ours ms</th><th>binaryen-108 ms</th><th>binaryen-132 ms</th><th>108 / ours</th><th>132 / ours</th></tr>\n");
    let t = |p: &str, tool: &str| {
        transform
            .iter()
            .find(|r| r.program == p && r.mode == "worst" && r.tool == tool && r.optimized)
    };
    let (mut s108, mut s132) = (Vec::new(), Vec::new());
    for p in &programs {
        let (Some(o), Some(a), Some(b)) =
            (t(p, "ours"), t(p, "binaryen-108"), t(p, "binaryen-132"))
        else {
            continue;
        };
        let cell = |r: &TransformRow| {
            format!(
                "{:.1} <small>[{:.1}&ndash;{:.1}]</small>",
                r.wall_ms_median, r.wall_ms_min, r.wall_ms_max
            )
        };
        s108.push(a.wall_ms_median / o.wall_ms_median);
        s132.push(b.wall_ms_median / o.wall_ms_median);
        let _ = writeln!(
            h,
            "<tr><td>{p}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}x</td><td>{:.1}x</td></tr>",
            cell(o),
            cell(a),
            cell(b),
            a.wall_ms_median / o.wall_ms_median,
            b.wall_ms_median / o.wall_ms_median
        );
    }
    let _ = writeln!(
        h,
        "<tr class=\"sum\"><td>geomean speed-up</td><td></td><td></td><td></td><td>{:.1}x</td><td>{:.1}x</td></tr></table>",
        geomean(&s108),
        geomean(&s132)
    );

    // Runtime.
    h.push_str("<h2>Run time (no pause taken)</h2>\n");
    match runtime {
        None => h.push_str("<p>Not measured in this run (stage <code>runtime</code>).</p>\n"),
        Some(rows) => {
            figure(&mut h, "runtime", "Time of each pausable build relative to the normal build in the same run (median of interleaved runs in wasmtime through asyncify-host; env.pause never pauses).");
            figure(&mut h, "runtime-fuel", "The same as wasm operations executed (wasmtime fuel): deterministic, so it does not depend on the machine's noise.");
            let progs = runtime_programs(rows);
            h.push_str("<table><tr><th>program (size)</th><th>normal ms</th>");
            for m in MODES {
                for &t in &tools {
                    let _ = write!(h, "<th>{m}<br>{t}</th>");
                }
            }
            h.push_str("</tr>\n");
            let get = |p: &str, m: &str, t: &str| runtime_row(rows, p, m, t);
            for p in &progs {
                let Some(n) = get(p, "normal", "clang") else {
                    continue;
                };
                let _ = write!(
                    h,
                    "<tr><td>{p} ({})</td><td>{:.1} <small>[{:.1}&ndash;{:.1}]</small></td>",
                    n.size, n.ms_median, n.ms_min, n.ms_max
                );
                for m in MODES {
                    for &t in &tools {
                        match get(p, m, t) {
                            Some(r) => {
                                let _ = write!(
                                    h,
                                    "<td>{:.3} <small>fuel {:.3}</small></td>",
                                    r.ratio, r.fuel_ratio
                                );
                            }
                            None => h.push_str("<td></td>"),
                        }
                    }
                }
                h.push_str("</tr>\n");
            }
            h.push_str("<tr class=\"sum\"><td>geomean</td><td></td>");
            for m in MODES {
                for &t in &tools {
                    let time: Vec<f64> = progs
                        .iter()
                        .filter_map(|p| get(p, m, t))
                        .map(|r| r.ratio)
                        .collect();
                    let fuel: Vec<f64> = progs
                        .iter()
                        .filter_map(|p| get(p, m, t))
                        .map(|r| r.fuel_ratio)
                        .collect();
                    let _ = write!(
                        h,
                        "<td>{:.3} <small>fuel {:.3}</small></td>",
                        geomean(&time),
                        geomean(&fuel)
                    );
                }
            }
            h.push_str("</tr></table>\n");
            h.push_str(&versus(rows));
        }
    }

    // Fannkuch.
    h.push_str("<h2>Pauses: the fannkuch experiment</h2>\n");
    match fannkuch {
        None => h.push_str("<p>Not measured in this run (stage <code>switch</code>).</p>\n"),
        Some(rows) => {
            h.push_str("<p>fannkuch with its pause point in the innermost loop (called millions of times), \
                list mode. Pauses are spread evenly over the run; a pause of 1 ms is a tokio timer, one of \
                0 ms a yield to the executor (the 0 ms rows are the cleanest measure of a pause: a timer of 1 ms \
                varies by more than a pause costs). The normal build and the asyncified ones run with plain \
                synchronous calls and asyncify-host&rsquo;s WASI, calling <code>env.pause</code> the same way, so \
                &ldquo;no pause taken&rdquo; against &ldquo;normal&rdquo; is the instrumentation and the host&rsquo;s \
                import call; wasmtime fibers need async calls and wasmtime-wasi&rsquo;s async WASI. <em>Per pause</em> is the \
                time beyond the runtime's no-pause time, divided by the pauses (the sleep or the yield included); \
                <em>without the sleep</em> subtracts the sleeping itself (measured separately), and says when what \
                remains is within the run-to-run spread. 100000 pauses make that spread per pause 100 times \
                smaller than 1000 do.</p>\n");
            figure(
                &mut h,
                "fannkuch",
                "Total time per experiment and runtime (median).",
            );
            h.push_str("<table><tr><th>experiment</th><th>runtime</th><th>pauses</th><th>total ms (median [min&ndash;max])</th><th>per pause</th><th>per pause, without the sleep</th></tr>\n");
            for r in rows {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1} <small>[{:.1}&ndash;{:.1}]</small></td><td>{}</td><td>{}</td></tr>",
                    esc(&r.row),
                    esc(&r.runtime),
                    r.pauses,
                    r.ms_median,
                    r.ms_min,
                    r.ms_max,
                    match (r.us_per_pause, r.pauses) {
                        (Some(v), _) => format!("{v:.2} µs"),
                        (None, 0) => String::new(),
                        (None, _) => "within run-to-run noise".into(),
                    },
                    match (r.overhead_us_per_pause, r.noise_us_per_pause) {
                        (Some(v), Some(n)) => format!("{v:.2} µs <small>(noise {n:.2})</small>"),
                        (None, Some(n)) => format!("within run-to-run noise ({n:.2} µs)"),
                        _ => String::new(),
                    }
                );
            }
            h.push_str("</table>\n");
        }
    }

    // Switches.
    h.push_str("<h2>Coroutine switches</h2>\n");
    match switch {
        None => h.push_str("<p>Not measured in this run (stage <code>switch</code>).</p>\n"),
        Some(rows) => {
            h.push_str("<p>Two coroutines ping-pong through a yield import. Asyncify: two coroutines of one \
                instance, each switch a rewind into one and an unwind out of it, through asyncify-host with plain \
                synchronous calls into wasm (its typed API). The hand-written floor: the same asyncified \
                module driven by a runtime written for it alone (a typed import, typed calls, two flags \
                of state), so the gap between the two is what the general host costs. \
                Fibers: the uninstrumented module on wasmtime's async support, one fiber per call (two \
                instances, since wasmtime runs one call per store at a time). Stack switching: the same \
                coroutines as continuations of wasm's stack-switching proposal (wasmtime 48, experimental), \
                resumed alternately by a scheduler written in wasm, no host involved.</p>\n");
            figure(&mut h, "switch", "Nanoseconds per switch against the number of frames on the stack, for 0, 4 and 16 live i64 locals per frame.");
            let mut depths: Vec<u32> = rows.iter().map(|r| r.depth).collect();
            depths.sort();
            depths.dedup();
            let mut keys: Vec<(String, u32)> = Vec::new();
            for r in rows {
                if !keys.contains(&(r.runtime.clone(), r.locals)) {
                    keys.push((r.runtime.clone(), r.locals));
                }
            }
            keys.sort_by_key(|k| (k.1, k.0.clone()));
            h.push_str("<table><tr><th>ns per switch (median)</th>");
            for d in &depths {
                let _ = write!(h, "<th>depth {d}</th>");
            }
            h.push_str("</tr>\n");
            for (runtime, locals) in &keys {
                let _ = write!(h, "<tr><td>{}, {locals} locals</td>", esc(runtime));
                for d in &depths {
                    match rows
                        .iter()
                        .find(|r| &r.runtime == runtime && r.locals == *locals && r.depth == *d)
                    {
                        Some(r) => {
                            let _ = write!(
                                h,
                                "<td>{:.0} <small>[{:.0}&ndash;{:.0}]</small></td>",
                                r.ns_median, r.ns_min, r.ns_max
                            );
                        }
                        None => h.push_str("<td></td>"),
                    }
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }
    }
    // The page counts its own images once loaded; check_renders reads the count.
    h.push_str(
        "<script>window.addEventListener('load',()=>{const i=[...document.images];\
         document.body.dataset.images=i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;});\
         </script>\n</body></html>\n",
    );
    Ok(h)
}

/// The programs of a run-time table, in the order of the run.
fn runtime_programs(rows: &[RuntimeRow]) -> Vec<&str> {
    let mut progs: Vec<&str> = Vec::new();
    for r in rows {
        if !progs.contains(&r.program.as_str()) {
            progs.push(&r.program);
        }
    }
    progs
}

/// The run-time row of program `p` in mode `m` by tool `t`.
fn runtime_row<'a>(rows: &'a [RuntimeRow], p: &str, m: &str, t: &str) -> Option<&'a RuntimeRow> {
    rows.iter()
        .find(|r| r.program == p && r.mode == m && r.tool == t)
}

/// The table of our time against Binaryen 132 -O2's, per program and mode, from one run:
/// the ratio of the two medians and whether the difference is beyond the noise (the two
/// ranges, fastest to slowest repeat, do not overlap), then how many cells are which.
fn versus(rows: &[RuntimeRow]) -> String {
    let mut h = String::from(
        "<h3>Ours against Binaryen 132 -O2, same run</h3>\n<p>Our median time over Binaryen's, \
         and whether the difference is beyond the noise: <em>faster</em> or <em>slower</em> \
         only when the two modules' ranges (fastest to slowest of their interleaved repeats, \
         over every code layout) do not overlap. Binaryen's <code>-O2</code> also optimizes the \
         program's own code, which ours leaves as clang made it.</p>\n\
         <table><tr><th>program</th>",
    );
    for m in MODES {
        let _ = write!(h, "<th>{m}</th>");
    }
    h.push_str("</tr>\n");
    let mut counts = [[0usize; 3]; MODES.len()];
    let mut slower = Vec::new();
    for p in runtime_programs(rows) {
        let _ = write!(h, "<tr><td>{p}</td>");
        for (i, m) in MODES.iter().enumerate() {
            let (Some(o), Some(b)) = (
                runtime_row(rows, p, m, "ours"),
                runtime_row(rows, p, m, "binaryen-132"),
            ) else {
                h.push_str("<td></td>");
                continue;
            };
            let verdict = Verdict::of((o.ms_min, o.ms_max), (b.ms_min, b.ms_max));
            let (word, k) = match verdict {
                Verdict::Faster => ("faster", 0),
                Verdict::WithinNoise => ("within noise", 1),
                Verdict::Slower => ("slower", 2),
            };
            counts[i][k] += 1;
            if verdict == Verdict::Slower {
                slower.push(format!("{p} ({m})"));
            }
            let _ = write!(
                h,
                "<td>{:.2}x <small>{word}</small></td>",
                o.ms_median / b.ms_median
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("<tr class=\"sum\"><td>faster / within noise / slower</td>");
    for [f, n, s] in counts {
        let _ = write!(h, "<td>{f} / {n} / {s}</td>");
    }
    h.push_str("</tr></table>\n");
    let _ = writeln!(
        h,
        "<p>Slower than Binaryen 132 -O2 beyond the noise: {}.</p>",
        if slower.is_empty() {
            "none".to_string()
        } else {
            slower.join(", ")
        }
    );
    h
}

/// Opens `index` in headless Chromium and fails unless it rendered and every image loaded.
pub fn check_renders(index: &Path) -> Result<()> {
    let chromium = ["chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context(
            "chromium is not installed (scripts/setup installs it); it checks the report renders",
        )?;
    let profile =
        std::env::temp_dir().join(format!("asyncify-bench-chromium-{}", std::process::id()));
    let url = format!(
        "file://{}",
        index
            .canonicalize()
            .with_context(|| format!("{}", index.display()))?
            .display()
    );
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .output()
        .context("cannot run chromium")?;
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    let Some(at) = dom.find("data-images=\"") else {
        bail!(
            "{} did not render in headless Chromium (no image count): {}",
            index.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    };
    let count = &dom[at + 13..];
    let count = &count[..count.find('"').unwrap_or(0)];
    let (ok, total) = count.split_once('/').unwrap_or(("0", "0"));
    if ok != total || total == "0" {
        bail!(
            "{}: {ok} of {total} images loaded in headless Chromium",
            index.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::tests::time;

    /// Only ranges that do not overlap make a verdict; overlapping ones are within noise,
    /// whichever median is lower.
    #[test]
    fn ours_against_binaryen_counts_only_differences_beyond_the_ranges() {
        let rows = [
            time("a", "worst", "ours", [14.0, 15.0, 16.0]),
            time("a", "worst", "binaryen-132", [20.0, 21.0, 22.0]),
            time("a", "list", "ours", [14.0, 16.0, 19.0]),
            time("a", "list", "binaryen-132", [13.0, 15.0, 18.0]),
            time("b", "worst", "ours", [30.0, 31.0, 33.0]),
            time("b", "worst", "binaryen-132", [25.0, 26.0, 29.0]),
            time("b", "worst", "binaryen-108", [10.0, 11.0, 12.0]),
        ];
        let h = versus(&rows);
        let row = |p: &str| {
            let start = h.find(&format!("<tr><td>{p}</td>")).unwrap();
            h[start..start + h[start..].find("</tr>").unwrap()].to_string()
        };
        let a = row("a");
        assert!(a.contains("0.71x <small>faster</small>"), "{a}");
        assert!(a.contains("1.07x <small>within noise</small>"), "{a}");
        let b = row("b");
        assert!(b.contains("1.19x <small>slower</small>"), "{b}");
        assert!(
            h.contains("<td>1 / 0 / 1</td><td>0 / 1 / 0</td><td>0 / 0 / 0</td>"),
            "{h}"
        );
        assert!(h.contains("beyond the noise: b (worst)."), "{h}");
    }
}
