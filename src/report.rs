//! Stage `report`: charts (SVG and PNG) drawn from the CSVs.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::sizes::{read_csv, SizeRow, TransformRow};

const COLORS: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(174, 199, 232),
    RGBColor(214, 39, 40),
    RGBColor(255, 152, 150),
    RGBColor(44, 160, 44),
    RGBColor(152, 223, 138),
    RGBColor(148, 103, 189),
    RGBColor(197, 176, 213),
    RGBColor(140, 86, 75),
];

struct Series {
    name: String,
    values: Vec<f64>,
}

/// Registers DejaVu Sans for PNG text (plotters' bitmap backend has no system fonts).
fn register_font() -> Result<()> {
    let path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let bytes = std::fs::read(path)
        .with_context(|| format!("{path} (scripts/setup installs fonts-dejavu-core)"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("cannot load {path}"))?;
    Ok(())
}

fn grouped_bars(
    out: &Path,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[Series],
    log: bool,
) -> Result<()> {
    let width = (160 + groups.len() * (series.len() * 14 + 24)).max(900) as u32;
    let svg = out.with_extension("svg");
    let png = out.with_extension("png");
    draw(
        SVGBackend::new(&svg, (width, 560)).into_drawing_area(),
        title,
        y_label,
        groups,
        series,
        log,
    )?;
    draw(
        BitMapBackend::new(&png, (width, 560)).into_drawing_area(),
        title,
        y_label,
        groups,
        series,
        log,
    )?;
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[Series],
    log: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // Headroom above the bars for the legend.
    let max = series
        .iter()
        .flat_map(|s| s.values.iter())
        .cloned()
        .fold(0.0, f64::max)
        * 1.35;
    let min = series
        .iter()
        .flat_map(|s| s.values.iter())
        .cloned()
        .filter(|v| *v > 0.0)
        .fold(f64::MAX, f64::min);
    let n = groups.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0f64..n,
            if log {
                (min / 2.0).ln()..max.ln()
            } else {
                0f64..max.max(1e-9)
            },
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let group_names = groups.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < group_names.len() {
                group_names[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .y_label_formatter(&|y| {
            if log {
                format!("{:.3}", y.exp())
            } else {
                format!("{y:.2}")
            }
        })
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let k = series.len() as f64;
    for (si, s) in series.iter().enumerate() {
        let color = COLORS[si % COLORS.len()];
        let bars = s
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.0)
            .map(|(gi, v)| {
                let x0 = gi as f64 + 0.1 + 0.8 * si as f64 / k;
                let x1 = x0 + 0.8 / k;
                let y = if log { v.ln() } else { *v };
                let y0 = if log { (min / 2.0).ln() } else { 0.0 };
                Rectangle::new([(x0, y0), (x1, y)], color.filled())
            });
        chart
            .draw_series(bars)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

fn programs_of(rows: &[SizeRow]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in rows {
        if !v.contains(&r.program) {
            v.push(r.program.clone());
        }
    }
    v
}

/// Draws every chart the CSVs in `reports` allow.
pub fn run(reports: &Path) -> Result<()> {
    register_font()?;
    let sizes: Vec<SizeRow> = read_csv(&reports.join("sizes.csv"))?;
    let programs = programs_of(&sizes);
    let pick = |mode: &str, tool: &str, optimized: bool, f: &dyn Fn(&SizeRow) -> f64| -> Vec<f64> {
        programs
            .iter()
            .map(|p| {
                sizes
                    .iter()
                    .find(|r| {
                        &r.program == p
                            && r.mode == mode
                            && r.tool == tool
                            && r.optimized == optimized
                    })
                    .map(f)
                    .unwrap_or(0.0)
            })
            .collect()
    };
    let mut series = Vec::new();
    for mode in ["worst", "list", "list-indirect"] {
        for tool in ["ours", "binaryen-132"] {
            series.push(Series {
                name: format!("{mode} {tool}"),
                values: pick(mode, tool, true, &|r| r.ratio),
            });
        }
    }
    grouped_bars(
        &reports.join("sizes"),
        "Code size relative to normal (lower is better; Binaryen with -O2)",
        "size / normal",
        &programs,
        &series,
        false,
    )?;
    let opt = vec![
        Series {
            name: "binaryen-132 without -O".into(),
            values: pick("worst", "binaryen-132", false, &|r| r.ratio),
        },
        Series {
            name: "binaryen-132 -O2".into(),
            values: pick("worst", "binaryen-132", true, &|r| r.ratio),
        },
        Series {
            name: "ours".into(),
            values: pick("worst", "ours", true, &|r| r.ratio),
        },
    ];
    grouped_bars(
        &reports.join("optimization"),
        "Worst mode: the importance of optimisation",
        "size / normal",
        &programs,
        &opt,
        false,
    )?;
    let transform: Vec<TransformRow> = read_csv(&reports.join("transform.csv"))?;
    let t = |tool: &str, f: &dyn Fn(&TransformRow) -> f64| -> Vec<f64> {
        programs
            .iter()
            .map(|p| {
                transform
                    .iter()
                    .find(|r| &r.program == p && r.mode == "worst" && r.tool == tool && r.optimized)
                    .map(f)
                    .unwrap_or(0.0)
            })
            .collect()
    };
    let times = vec![
        Series {
            name: "ours".into(),
            values: t("ours", &|r| r.wall_ms_median),
        },
        Series {
            name: "binaryen-108 -O2".into(),
            values: t("binaryen-108", &|r| r.wall_ms_median),
        },
        Series {
            name: "binaryen-132 -O2".into(),
            values: t("binaryen-132", &|r| r.wall_ms_median),
        },
    ];
    grouped_bars(
        &reports.join("transform-time"),
        "Transform wall time, worst mode (median, log scale)",
        "ms",
        &programs,
        &times,
        true,
    )?;
    let mem = vec![
        Series {
            name: "ours".into(),
            values: t("ours", &|r| r.peak_kb as f64 / 1024.0),
        },
        Series {
            name: "binaryen-108 -O2".into(),
            values: t("binaryen-108", &|r| r.peak_kb as f64 / 1024.0),
        },
        Series {
            name: "binaryen-132 -O2".into(),
            values: t("binaryen-132", &|r| r.peak_kb as f64 / 1024.0),
        },
    ];
    grouped_bars(
        &reports.join("transform-memory"),
        "Transform peak memory, worst mode",
        "MiB",
        &programs,
        &mem,
        false,
    )?;
    Ok(())
}
