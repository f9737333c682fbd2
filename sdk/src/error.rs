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
    /// Maps I/O errors to `io.not-found`, `io.permission-denied`, … and `io.other`, with a
    /// message in the host's terms: the numbers in `(os error N)` are WASI error codes, which
    /// mean nothing to the person reading the step's exit message, so they are left out.
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let (what, message) = match e.kind() {
            K::NotFound => (
                "not-found",
                "not found in the step's directory (the only one a plugin can see)".to_owned(),
            ),
            K::PermissionDenied => (
                "permission-denied",
                "not permitted: the step's directory is granted read-only, or the path leaves it"
                    .to_owned(),
            ),
            K::TimedOut => ("timeout", without_os_error(&e)),
            K::InvalidData | K::InvalidInput => ("invalid-data", without_os_error(&e)),
            K::UnexpectedEof => ("unexpected-eof", without_os_error(&e)),
            _ => ("other", without_os_error(&e)),
        };
        Error::io(what, message)
    }
}

/// The error's text without a trailing ` (os error N)`.
fn without_os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}
