//! `${…}` placeholders in plugin configs: `${params.NAME}`, `${job.context.KEY}` and, in a
//! partition's worker step, `${partition.KEY}`, each with an optional default after `:-`
//! (`${params.input:-members.csv}`). `$${` is a literal `${`.
//! Placeholders are checked when the job is planned and replaced when the step starts, so a step
//! sees what earlier steps promoted to the job context.
//!
//! A string that is exactly one placeholder keeps the value's type: a `long` or `double`
//! parameter becomes a JSON number, a job-context value stays the JSON value it is, and a default
//! that reads as a JSON number or boolean becomes one. Inside longer text, values are text.

use serde_json::Value;

use super::{ExecutionContext, JobParameters, ParamType};

/// Where a placeholder's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceholderSource {
    /// `${params.NAME}`: a job parameter.
    Param(String),
    /// `${job.context.KEY}`: a key of the job's ExecutionContext.
    JobContext(String),
    /// `${partition.KEY}`: a key of the partition's context (worker steps only); the engine
    /// hands it over as the context key `partition.KEY`.
    Partition(String),
}

impl PlaceholderSource {
    /// The context key a job-context or partition placeholder reads.
    fn context_key(&self) -> Option<String> {
        match self {
            PlaceholderSource::Param(_) => None,
            PlaceholderSource::JobContext(k) => Some(k.clone()),
            PlaceholderSource::Partition(k) => Some(format!("partition.{k}")),
        }
    }
}

/// One `${…}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// What it refers to.
    pub source: PlaceholderSource,
    /// The text after `:-`, used when the reference has no value.
    pub default: Option<String>,
}

enum Piece<'a> {
    Text(&'a str),
    Ref(Placeholder),
}

fn parse(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i..];
        if after.starts_with("$${") {
            out.push(Piece::Text(&rest[..i]));
            out.push(Piece::Text("${"));
            rest = &rest[i + 3..];
        } else if let Some(body) = after.strip_prefix("${") {
            out.push(Piece::Text(&rest[..i]));
            let end = body
                .find('}')
                .ok_or_else(|| format!("`{after}` has no closing `}}`"))?;
            out.push(Piece::Ref(placeholder(&body[..end])?));
            rest = &body[end + 1..];
        } else {
            out.push(Piece::Text(&rest[..=i]));
            rest = &rest[i + 1..];
        }
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

fn placeholder(body: &str) -> Result<Placeholder, String> {
    let (reference, default) = match body.split_once(":-") {
        Some((r, d)) => (r, Some(d.to_owned())),
        None => (body, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    let source = if let Some(name) = reference.strip_prefix("params.") {
        valid(name).then(|| PlaceholderSource::Param(name.to_owned()))
    } else if let Some(key) = reference.strip_prefix("job.context.") {
        valid(key).then(|| PlaceholderSource::JobContext(key.to_owned()))
    } else if let Some(key) = reference.strip_prefix("partition.") {
        valid(key).then(|| PlaceholderSource::Partition(key.to_owned()))
    } else {
        None
    };
    source
        .map(|source| Placeholder { source, default })
        .ok_or_else(|| {
            format!(
                "`${{{body}}}` is not a valid reference; use `${{params.NAME}}`, `${{job.context.KEY}}` or `${{partition.KEY}}`, optionally with `:-default`"
            )
        })
}

fn walk<'v>(value: &'v Value, f: &mut impl FnMut(&'v str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| walk(v, f)),
        Value::Object(map) => map.values().for_each(|v| walk(v, f)),
        _ => {}
    }
}

/// Every placeholder in the string values of `config`, or the first syntax error.
pub fn placeholders(config: &Value) -> Result<Vec<Placeholder>, String> {
    let mut out = Vec::new();
    let mut error = None;
    walk(config, &mut |s| match parse(s) {
        Ok(pieces) => out.extend(pieces.into_iter().filter_map(|p| match p {
            Piece::Ref(r) => Some(r),
            Piece::Text(_) => None,
        })),
        Err(e) => {
            error.get_or_insert(e);
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn resolve_str(
    text: &str,
    params: &JobParameters,
    context: &ExecutionContext,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for piece in parse(text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(p) => {
                let value =
                    match &p.source {
                        PlaceholderSource::Param(name) => params.get(name).map(|v| v.value.clone()),
                        other => context
                            .get(&other.context_key().unwrap_or_default())
                            .map(|v| match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            }),
                    };
                match (value, p.default) {
                    (Some(v), _) | (None, Some(v)) => out.push_str(&v),
                    (None, None) => {
                        return Err(match p.source {
                            PlaceholderSource::Param(n) => {
                                format!("`${{params.{n}}}`: the job has no parameter `{n}`")
                            }
                            PlaceholderSource::JobContext(k) => format!(
                                "`${{job.context.{k}}}`: the job context has no key `{k}` (has the step that promotes it run?)"
                            ),
                            PlaceholderSource::Partition(k) => format!(
                                "`${{partition.{k}}}`: the partition has no key `{k}` (is this step a partition's worker?)"
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The typed value of a string that is exactly one placeholder; `None` otherwise (or when it
/// has no value, which [`resolve_str`] reports).
fn whole_value(text: &str, params: &JobParameters, context: &ExecutionContext) -> Option<Value> {
    let pieces = parse(text).ok()?;
    let [Piece::Text(""), Piece::Ref(p), Piece::Text("")] = pieces.as_slice() else {
        return None;
    };
    let found = match &p.source {
        PlaceholderSource::Param(name) => params.get(name).map(|v| match v.kind {
            ParamType::Long | ParamType::Double => {
                serde_json::from_str::<serde_json::Number>(&v.value)
                    .map(Value::Number)
                    .unwrap_or_else(|_| Value::String(v.value.clone()))
            }
            _ => Value::String(v.value.clone()),
        }),
        other => context
            .get(&other.context_key().unwrap_or_default())
            .cloned(),
    };
    found.or_else(|| {
        let d = p.default.as_deref()?;
        Some(match serde_json::from_str::<Value>(d) {
            Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
            _ => Value::String(d.to_owned()),
        })
    })
}

/// `config` with every placeholder replaced.
pub fn substitute(
    config: &Value,
    params: &JobParameters,
    context: &ExecutionContext,
) -> Result<Value, String> {
    Ok(match config {
        Value::String(s) => match whole_value(s, params, context) {
            Some(v) => v,
            None => Value::String(resolve_str(s, params, context)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, params, context))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, params, context)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::JobParameter;

    #[test]
    fn replaces_params_context_and_defaults() {
        let mut params = JobParameters::new();
        params.insert("run.date", JobParameter::string("2026-11-21", true));
        params.insert(
            "limit",
            JobParameter::parse_notation("limit", "5,long").unwrap(),
        );
        let mut ctx = ExecutionContext::new();
        ctx.put("count", json!(42));
        ctx.put("file", json!("out.csv"));
        let config = json!({
            "a": "day=${params.run.date}",
            "b": ["${params.input:-members.csv}", "${job.context.count}/${job.context.file}"],
            "c": "cost: $$5 and $${params.x}",
            "d": 7,
            "e": "${params.limit}",
            "f": "${job.context.count}",
            "g": "${params.missing:-true}",
            "h": "n=${params.limit}",
        });
        assert_eq!(
            substitute(&config, &params, &ctx).unwrap(),
            json!({
                "a": "day=2026-11-21",
                "b": ["members.csv", "42/out.csv"],
                "c": "cost: $$5 and ${params.x}",
                "d": 7,
                "e": 5,
                "f": 42,
                "g": true,
                "h": "n=5",
            })
        );
        let err = substitute(&json!("${job.context.nope}"), &params, &ctx).unwrap_err();
        assert!(err.contains("no key `nope`"), "{err}");
    }

    #[test]
    fn reports_syntax_errors() {
        assert!(
            placeholders(&json!("${params.x"))
                .unwrap_err()
                .contains("closing")
        );
        assert!(
            placeholders(&json!("${env.HOME}"))
                .unwrap_err()
                .contains("not a valid reference")
        );
        assert_eq!(
            placeholders(&json!({"k": "${params.a:-1} ${job.context.b}"})).unwrap(),
            vec![
                Placeholder {
                    source: PlaceholderSource::Param("a".into()),
                    default: Some("1".into())
                },
                Placeholder {
                    source: PlaceholderSource::JobContext("b".into()),
                    default: None
                },
            ]
        );
    }
}
