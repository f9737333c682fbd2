//! `batch-sdk` → context: the plugin's view of its `ExecutionContext`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;
use crate::bindings::platform::batch::plugin::types::ContextEntry;

/// Spring Batch's ExecutionContext: string keys, JSON values.
///
/// A reader or writer returns one from `update` (the host saves it with each committed chunk)
/// and receives the last saved one in `open` after a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionContext {
    entries: BTreeMap<String, Value>,
}

impl ExecutionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` under `key`, replacing any earlier value.
    pub fn put(&mut self, key: impl Into<String>, value: impl Serialize) -> &mut Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.entries.insert(key.into(), value);
        self
    }

    /// The value under `key` decoded as `T`; `Ok(None)` when absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
                Error::new(
                    "context.decode",
                    format!("execution context key `{key}`: {e}"),
                )
            }),
        }
    }

    /// True when the context holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as JSON values, for a host that runs a plugin natively (the host's own
    /// tests and benchmarks); components exchange contexts through the WIT types instead.
    pub fn to_json(&self) -> BTreeMap<String, Value> {
        self.entries.clone()
    }

    /// A context holding `entries` (see [`to_json`](Self::to_json)).
    pub fn from_json(entries: BTreeMap<String, Value>) -> Self {
        ExecutionContext { entries }
    }

    #[allow(dead_code, reason = "used by the wasm glue of some roles only")]
    pub(crate) fn from_wire(entries: Vec<ContextEntry>) -> Result<Self, Error> {
        let mut ctx = ExecutionContext::new();
        for e in entries {
            let value = serde_json::from_str(&e.value)
                .map_err(|err| Error::new("context.decode", format!("key `{}`: {err}", e.key)))?;
            ctx.entries.insert(e.key, value);
        }
        Ok(ctx)
    }

    #[allow(dead_code, reason = "used by the wasm glue of some roles only")]
    pub(crate) fn into_wire(self) -> Vec<ContextEntry> {
        self.entries
            .into_iter()
            .map(|(key, value)| ContextEntry {
                key,
                value: value.to_string(),
            })
            .collect()
    }
}
