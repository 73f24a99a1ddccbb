//! The suite's harness as a user runs it: building programs (C, C++, and a macro-benchmark whose
//! C library comes from a registry crate), transforming them in every mode with every tool, checking each output runs to its expected checksum, and drawing
//! the charts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asyncify-bench"))
}

/// Asserts a run of the harness succeeded, showing its stderr otherwise.
fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_whole_suite_on_four_programs() {
    let reports = tmp("suite-reports");
    let out = bench()
        .args([
            "all",
            "--only",
            "primes,havlak,life,zlib",
            "--repeats",
            "1",
            "--reports",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("index.html"));
    let programs = ["primes", "havlak", "life", "zlib"];
    let sizes = csv_rows(&reports.join("sizes.csv"));
    // normal + 3 modes x 5 tools, per program.
    assert_eq!(sizes.len(), 4 * 16, "{sizes:?}");
    for prog in programs {
        let worst_ours = sizes
            .iter()
            .find(|r| r["program"] == prog && r["mode"] == "worst" && r["tool"] == "ours")
            .unwrap_or_else(|| panic!("no worst/ours row for {prog}"));
        let ratio: f64 = worst_ours["ratio"].parse().unwrap();
        assert!(
            ratio > 1.0,
            "instrumenting everything makes {prog} bigger: {worst_ours:?}"
        );
    }
    // Every pausable module, ours and Binaryen's, was run pausing at every import call its
    // mode lets pause, and behaved like the original.
    for r in sizes.iter().filter(|r| r["mode"] != "normal") {
        assert_eq!(r["resumes"], "true", "{r:?}");
        assert!(r["pauses"].parse::<u64>().unwrap() > 0, "{r:?}");
    }
    let transform = std::fs::read_to_string(reports.join("transform.csv")).unwrap();
    assert_eq!(transform.lines().count(), 1 + 4 * 15);

    // Runtime: normal + 3 modes x 3 tools per program, every run checked against its checksum.
    let runtime = csv_rows(&reports.join("runtime.csv"));
    assert_eq!(runtime.len(), 4 * 10);
    for prog in programs {
        let worst = runtime
            .iter()
            .find(|r| r["program"] == prog && r["mode"] == "worst" && r["tool"] == "ours")
            .unwrap();
        let fuel: f64 = worst["fuel_ratio"].parse().unwrap();
        assert!(
            fuel > 1.0,
            "worst mode executes extra operations: {worst:?}"
        );
    }

    // A run compared with itself: the same sizes, and every time within its own spread.
    let out = bench()
        .arg("compare")
        .args([&reports, &reports])
        .output()
        .unwrap();
    succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 4 * 15, "{text}");
    for line in &lines {
        assert!(line.contains("(+0.0%)"), "{line}");
    }
    let timed: Vec<_> = lines
        .iter()
        .filter(|l| l.ends_with("within noise"))
        .collect();
    assert_eq!(timed.len(), 4 * 9, "{text}");

    // The fannkuch experiment: 1000 pauses of 1 ms really sleep, in every runtime.
    let fannkuch = csv_rows(&reports.join("fannkuch.csv"));
    assert_eq!(fannkuch.len(), 1 + 3 * 5);
    // An overhead per pause is a number only above the run-to-run noise, so never negative.
    for r in fannkuch
        .iter()
        .filter(|r| !r["overhead_us_per_pause"].is_empty())
    {
        let v: f64 = r["overhead_us_per_pause"].parse().unwrap();
        let noise: f64 = r["noise_us_per_pause"].parse().unwrap();
        assert!(v > noise && v > 0.0, "{r:?}");
    }
    // A time per pause, the sleep included, is a number only above the noise: a yield's can be
    // within it (one run of 1000 yields was 3 ms faster than its no-pause run on a noisy
    // machine). 1000 sleeps of 1 ms are a second more than the noise, so those rows have one,
    // of at least the 1 ms slept.
    for r in fannkuch.iter().filter(|r| r["pauses"] != "0") {
        let noise: f64 = r["noise_us_per_pause"].parse().unwrap();
        if let Ok(per_pause) = r["us_per_pause"].parse::<f64>() {
            assert!(per_pause > noise && per_pause > 0.0, "{r:?}");
        }
        if r["sleep_ms"] == "1.0" && r["pauses"].len() >= 4 {
            let per_pause: f64 = r["us_per_pause"].parse().unwrap();
            assert!(per_pause > 1000.0, "{r:?}");
        }
    }
    let yields = fannkuch
        .iter()
        .filter(|r| r["row"] == "100000 pauses of 0 ms");
    assert_eq!(yields.count(), 3);
    let slept: Vec<_> = fannkuch
        .iter()
        .filter(|r| r["row"] == "1000 pauses of 1 ms")
        .collect();
    assert_eq!(slept.len(), 3);
    for r in slept {
        assert_eq!(r["pauses"], "1000", "{r:?}");
        let ms: f64 = r["ms_median"].parse().unwrap();
        assert!(ms >= 1000.0, "1000 sleeps of 1 ms take a second: {r:?}");
    }

    // Ping-pong: 4 runtimes x 3 local counts x 7 depths; each coroutine yields 1000 times.
    let switch = csv_rows(&reports.join("switch.csv"));
    assert_eq!(switch.len(), 4 * 3 * 7);
    assert!(switch.iter().all(|r| r["switches"] == "2002"), "{switch:?}");

    for chart in [
        "sizes",
        "optimization",
        "transform-time",
        "transform-memory",
        "runtime",
        "runtime-fuel",
        "fannkuch",
        "switch",
    ] {
        for ext in ["svg", "png"] {
            let f = reports.join(format!("{chart}.{ext}"));
            assert!(
                std::fs::metadata(&f)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false),
                "{} missing",
                f.display()
            );
        }
    }
    // The report stage checked the page in headless Chromium; it names every chart.
    let html = std::fs::read_to_string(reports.join("index.html")).unwrap();
    for chart in ["sizes", "runtime", "fannkuch", "switch"] {
        assert!(html.contains(&format!("src=\"{chart}.svg\"")), "{chart}");
    }
}

fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn a_page_with_a_missing_image_fails_the_render_check() {
    let dir = tmp("suite-broken-page");
    let page = "<!doctype html><html><body><img src=\"nothing-here.svg\">\
        <script>window.addEventListener('load',()=>{const i=[...document.images];\
        document.body.dataset.images=i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;});\
        </script></body></html>";
    std::fs::write(dir.join("index.html"), page).unwrap();
    let err = asyncify_bench::html::check_renders(&dir.join("index.html")).unwrap_err();
    assert!(
        format!("{err:#}").contains("0 of 1 images loaded"),
        "{err:#}"
    );
}

#[test]
fn a_wrong_expected_checksum_fails_the_run() {
    let dir = tmp("suite-bad-checksum");
    let real = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-programs/programs.toml"),
    )
    .unwrap();
    // Point the sources at the real ones and corrupt primes' expected value at size 1.
    let manifest = real.replace(
        "sources = [\"micro/",
        &format!(
            "sources = [\"{}/bench-programs/micro/",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let start = manifest.find("name = \"primes\"").unwrap();
    let at = start + manifest[start..].find("\"1\" = \"").unwrap() + "\"1\" = \"".len();
    let manifest = format!("{}1{}", &manifest[..at], &manifest[at..]);
    std::fs::write(dir.join("programs.toml"), manifest).unwrap();
    let out = bench()
        .args(["sizes", "--only", "primes", "--repeats", "1", "--programs"])
        .arg(dir.join("programs.toml"))
        .arg("--reports")
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("primes normal at size 1: checksum"), "{err}");
    assert!(!dir.join("sizes.csv").exists(), "no partial CSV");
}

#[test]
fn an_unknown_source_crate_is_named() {
    let dir = tmp("suite-bad-crate");
    std::fs::write(
        dir.join("programs.toml"),
        "[[program]]\nname = \"ghost\"\nsources = [\"{no-such-crate}/ghost.c\"]\nlang = \"c\"\n\
         sizes = [0, 1]\npause = \"never\"\n",
    )
    .unwrap();
    let out = bench()
        .args(["build", "--programs"])
        .arg(dir.join("programs.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("ghost") && err.contains("no crate `no-such-crate`"),
        "{err}"
    );
}

#[test]
fn bad_arguments_are_named() {
    let out = bench().arg("sizez").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sizez") && err.contains("possible values"),
        "{err}"
    );
    let out = bench()
        .args(["sizes", "--repeats", "many"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--repeats") && err.contains("many"), "{err}");
    // Only compare takes folders, and it takes two.
    let out = bench().args(["compare", "reports"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("compare OLD NEW"), "{err}");
    let out = bench().args(["sizes", "elsewhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unexpected argument elsewhere"), "{err}");
}

/// A program marked `quick_from_cache` gets Binaryen's outputs from the cache in a quick run:
/// the modules are there and checked like any other, but only our transform is timed.
#[test]
fn quick_runs_take_big_programs_binaryen_outputs_from_the_cache() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tmp("cached-peers");
    let reports = dir.join("reports");
    let out = bench()
        .args(["sizes", "--repeats", "1", "--programs"])
        .arg(primes_from_cache(&dir))
        .arg("--reports")
        .arg(&reports)
        .output()
        .unwrap();
    succeeded(&out);
    let sizes = csv_rows(&reports.join("sizes.csv"));
    assert_eq!(sizes.len(), 16, "{sizes:?}");
    assert!(sizes.iter().all(|r| r["resumes"] == "true"), "{sizes:?}");
    let transform = csv_rows(&reports.join("transform.csv"));
    assert_eq!(transform.len(), 3, "{transform:?}");
    assert!(
        transform.iter().all(|r| r["tool"] == "ours"),
        "{transform:?}"
    );
    let cached = std::fs::read_dir(root.join("target/bench/cache"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("primes-") && name.contains(".binaryen-")
        })
        .count();
    assert!(cached >= 12, "{cached} cached Binaryen outputs of primes");
    // No program had all its transforms timed: the transform charts are drawn empty.
    let out = bench()
        .arg("report")
        .arg("--reports")
        .arg(&reports)
        .output()
        .unwrap();
    succeeded(&out);
    assert!(reports.join("transform-time.svg").exists());
}

/// A manifest in `dir` with primes alone, its Binaryen outputs taken from the cache.
fn primes_from_cache(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("bench-programs/programs.toml")).unwrap();
    let mut manifest: toml::Value = toml::from_str(&text).unwrap();
    let programs = manifest["program"].as_array_mut().unwrap();
    programs.retain(|p| p["name"].as_str() == Some("primes"));
    programs[0]
        .as_table_mut()
        .unwrap()
        .insert("quick_from_cache".into(), toml::Value::Boolean(true));
    let path = dir.join("programs.toml");
    std::fs::write(&path, toml::to_string(&manifest).unwrap()).unwrap();
    path
}

/// `--tool NAME=COMMAND` adds a variant (here our own binary under another name, with a
/// wasm-opt flag it accepts) beside the suite's tools, in every CSV, chart and table.
#[test]
fn a_tool_variant_appears_beside_the_others() {
    let reports = tmp("variant");
    let ours = Path::new(env!("CARGO_BIN_EXE_asyncify-bench")).with_file_name("asyncify");
    let variant = format!("twin={} -O2", ours.display());
    for stage in ["sizes", "runtime", "report"] {
        let out = bench()
            .args([
                stage,
                "--only",
                "primes",
                "--repeats",
                "1",
                "--tool",
                &variant,
            ])
            .arg("--reports")
            .arg(&reports)
            .output()
            .unwrap();
        succeeded(&out);
    }
    let sizes = csv_rows(&reports.join("sizes.csv"));
    assert_eq!(sizes.len(), 1 + 3 * 6, "{sizes:?}");
    for mode in ["worst", "list", "list-indirect"] {
        let bytes = |tool: &str| {
            let r = sizes
                .iter()
                .find(|r| r["mode"] == mode && r["tool"] == tool)
                .unwrap_or_else(|| panic!("no {mode} {tool} row: {sizes:?}"));
            assert_eq!(r["resumes"], "true", "{r:?}");
            r["bytes"].clone()
        };
        // The variant was given the mode's flags: it made exactly our module.
        assert_eq!(bytes("twin"), bytes("ours"), "{mode}");
    }
    let transform = csv_rows(&reports.join("transform.csv"));
    assert_eq!(
        transform.iter().filter(|r| r["tool"] == "twin").count(),
        3,
        "{transform:?}"
    );
    let runtime = csv_rows(&reports.join("runtime.csv"));
    let twins: Vec<_> = runtime.iter().filter(|r| r["tool"] == "twin").collect();
    assert_eq!(twins.len(), 3, "{runtime:?}");
    for twin in twins {
        let ours = runtime
            .iter()
            .find(|r| r["mode"] == twin["mode"] && r["tool"] == "ours")
            .unwrap();
        assert_eq!(twin["fuel"], ours["fuel"], "same module, same operations");
    }
    for chart in ["sizes", "runtime", "transform-time"] {
        let svg = std::fs::read_to_string(reports.join(format!("{chart}.svg"))).unwrap();
        assert!(svg.contains("twin"), "{chart}.svg has no twin series");
    }
    let html = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(
        html.contains("worst<br>twin"),
        "the tables have twin columns"
    );
}

#[test]
fn a_bad_tool_is_named_and_nothing_is_written() {
    for (arg, says) in [
        ("twin", "`twin` is not NAME=COMMAND"),
        ("ours=x", "`ours` is already a tool"),
        ("a/b=x", "a tool name is letters"),
        ("twin=", "`twin` has no command"),
    ] {
        let out = bench().args(["sizes", "--tool", arg]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{arg}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--tool") && err.contains(says), "{arg}: {err}");
    }
    let dir = tmp("missing-tool");
    let reports = dir.join("reports");
    let out = bench()
        .args([
            "sizes",
            "--repeats",
            "1",
            "--tool",
            "gone=/no/such/asyncify",
        ])
        .arg("--programs")
        .arg(primes_from_cache(&dir))
        .arg("--reports")
        .arg(&reports)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gone") && err.contains("/no/such/asyncify"),
        "{err}"
    );
    assert!(!reports.join("sizes.csv").exists());
}
