//! A fast, faithful re-implementation of Binaryen's Asyncify transform.
//!
//! Asyncify instruments a WebAssembly module so that its call stack can be *unwound* into a
//! buffer in linear memory and later *rewound*, which lets synchronous code pause (sleep,
//! coroutines, CPU budgets) inside an ordinary engine. The output keeps Binaryen's runtime ABI
//! (the `asyncify_*` exports, the data structure, the pure-wasm `asyncify.*` imports), so a
//! runtime written for `wasm-opt --asyncify` works unchanged.
//!
//! **The rewind contract**: during a rewind every call on the paused stack is executed again
//! with the same callee (a `call_indirect`'s table index included) and bit-identical operands,
//! as in Binaryen's output. Runtimes rely on it: an import that pauses is called a second time
//! during the rewind and may do its real work then, with the arguments it is given. Operands
//! that could have changed while paused (globals, memory) are kept in saved locals, never
//! recomputed.
//!
//! The pipeline, in order (see `transform_module`):
//! 1. find the pure-wasm runtime's imports (`RuntimeImports::find`);
//! 2. analyse the call graph once to learn which functions can change state;
//! 3. add the runtime (globals, helpers, exports; imports become direct calls);
//! 4. instrument each function that can change state.
//!
//! ```
//! let wat = r#"(module
//!     (import "env" "sleep" (func $sleep))
//!     (memory 1)
//!     (func (export "main") (call $sleep)))"#;
//! let out = asyncify::transform(wat.as_bytes(), &asyncify::Options::default()).unwrap();
//! assert!(wasmparser::validate(&out.wasm).is_ok());
//! ```

#![deny(unsafe_code)]

mod analysis;
mod emit;
mod error;
mod instrument;
pub mod options;
mod runtime;
pub mod text;

use analysis::callgraph::{self, Reason, RuntimeImports};
pub use error::Error;
pub use options::Options;

/// The transformed module and what the transform learned on the way.
#[derive(Debug)]
pub struct Output {
    pub wasm: Vec<u8>,
    pub report: Report,
}

/// What was instrumented and why; warnings about list entries that matched nothing.
#[derive(Debug, Default)]
pub struct Report {
    /// `(function, why)` for every instrumented function, e.g. `("main", "calls sleep -> import env.sleep")`.
    pub instrumented: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// How the output is encoded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Emit {
    /// Keep the name section (Binaryen's `-g`).
    pub debug_names: bool,
}

/// Transforms a module given as binary or text (`.wat`, standard or Binaryen's dialect, see
/// [`text`]) and returns the validated binary.
pub fn transform(input: &[u8], opts: &Options) -> Result<Output, Error> {
    transform_with(input, opts, Emit::default())
}

/// [`transform`] with control over the encoding.
pub fn transform_with(input: &[u8], opts: &Options, emit: Emit) -> Result<Output, Error> {
    // Real programs nest deeply (a large `switch` is hundreds of nested blocks); a big stack
    // keeps the recursive parts of the rewrite safe on any caller's thread.
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, || transform_inner(input, opts, emit))
            .map_err(|e| Error::Module(format!("cannot start the transform thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(Error::InvalidOutput("the transform panicked".into())))
    })
}

fn transform_inner(input: &[u8], opts: &Options, emit: Emit) -> Result<Output, Error> {
    let binary = text::parse_bytes(input)?;
    let mut config = walrus::ModuleConfig::new();
    config
        .generate_name_section(emit.debug_names)
        .generate_producers_section(false);
    let mut module = config
        .parse(&binary)
        .map_err(|e| Error::InvalidInput(format!("{e:#}")))?;
    let report = transform_module(&mut module, opts)?;
    let wasm = emit::drop_empty_else(module.emit_wasm())?;
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator
        .validate_all(&wasm)
        .map_err(|e| Error::InvalidOutput(e.to_string()))?;
    Ok(Output { wasm, report })
}

/// Transforms a module already parsed by walrus (for callers that run other walrus passes).
pub fn transform_module(module: &mut walrus::Module, opts: &Options) -> Result<Report, Error> {
    opts.check()?;
    let rt_imports = RuntimeImports::find(module)?;
    let plan = callgraph::analyze(module, opts, &rt_imports);
    let rt = runtime::install(module, opts, &rt_imports)?;
    let used = instrument::run(module, &plan, &rt, opts.restore_at_sites, opts.rewind_copy)?;
    rt.remove_unused_helpers(module, &used);
    let instrumented = plan
        .instrument
        .iter()
        .map(|f| {
            (
                instrument::func_name(module, *f),
                explain(module, &plan, *f),
            )
        })
        .collect();
    Ok(Report {
        instrumented,
        warnings: plan.warnings.clone(),
    })
}

/// The chain of calls that made `f` able to change state.
fn explain(module: &walrus::Module, plan: &callgraph::Plan, f: walrus::FunctionId) -> String {
    let mut parts = Vec::new();
    let mut cur = f;
    for _ in 0..64 {
        match plan.reasons.get(&cur) {
            Some(Reason::Calls(callee)) => {
                parts.push(format!("calls {}", instrument::func_name(module, *callee)));
                cur = *callee;
            }
            Some(Reason::Import(name)) => {
                parts.push(format!("import {name} may pause"));
                break;
            }
            Some(Reason::Indirect) => {
                parts.push("makes an indirect call that may reach anything".into());
                break;
            }
            Some(Reason::CallsIndirect { table, ty, target }) => {
                let name = instrument::func_name(module, *target);
                parts.push(match table {
                    Some(table) => format!(
                        "calls {name} indirectly (type {}, table {})",
                        ty.index(),
                        table.index()
                    ),
                    None => format!("calls {name} by reference (call_ref, type {})", ty.index()),
                });
                cur = *target;
            }
            Some(Reason::RuntimeTop) => {
                parts.push("calls asyncify.start_unwind/stop_rewind".into());
                break;
            }
            Some(Reason::Listed) => {
                parts.push("listed".into());
                break;
            }
            None => break,
        }
    }
    parts.join(" -> ")
}
