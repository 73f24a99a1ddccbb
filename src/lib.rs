//! `asyncify-bench`: the measurement suite (library part, shared by the `asyncify-bench`
//! binary and the criterion benches). Stages read and write files in `reports/`, so each can
//! be rerun alone:
//!
//! - `build`: compile the programs (clang-16, cached under `target/bench/`);
//! - `sizes`: every program x mode x tool: sizes, transform cost, checked runs;
//! - `runtime`: every module of the sizes stage run in wasmtime: time and fuel;
//! - `switch`: the fannkuch pause experiment and coroutine ping-pong against wasmtime fibers;
//! - `report`: charts and `index.html` from the CSVs;
//! - `compare OLD NEW`: what changed between two report folders.

pub mod breakdown;
pub mod build;
pub mod compare;
pub mod html;
pub mod layout;
pub mod programs;
pub mod report;
pub mod run;
pub mod runtime;
pub mod sizes;
pub mod sources;
pub mod switch;
pub mod tools;

/// What the sizes and runtime stages measure: these programs with these tools
/// (`tools::run_tools`), every size with `full`, so many repeats, results into `reports`.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub programs: &'a [programs::Program],
    pub tools: &'a [tools::Tool],
    pub full: bool,
    pub repeats: Option<usize>,
    pub reports: &'a std::path::Path,
}
