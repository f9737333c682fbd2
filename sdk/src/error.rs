//! `batch-sdk` → error: a plugin failure with a dotted kind.

use std::fmt;

/// A plugin failure: a dotted `kind` that fault-tolerance rules match on, and a message.
///
/// Kinds go from general to specific (`validation.email`, `io.timeout`): a job's rule for
/// `validation` also matches `validation.email`, and the most specific rule wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The dotted error kind, such as `validation.email`.
    pub kind: String,
    /// What went wrong, for the step's exit message and the logs.
    pub message: String,
}

impl Error {
    /// An error of any kind.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// A bad `config` section in job.yaml (kind `config`).
    pub fn config(message: impl Into<String>) -> Self {
        Error::new("config", message)
    }

    /// An item that fails a validation rule: kind `validation.<rule>`.
    pub fn validation(rule: &str, message: impl Into<String>) -> Self {
        Error::new(format!("validation.{rule}"), message)
    }

    /// An input/output failure: kind `io.<what>`, such as `io.timeout`.
    pub fn io(what: &str, message: impl Into<String>) -> Self {
        Error::new(format!("io.{what}"), message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    /// Maps I/O errors to `io.not-found`, `io.permission-denied`, … and `io.other`.
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let what = match e.kind() {
            K::NotFound => "not-found",
            K::PermissionDenied => "permission-denied",
            K::TimedOut => "timeout",
            K::InvalidData | K::InvalidInput => "invalid-data",
            K::UnexpectedEof => "unexpected-eof",
            _ => "other",
        };
        Error::io(what, e.to_string())
    }
}
