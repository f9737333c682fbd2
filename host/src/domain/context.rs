//! `domain`: Spring Batch's `ExecutionContext` — ordered JSON values, scoped per plugin, stored
//! in Jackson's format.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

/// Spring Batch's ExecutionContext: string keys with JSON values, ordered by key.
///
/// Persisted in the shape of Spring Batch's `Jackson2ExecutionContextStringSerializer`
/// (`{"@class":"java.util.HashMap","k":["java.lang.Long",1]}`) so Spring tools can read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionContext {
    entries: BTreeMap<String, Value>,
}

const CLASS: &str = "@class";

impl ExecutionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a value.
    pub fn put(&mut self, key: impl Into<String>, value: Value) {
        self.entries.insert(key.into(), value);
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.entries.remove(key)
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key)
    }

    /// All entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries whose key starts with `prefix.`, with the prefix removed.
    pub fn scoped(&self, prefix: &str) -> ExecutionContext {
        let p = format!("{prefix}.");
        ExecutionContext {
            entries: self
                .entries
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&p).map(|k| (k.to_owned(), v.clone())))
                .collect(),
        }
    }

    /// Replaces every entry under `prefix.` with `other`'s entries, prefixed.
    pub fn replace_scope(&mut self, prefix: &str, other: ExecutionContext) {
        let p = format!("{prefix}.");
        self.entries.retain(|k, _| !k.starts_with(&p));
        for (k, v) in other.entries {
            self.entries.insert(format!("{p}{k}"), v);
        }
    }

    /// Serializes in the Jackson shape Spring Batch 5 reads.
    pub fn to_jackson_json(&self) -> String {
        let mut map = Map::new();
        map.insert(CLASS.into(), Value::String("java.util.HashMap".into()));
        for (k, v) in &self.entries {
            map.insert(k.clone(), to_jackson(v));
        }
        Value::Object(map).to_string()
    }

    /// Parses the Jackson shape (and plain JSON objects).
    pub fn from_jackson_json(text: &str) -> Result<Self, serde_json::Error> {
        let value: Value = serde_json::from_str(text)?;
        let mut ctx = ExecutionContext::new();
        if let Value::Object(map) = value {
            for (k, v) in map {
                if k != CLASS {
                    ctx.entries.insert(k, from_jackson(v));
                }
            }
        }
        Ok(ctx)
    }
}

/// Jackson default typing: Strings, Integers, Doubles and Booleans stay plain; longs get a
/// `["java.lang.Long", n]` wrapper; maps and lists carry their class.
fn to_jackson(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            let fits_int = n.as_i64().is_some_and(|i| i32::try_from(i).is_ok());
            if fits_int {
                v.clone()
            } else {
                Value::Array(vec!["java.lang.Long".into(), v.clone()])
            }
        }
        Value::Array(items) => Value::Array(vec![
            "java.util.ArrayList".into(),
            Value::Array(items.iter().map(to_jackson).collect()),
        ]),
        Value::Object(map) => {
            let mut out = Map::new();
            out.insert(CLASS.into(), "java.util.HashMap".into());
            for (k, v) in map {
                out.insert(k.clone(), to_jackson(v));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn from_jackson(v: Value) -> Value {
    match v {
        Value::Array(mut items) if items.len() == 2 && items[0].is_string() => {
            let value = items.pop().unwrap_or(Value::Null);
            match (items[0].as_str().unwrap_or_default(), value) {
                ("java.util.ArrayList" | "java.util.List", Value::Array(list)) => {
                    Value::Array(list.into_iter().map(from_jackson).collect())
                }
                (_, Value::Number(n)) => Value::Number(n),
                (_, other) => from_jackson(other),
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(from_jackson).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k != CLASS)
                .map(|(k, v)| (k, from_jackson(v)))
                .collect(),
        ),
        Value::Number(n) => Value::Number(n.as_i64().map(Number::from).unwrap_or(n)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jackson_shape_round_trips() {
        let mut ctx = ExecutionContext::new();
        ctx.put("reader.rows", json!(5_000_000_000_i64));
        ctx.put("reader.small", json!(7));
        ctx.put("writer.name", json!("out.jsonl"));
        ctx.put("nested", json!({"a": [1, 2], "b": true, "c": 1.5}));
        let text = ctx.to_jackson_json();
        assert!(
            text.starts_with(r#"{"@class":"java.util.HashMap""#),
            "{text}"
        );
        assert!(
            text.contains(r#""reader.rows":["java.lang.Long",5000000000]"#),
            "{text}"
        );
        assert!(text.contains(r#""reader.small":7"#), "{text}");
        assert_eq!(ExecutionContext::from_jackson_json(&text).unwrap(), ctx);
    }

    #[test]
    fn scopes() {
        let mut ctx = ExecutionContext::new();
        ctx.put("reader.rows", json!(1));
        ctx.put("writer.bytes", json!(2));
        let mut r = ctx.scoped("reader");
        assert_eq!(r.get("rows"), Some(&json!(1)));
        r.put("rows", json!(3));
        ctx.replace_scope("reader", r);
        assert_eq!(ctx.get("reader.rows"), Some(&json!(3)));
        assert_eq!(ctx.get("writer.bytes"), Some(&json!(2)));
    }
}
