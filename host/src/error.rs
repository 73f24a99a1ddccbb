//! Typed errors, each with a message that says what to do.

/// What can go wrong while running an asyncified module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the module was not asyncified: it has no `{missing}` export (run `asyncify` on it first)"
    )]
    NotAsyncified { missing: String },
    #[error("the module has no export `{0}`")]
    MissingExport(String),
    #[error("export `{name}` does not have the type asked for: {message}")]
    ExportType { name: String, message: String },
    #[error("instantiation failed: {0:#}")]
    Instantiate(wasmtime::Error),
    #[error(
        "the unwind buffer of {size} bytes is too small for this call stack: raise the size in the `Buffer` given to instantiate/coroutine"
    )]
    UnwindOverflow { size: u32 },
    #[error("the unwind buffer of {size} bytes is too small to hold anything (at least 16 bytes)")]
    BufferTooSmall { size: u32 },
    #[error("import `{got}` was called while rewinding into `{expected}`: the module's control flow diverged during the rewind")]
    WrongRewind { expected: String, got: String },
    #[error("trap while rewinding: {0:#}")]
    TrapDuringRewind(wasmtime::Error),
    #[error("trap: {0:#}")]
    Trap(wasmtime::Error),
    #[error("import `{import}` failed: {message}")]
    Import { import: String, message: String },
    #[error("the coroutine has already finished")]
    Finished,
    #[error("the rewind re-entered `{reentered}`, but the paused call was `{paused}`: a rewind must call the same callee with identical operands")]
    RewindMismatch { paused: String, reentered: String },
    #[error("the import `{0}` is not provided (the checking host serves WASI preview1, spectest.print*, and imports without results as no-ops)")]
    UnknownImport(String),
    #[error("asyncify protocol violated: {0}")]
    Protocol(String),
}
