//! Logging into the host's structured log. The host adds job, step and plugin fields.
//!
//! Outside WebAssembly (native unit tests of plugin logic) records go to stderr.

use crate::bindings::platform::batch::plugin::log as wit;

pub use wit::Level;

/// Emits one record with extra structured fields.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wit::log(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message} {fields:?}");
}

/// Emits a debug record.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

/// Emits an info record.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Emits a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

/// Emits an error record.
pub fn error(message: &str) {
    log(Level::Error, message, &[]);
}
