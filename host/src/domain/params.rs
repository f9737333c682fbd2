//! `domain`: `JobParameters` with Spring Batch's types, notation and `JOB_KEY` digest.

use std::collections::BTreeMap;
use std::fmt;

use md5::{Digest, Md5};

/// A typed job parameter value, limited to the types whose Java renderings we reproduce exactly
/// (Spring Batch 5 keys instances on `toString()` of the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `java.lang.String`
    String,
    /// `java.lang.Long`
    Long,
    /// `java.lang.Double`
    Double,
    /// `java.time.LocalDate` (`2026-11-21`)
    Date,
    /// `java.time.LocalDateTime` (`2026-11-21T10:15:30`)
    DateTime,
}

impl ParamType {
    /// The fully-qualified Java class name stored in `PARAMETER_TYPE`.
    pub fn java_class(self) -> &'static str {
        match self {
            ParamType::String => "java.lang.String",
            ParamType::Long => "java.lang.Long",
            ParamType::Double => "java.lang.Double",
            ParamType::Date => "java.time.LocalDate",
            ParamType::DateTime => "java.time.LocalDateTime",
        }
    }

    /// Parses a short name (`long`) or a Java class name (`java.lang.Long`).
    pub fn parse(s: &str) -> Option<ParamType> {
        Some(match s.trim() {
            "string" | "java.lang.String" => ParamType::String,
            "long" | "java.lang.Long" => ParamType::Long,
            "double" | "java.lang.Double" => ParamType::Double,
            "date" | "java.time.LocalDate" => ParamType::Date,
            "datetime" | "java.time.LocalDateTime" => ParamType::DateTime,
            _ => return None,
        })
    }
}

/// Splits a `--param` argument, `name=value[,type[,identifying]]`, at its first `=`; the value
/// part goes to [`JobParameter::parse_notation`].
pub fn split_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not `name=value[,type[,identifying]]`")),
    }
}

/// A parameter that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{spec}`: {reason}")]
pub struct ParameterError {
    /// The text as given.
    pub spec: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// One job parameter (a row of `BATCH_JOB_EXECUTION_PARAMS`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobParameter {
    /// The type.
    pub kind: ParamType,
    /// The value in its canonical text form (what `PARAMETER_VALUE` stores).
    pub value: String,
    /// Whether the parameter is part of the JobInstance identity.
    pub identifying: bool,
}

impl JobParameter {
    /// A string parameter.
    pub fn string(value: impl Into<String>, identifying: bool) -> Self {
        JobParameter {
            kind: ParamType::String,
            value: value.into(),
            identifying,
        }
    }

    /// Parses Spring Batch's command-line notation `value[,type[,identifying]]`, where type is
    /// `string` (default), `long`, `double`, `date` or `datetime` (or the Java class name) and
    /// identifying is `true` (default) or `false`.
    pub fn parse_notation(name: &str, text: &str) -> Result<Self, ParameterError> {
        let err = |reason: String| ParameterError {
            spec: format!("{name}={text}"),
            reason,
        };
        let mut tokens = text.split(',');
        let raw = tokens.next().unwrap_or_default();
        let kind = match tokens.next() {
            None => ParamType::String,
            Some(t) => ParamType::parse(t).ok_or_else(|| {
                err(format!(
                    "unknown type `{}`; use string, long, double, date or datetime",
                    t.trim()
                ))
            })?,
        };
        let identifying = match tokens.next().map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(err(format!(
                    "identifying must be `true` or `false`, not `{other}`"
                )));
            }
        };
        if tokens.next().is_some() {
            return Err(err(
                "too many commas; the notation is `name=value[,type[,identifying]]`".into(),
            ));
        }
        let value = canonical_value(kind, raw).map_err(err)?;
        Ok(JobParameter {
            kind,
            value,
            identifying,
        })
    }

    /// Java's `toString()` of the value, as Spring Batch 5 feeds it to the job key.
    pub fn java_to_string(&self) -> String {
        match self.kind {
            ParamType::DateTime => {
                // LocalDateTime.toString() omits zero seconds (and zero fractions).
                match self.value.strip_suffix(":00") {
                    Some(short) if self.value.len() == 19 => short.to_owned(),
                    _ => self.value.clone(),
                }
            }
            _ => self.value.clone(),
        }
    }
}

/// Validates `raw` for `kind` and returns the canonical stored text.
fn canonical_value(kind: ParamType, raw: &str) -> Result<String, String> {
    match kind {
        ParamType::String => Ok(raw.to_owned()),
        ParamType::Long => raw
            .trim()
            .parse::<i64>()
            .map(|v| v.to_string())
            .map_err(|_| format!("`{raw}` is not a whole number (type long)")),
        ParamType::Double => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(java_double)
            .ok_or_else(|| format!("`{raw}` is not a number (type double)")),
        ParamType::Date => chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map(|d| d.format("%Y-%m-%d").to_string())
            .map_err(|_| format!("`{raw}` is not a date like 2026-11-21 (type date)")),
        ParamType::DateTime => {
            chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M"))
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
                .map_err(|_| {
                    format!("`{raw}` is not a date-time like 2026-11-21T10:15:30 (type datetime)")
                })
        }
    }
}

/// Java's `Double.toString` for finite values: plain notation in [1e-3, 1e7), otherwise
/// computerized scientific notation (`1.0E10`), always with a fraction digit.
fn java_double(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        format!("{v:?}")
    } else {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

/// The parameters of a job execution, ordered by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobParameters {
    params: BTreeMap<String, JobParameter>,
}

impl JobParameters {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a parameter.
    pub fn insert(&mut self, name: impl Into<String>, p: JobParameter) {
        self.params.insert(name.into(), p);
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&JobParameter> {
        self.params.get(name)
    }

    /// All parameters in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &JobParameter)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Spring Batch 5's `DefaultJobKeyGenerator`: MD5 over
    /// `name={value=…, type=class …, identifying=true};` for each identifying parameter in
    /// name order, as 32 lowercase hex digits.
    pub fn job_key(&self) -> String {
        let mut keys: Vec<&String> = self.params.keys().collect();
        // Java sorts by UTF-16 code units.
        keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        let mut input = String::new();
        for key in keys {
            let p = &self.params[key];
            if p.identifying {
                input.push_str(&format!(
                    "{key}={{value={}, type=class {}, identifying=true}};",
                    p.java_to_string(),
                    p.kind.java_class()
                ));
            }
        }
        hex::encode(Md5::digest(input.as_bytes()))
    }
}

impl fmt::Display for JobParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, p) in &self.params {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={}", p.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_match_spring_batch_5() {
        assert_eq!(
            JobParameters::new().job_key(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        let mut p = JobParameters::new();
        p.insert(
            "run.id",
            JobParameter::parse_notation("run.id", "1,long").unwrap(),
        );
        assert_eq!(p.job_key(), "947cce338b790a4bb6cf8425e98bcf94");
        let mut p = JobParameters::new();
        p.insert("foo", JobParameter::string("bar", true));
        p.insert("bar", JobParameter::string("foo", true));
        p.insert("ignored", JobParameter::string("x", false));
        assert_eq!(p.job_key(), "0e2a48a17d785b4ec5f073a849a79c9d");
    }

    #[test]
    fn notation() {
        let p = JobParameter::parse_notation("d", "2026-11-21,date,false").unwrap();
        assert_eq!(
            (p.kind, p.value.as_str(), p.identifying),
            (ParamType::Date, "2026-11-21", false)
        );
        let p = JobParameter::parse_notation("t", "2024-01-31T10:15,datetime").unwrap();
        assert_eq!(p.value, "2024-01-31T10:15:00");
        assert_eq!(p.java_to_string(), "2024-01-31T10:15");
        assert!(
            JobParameter::parse_notation("n", "x,long")
                .unwrap_err()
                .reason
                .contains("whole number")
        );
        assert!(
            JobParameter::parse_notation("n", "1,int")
                .unwrap_err()
                .reason
                .contains("unknown type")
        );
        assert!(JobParameter::parse_notation("n", "1,long,yes").is_err());
    }

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.25e-5), "1.25E-5");
        assert_eq!(java_double(0.001), "0.001");
    }
}
