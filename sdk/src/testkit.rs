//! Fault injection for the `testkit-*` plugins: configurable failures per item, failures on the
//! n-th call, and append-only logs of what a plugin saw.
//!
//! Config shape shared by the testkit plugins: `fail: { "<item>": { kind: "<k>", times: N | "always" } }`.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;

use serde::Deserialize;

use crate::Error;

/// How many invocations of an item fail before it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Times {
    /// The first N invocations fail.
    N(u32),
    /// Every invocation fails.
    #[default]
    Always,
}

impl<'de> Deserialize<'de> for Times {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Times::N(n)),
            Raw::S(s) if s == "always" => Ok(Times::Always),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "times must be a number or \"always\", not `{s}`"
            ))),
        }
    }
}

/// One configured failure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The error kind to raise.
    pub kind: String,
    /// How many invocations fail (default: always).
    #[serde(default)]
    pub times: Times,
}

/// Failures per item, with the number of failing invocations so far.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    faults: HashMap<String, Fault>,
    failed: HashMap<String, u32>,
}

impl Faults {
    /// From the `fail` config map.
    pub fn new(faults: HashMap<String, Fault>) -> Self {
        Faults {
            faults,
            failed: HashMap::new(),
        }
    }

    /// True when `item` is configured to fail and its next invocation would fail.
    pub fn would_fail(&self, item: &str) -> bool {
        self.faults.get(item).is_some_and(|f| match f.times {
            Times::Always => true,
            Times::N(n) => self.failed.get(item).copied().unwrap_or(0) < n,
        })
    }

    /// One invocation for `item`: the configured error while it still fails. The kind `loop`
    /// spins forever (a hostile plugin); the kind `panic`
    /// panics instead (a trap the host sees as `wasm.trap`).
    pub fn check(&mut self, item: &str) -> Result<(), Error> {
        if !self.would_fail(item) {
            return Ok(());
        }
        let fault = &self.faults[item];
        let n = self.failed.entry(item.to_owned()).or_insert(0);
        *n += 1;
        if fault.kind == "panic" {
            panic!("injected panic on `{item}` (invocation {n})");
        }
        if fault.kind == "loop" {
            // A hostile plugin: spins until the host's CPU deadline or fuel budget stops it.
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        Err(Error::new(
            fault.kind.clone(),
            format!("injected failure on `{item}` (invocation {n})"),
        ))
    }
}

/// An append-only log file in the work directory (never rolled back): one JSON line per entry.
#[derive(Debug, Clone, Default)]
pub struct Log {
    path: Option<String>,
}

impl Log {
    /// A log at `path`, or none. The file is created at once (kept if it exists), so a test can
    /// tell "the plugin ran and logged nothing" from "the plugin never ran".
    pub fn new(path: Option<String>) -> Result<Self, Error> {
        if let Some(path) = &path {
            append_json_lines::<&str>(path, &[])?;
        }
        Ok(Log { path })
    }

    /// Appends one entry as a JSON line.
    pub fn append(&self, entry: &str) -> Result<(), Error> {
        if let Some(path) = &self.path {
            append_json_lines(path, std::slice::from_ref(&entry))?;
        }
        Ok(())
    }
}

/// Appends each entry to `path` as a JSON string on its own line.
pub fn append_json_lines<S: AsRef<str>>(path: &str, entries: &[S]) -> Result<(), Error> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    let mut buf = String::new();
    for e in entries {
        buf.push_str(&serde_json::Value::String(e.as_ref().to_owned()).to_string());
        buf.push('\n');
    }
    f.write_all(buf.as_bytes())?;
    Ok(())
}

/// The error raised by `fail-on-call`, `position` and `always-throw`.
pub fn injected(kind: &str, what: &str) -> Error {
    Error::new(kind, format!("injected failure: {what}"))
}

fn default_fail_kind() -> String {
    "error".into()
}

/// Config fields shared by the testkit processor and writer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Common {
    /// Failures per item.
    #[serde(default)]
    pub fail: HashMap<String, Fault>,
    /// Fail the N-th call overall (1-based).
    #[serde(default)]
    pub fail_on_call: Option<u64>,
    /// The kind raised by `fail-on-call`, `position` and `always-throw` (default `error`).
    #[serde(default = "default_fail_kind")]
    pub fail_kind: String,
    /// The append-only log file.
    #[serde(default)]
    pub log: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_counts_failing_invocations() {
        let mut f = Faults::new(HashMap::from([
            (
                "b".to_owned(),
                Fault {
                    kind: "io.timeout".into(),
                    times: Times::N(2),
                },
            ),
            (
                "c".to_owned(),
                Fault {
                    kind: "validation".into(),
                    times: Times::Always,
                },
            ),
        ]));
        assert!(f.check("a").is_ok());
        assert_eq!(f.check("b").unwrap_err().kind, "io.timeout");
        assert!(f.check("b").is_err());
        assert!(f.check("b").is_ok());
        for _ in 0..5 {
            assert!(f.check("c").is_err());
        }
    }
}
