//! Typed errors. Each names the thing it concerns (function, option, import) so the CLI can
//! print one clear line.

/// Everything that can go wrong while reading, transforming or writing a module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a valid WebAssembly module (binary or text).
    #[error("invalid input module: {0}")]
    InvalidInput(String),
    /// An option value is malformed or two options contradict each other.
    #[error("option `{option}`: {message}")]
    Option { option: String, message: String },
    /// A function uses something the transform cannot instrument correctly.
    #[error("function `{function}`: {what} is not supported by asyncify")]
    Unsupported { function: String, what: String },
    /// The module is well-formed but cannot be used with the asyncify runtime ABI.
    #[error("{0}")]
    Module(String),
    /// The transform produced an invalid module: a bug in this crate, never written out.
    #[error("internal error: the transformed module does not validate: {0}")]
    InvalidOutput(String),
}

impl Error {
    pub(crate) fn option(option: &str, message: impl Into<String>) -> Self {
        Error::Option {
            option: option.to_string(),
            message: message.into(),
        }
    }
}
