//! Stage `report`: charts (SVG and PNG) drawn from the CSVs, and `index.html`, the page a
//! person reads (checked in headless Chromium: it renders and every image loads).

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::runtime::RuntimeRow;
use crate::sizes::{read_csv, SizeRow, TransformRow};
use crate::switch::{FannkuchRow, SwitchRow};

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
    // A chart with nothing to show (e.g. no program's transforms were all timed) still gets
    // axes: a log range from no values would have no end.
    let (min, max) = if max > 0.0 { (min, max) } else { (1.0, 1.35) };
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

/// One line per series over `xs` (log2 x axis), SVG and PNG.
fn lines(out: &Path, title: &str, y_label: &str, xs: &[u32], series: &[Series]) -> Result<()> {
    let svg = out.with_extension("svg");
    let png = out.with_extension("png");
    draw_lines(
        SVGBackend::new(&svg, (900, 520)).into_drawing_area(),
        title,
        y_label,
        xs,
        series,
    )?;
    draw_lines(
        BitMapBackend::new(&png, (900, 520)).into_drawing_area(),
        title,
        y_label,
        xs,
        series,
    )
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    xs: &[u32],
    series: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e:?}");
    root.fill(&WHITE).map_err(e)?;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter())
        .cloned()
        .fold(0.0, f64::max)
        * 1.25;
    let x_max = xs.iter().map(|x| (*x as f64).log2()).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.2f64..x_max + 0.2, 0f64..max.max(1e-9))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("call-stack depth (frames)")
        .x_labels(xs.len() * 4)
        .x_label_formatter(&|x| {
            let v = 2f64.powf(*x);
            if (v - v.round()).abs() < 0.01 && (x - x.round()).abs() < 0.01 {
                format!("{}", v.round())
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .draw()
        .map_err(e)?;
    for (si, s) in series.iter().enumerate() {
        let color = COLORS[(si * 2) % COLORS.len()];
        let style = if si % 2 == 0 {
            color.stroke_width(2)
        } else {
            color.mix(0.6).stroke_width(2)
        };
        let points: Vec<(f64, f64)> = xs
            .iter()
            .zip(&s.values)
            .map(|(x, y)| ((*x as f64).log2(), *y))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// The distinct names, in first-seen order.
fn distinct<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for n in names {
        if !v.contains(n) {
            v.push(n.clone());
        }
    }
    v
}

/// Draws every chart the CSVs in `reports` allow.
pub fn run(reports: &Path) -> Result<()> {
    register_font()?;
    let sizes: Vec<SizeRow> = read_csv(&reports.join("sizes.csv"))?;
    let programs = distinct(sizes.iter().map(|r| &r.program));
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
                    // A module that failed the pause check gets no bar.
                    .map(|r| if r.resumes { f(r) } else { 0.0 })
                    .unwrap_or(0.0)
            })
            .collect()
    };
    // Every tool of the run, in the order of the CSV: ours, Binaryen's, then `--tool` variants.
    let tools: Vec<String> = distinct(sizes.iter().map(|r| &r.tool).filter(|t| *t != "clang"));
    // The per-program charts leave Binaryen 108 to the tables, so they stay readable.
    let charted: Vec<&String> = tools.iter().filter(|t| *t != "binaryen-108").collect();
    let mut series = Vec::new();
    for mode in ["worst", "list", "list-indirect"] {
        for tool in &charted {
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
    // Programs whose transforms were all timed (a quick run takes the big programs'
    // Binaryen outputs from the cache, untimed).
    let timed: Vec<String> = programs
        .iter()
        .filter(|p| {
            tools.iter().all(|tool| {
                transform
                    .iter()
                    .any(|r| &r.program == *p && r.mode == "worst" && &r.tool == tool)
            })
        })
        .cloned()
        .collect();
    let t = |tool: &str, f: &dyn Fn(&TransformRow) -> f64| -> Vec<f64> {
        timed
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
    let series_of = |f: &dyn Fn(&TransformRow) -> f64| -> Vec<Series> {
        tools
            .iter()
            .map(|tool| Series {
                name: match tool.as_str() {
                    "binaryen-108" | "binaryen-132" => format!("{tool} -O2"),
                    _ => tool.clone(),
                },
                values: t(tool, f),
            })
            .collect()
    };
    let times = series_of(&|r| r.wall_ms_median);
    grouped_bars(
        &reports.join("transform-time"),
        "Transform wall time, worst mode (median, log scale)",
        "ms",
        &timed,
        &times,
        true,
    )?;
    let mem = series_of(&|r| r.peak_kb as f64 / 1024.0);
    grouped_bars(
        &reports.join("transform-memory"),
        "Transform peak memory, worst mode",
        "MiB",
        &timed,
        &mem,
        false,
    )?;
    let runtime: Option<Vec<RuntimeRow>> = optional_csv(&reports.join("runtime.csv"))?;
    if let Some(runtime) = &runtime {
        let programs = distinct(runtime.iter().map(|r| &r.program));
        for (file, title, label, f) in [
            (
                "runtime",
                "Run time relative to normal, no pause taken (median; lower is better)",
                "time / normal",
                (|r: &RuntimeRow| r.ratio) as fn(&RuntimeRow) -> f64,
            ),
            (
                "runtime-fuel",
                "Wasm operations executed relative to normal (wasmtime fuel; deterministic)",
                "fuel / normal",
                |r: &RuntimeRow| r.fuel_ratio,
            ),
        ] {
            let mut series = Vec::new();
            for mode in ["worst", "list", "list-indirect"] {
                for tool in &charted {
                    series.push(Series {
                        name: format!("{mode} {tool}"),
                        values: programs
                            .iter()
                            .map(|p| {
                                runtime
                                    .iter()
                                    .find(|r| &r.program == p && r.mode == mode && &r.tool == *tool)
                                    .map(f)
                                    .unwrap_or(0.0)
                            })
                            .collect(),
                    });
                }
            }
            grouped_bars(&reports.join(file), title, label, &programs, &series, false)?;
        }
    }
    let fannkuch: Option<Vec<FannkuchRow>> = optional_csv(&reports.join("fannkuch.csv"))?;
    if let Some(rows) = &fannkuch {
        let mut groups: Vec<String> = Vec::new();
        let mut runtimes: Vec<String> = Vec::new();
        for r in rows.iter().filter(|r| r.row != "normal") {
            if !groups.contains(&r.row) {
                groups.push(r.row.clone());
            }
            if !runtimes.contains(&r.runtime) {
                runtimes.push(r.runtime.clone());
            }
        }
        let series: Vec<Series> = runtimes
            .iter()
            .map(|rt| Series {
                name: rt.clone(),
                values: groups
                    .iter()
                    .map(|g| {
                        rows.iter()
                            .find(|r| &r.row == g && &r.runtime == rt)
                            .map_or(0.0, |r| r.ms_median)
                    })
                    .collect(),
            })
            .collect();
        grouped_bars(
            &reports.join("fannkuch"),
            "fannkuch with a pause point in its innermost loop: total time (median)",
            "ms",
            &groups,
            &series,
            false,
        )?;
    }
    let switch: Option<Vec<SwitchRow>> = optional_csv(&reports.join("switch.csv"))?;
    if let Some(rows) = &switch {
        let mut depths: Vec<u32> = rows.iter().map(|r| r.depth).collect();
        depths.sort();
        depths.dedup();
        let mut series = Vec::new();
        let mut keys: Vec<(String, u32)> = Vec::new();
        for r in rows {
            let k = (r.runtime.clone(), r.locals);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys.sort_by_key(|k| (k.1, k.0.clone()));
        for (runtime, locals) in keys {
            series.push(Series {
                name: format!("{runtime}, {locals} live locals/frame"),
                values: depths
                    .iter()
                    .map(|d| {
                        rows.iter()
                            .find(|r| r.runtime == runtime && r.locals == locals && r.depth == *d)
                            .map_or(0.0, |r| r.ns_median)
                    })
                    .collect(),
            });
        }
        lines(
            &reports.join("switch"),
            "Coroutine switch cost versus call-stack depth (median)",
            "ns per switch",
            &depths,
            &series,
        )?;
    }
    let page = crate::html::page(
        reports,
        &sizes,
        &transform,
        runtime.as_deref(),
        fannkuch.as_deref(),
        switch.as_deref(),
    )?;
    let index = reports.join("index.html");
    let tmp = reports.join("index.html.tmp");
    std::fs::write(&tmp, page)?;
    std::fs::rename(&tmp, &index)?;
    crate::html::check_renders(&index)
}

/// The rows of a CSV a later stage writes, or `None` when that stage has not run.
fn optional_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<Vec<T>>> {
    if path.exists() {
        read_csv(path).map(Some)
    } else {
        Ok(None)
    }
}
