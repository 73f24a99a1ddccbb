//! The suite's harness as a user runs it: building programs (C and C++), transforming them in
//! every mode with every tool, checking each output runs to its expected checksum, and drawing
//! the charts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asyncify-bench"))
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sizes_and_charts_for_three_programs() {
    let reports = tmp("suite-reports");
    let out = bench()
        .args([
            "all",
            "--only",
            "primes,havlak,life",
            "--repeats",
            "1",
            "--reports",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sizes = std::fs::read_to_string(reports.join("sizes.csv")).unwrap();
    let rows: Vec<&str> = sizes.lines().skip(1).collect();
    // normal + 3 modes x 5 tools, per program.
    assert_eq!(rows.len(), 3 * 16, "{sizes}");
    for prog in ["primes", "havlak", "life"] {
        let worst_ours = rows
            .iter()
            .find(|r| r.starts_with(&format!("{prog},worst,ours,")))
            .unwrap_or_else(|| panic!("no worst/ours row for {prog}"));
        let ratio: f64 = worst_ours.rsplit(',').next().unwrap().parse().unwrap();
        assert!(
            ratio > 1.0,
            "instrumenting everything makes {prog} bigger: {worst_ours}"
        );
    }
    let transform = std::fs::read_to_string(reports.join("transform.csv")).unwrap();
    assert_eq!(transform.lines().count(), 1 + 3 * 15);
    for chart in [
        "sizes",
        "optimization",
        "transform-time",
        "transform-memory",
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
