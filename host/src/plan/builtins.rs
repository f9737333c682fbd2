//! `plan` → built-ins: the readers and writers the host provides (`csv`, `jsonl`,
//! `skipped-items`, `sql-table`), their configs checked like a component's references.

use std::path::{Component, Path};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::diagnostics::Collector;
use super::{
    CsvReaderConfig, CsvWriterConfig, FileConfig, ReaderPlan, SkippedItemsConfig, WriterPlan,
    valid_name,
};
use crate::spec::{PluginRef, Spanned, location};

const READERS: &str = "csv, jsonl, skipped-items, sql-table";
const WRITERS: &str = "jsonl, csv, sql-table";

/// Where a problem with one built-in's reference is reported.
struct Site<'r, 'c> {
    r: &'r Spanned<PluginRef>,
    field: &'r str,
    c: &'r mut Collector<'c>,
}

impl Site<'_, '_> {
    fn push(&mut self, sub: &str, message: String, hint: Option<String>) {
        let field = if sub.is_empty() {
            self.field.to_owned()
        } else {
            format!("{}.{sub}", self.field)
        };
        self.c.push(location(self.r), field, message, hint);
    }

    /// The config as `T`, or a problem naming the built-in, with an example config.
    fn config<T: DeserializeOwned>(&mut self, name: &str, example: &str) -> Option<T> {
        self.config_hint(name, format!("write `config: {example}`"))
    }

    fn config_hint<T: DeserializeOwned>(&mut self, name: &str, hint: String) -> Option<T> {
        let config = self
            .r
            .value
            .config
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        match serde_json::from_value::<T>(config) {
            Ok(cfg) => Some(cfg),
            Err(e) => {
                self.push("config", format!("invalid {name} config: {e}"), Some(hint));
                None
            }
        }
    }

    /// A `path` that stays inside the step's directory grant.
    fn file(&mut self, path: String) -> Option<FileConfig> {
        let p = Path::new(&path);
        let plain = !path.is_empty()
            && p.components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
            && p.components().any(|c| matches!(c, Component::Normal(_)));
        if plain {
            Some(FileConfig { path, range: None })
        } else {
            self.push(
                "config.path",
                format!("`{path}` is not a path inside the step's directory"),
                Some("give a relative path without `..`, such as `in/members.csv`; the step's `directory` decides where it is".into()),
            );
            None
        }
    }

    /// One ASCII character other than a line break.
    fn byte(&mut self, sub: &str, c: char) -> Option<u8> {
        if c.is_ascii() && c != '\n' && c != '\r' {
            Some(c as u8)
        } else {
            self.push(
                &format!("config.{sub}"),
                format!("`{sub}` must be one ASCII character other than a line break, not {c:?}"),
                None,
            );
            None
        }
    }
}

/// The one-of check shared by readers and writers.
fn exclusive(site: &mut Site<'_, '_>) -> bool {
    if site.r.value.plugin.is_some() || site.r.value.path.is_some() {
        site.push(
            "",
            "give exactly one of `plugin`, `path` or `builtin`".into(),
            None,
        );
        return false;
    }
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathOnly {
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlTableReaderSpec {
    table: String,
    #[serde(default)]
    min: Option<Value>,
    #[serde(default)]
    max: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlReaderSpec {
    path: String,
    #[serde(default)]
    range: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvReaderSpec {
    path: String,
    #[serde(default = "comma")]
    delimiter: char,
    #[serde(default = "double_quote")]
    quote: char,
    #[serde(default = "yes")]
    header: bool,
    #[serde(default)]
    columns: Option<Vec<String>>,
    #[serde(default)]
    multiline: bool,
    #[serde(default)]
    range: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvWriterSpec {
    path: String,
    columns: Vec<String>,
    #[serde(default = "comma")]
    delimiter: char,
    #[serde(default = "yes")]
    header: bool,
}

fn comma() -> char {
    ','
}
fn double_quote() -> char {
    '"'
}
fn yes() -> bool {
    true
}

/// Checks that `columns` are usable item keys: some, non-empty, none twice.
fn check_columns(site: &mut Site<'_, '_>, columns: &[String]) -> bool {
    let mut seen = std::collections::HashSet::new();
    let bad = columns.is_empty()
        || columns
            .iter()
            .any(|c| c.is_empty() || !seen.insert(c.as_str()));
    if bad {
        site.push(
            "config.columns",
            "`columns` must list at least one name, none empty and none twice".into(),
            Some("write `columns: [id, name, email]`".into()),
        );
    }
    !bad
}

pub(super) fn plan_builtin_reader(
    r: &Spanned<PluginRef>,
    builtin: &Spanned<String>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<ReaderPlan> {
    let mut site = Site { r, field, c };
    if !exclusive(&mut site) {
        return None;
    }
    match builtin.value.as_str() {
        "skipped-items" => {
            let cfg: SkippedItemsConfig = site.config_hint(
                "skipped-items",
                "write `config: { execution: 12, step: migrate, phase: process }` (step and phase optional)".into(),
            )?;
            if cfg
                .phase
                .as_deref()
                .is_some_and(|p| !matches!(p, "process" | "write"))
            {
                site.push(
                    "config.phase",
                    "phase must be `process` or `write`".into(),
                    Some("read skips carry no item to reprocess".into()),
                );
                return None;
            }
            Some(ReaderPlan::SkippedItems(cfg))
        }
        "csv" => {
            let spec: CsvReaderSpec = site.config(
                "csv reader",
                "{ path: in/members.csv, delimiter: \",\", header: true }",
            )?;
            let file = site.file(spec.path).map(|f| FileConfig {
                range: spec.range,
                ..f
            });
            let delimiter = site.byte("delimiter", spec.delimiter);
            let quote = site.byte("quote", spec.quote);
            let columns = match (spec.header, spec.columns) {
                (true, Some(_)) => {
                    site.push(
                        "config.columns",
                        "`columns` names the fields of a file without a header line".into(),
                        Some("remove `columns`, or set `header: false`".into()),
                    );
                    return None;
                }
                (false, None) => {
                    site.push(
                        "config.columns",
                        "a file without a header line needs `columns`".into(),
                        Some("write `columns: [id, name, email]`".into()),
                    );
                    return None;
                }
                (_, columns) => columns,
            };
            if columns
                .as_ref()
                .is_some_and(|c| !check_columns(&mut site, c))
            {
                return None;
            }
            if delimiter.is_some() && delimiter == quote {
                site.push(
                    "config.quote",
                    "`quote` and `delimiter` must differ".into(),
                    None,
                );
                return None;
            }
            Some(ReaderPlan::Csv(CsvReaderConfig {
                file: file?,
                delimiter: delimiter?,
                quote: quote?,
                columns,
                multiline: spec.multiline,
            }))
        }
        "sql-table" => {
            let spec: SqlTableReaderSpec = site.config(
                "sql-table reader",
                "{ table: members, min: \"${partition.min}\", max: \"${partition.max}\" }",
            )?;
            if !valid_name(&spec.table) {
                site.push(
                    "config.table",
                    format!("`{}` is not a table name", spec.table),
                    Some("use 1-100 letters, digits, `.`, `_` or `-`".into()),
                );
                return None;
            }
            Some(ReaderPlan::SqlTable(super::SqlTableReaderConfig {
                table: spec.table,
                min: spec.min,
                max: spec.max,
            }))
        }
        "jsonl" => {
            let spec: JsonlReaderSpec = site.config("jsonl reader", "{ path: in/items.jsonl }")?;
            let file = site.file(spec.path)?;
            Some(ReaderPlan::Jsonl(FileConfig {
                range: spec.range,
                ..file
            }))
        }
        other => {
            site.c.push(
                location(builtin),
                format!("{field}.builtin"),
                format!("unknown built-in reader `{other}`"),
                Some(format!("the built-in readers are: {READERS}")),
            );
            None
        }
    }
}

pub(super) fn plan_builtin_writer(
    w: &Spanned<PluginRef>,
    builtin: &Spanned<String>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<WriterPlan> {
    let mut site = Site { r: w, field, c };
    if !exclusive(&mut site) {
        return None;
    }
    match builtin.value.as_str() {
        "sql-table" => {
            let table = w
                .value
                .config
                .as_ref()
                .and_then(|c| c.get("table"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            match table {
                Some(t) if valid_name(&t) => Some(WriterPlan::SqlTable { table: t }),
                _ => {
                    site.push(
                        "config.table",
                        "the sql-table writer needs `config: { table: NAME }`".into(),
                        Some("use 1-100 letters, digits, `.`, `_` or `-`".into()),
                    );
                    None
                }
            }
        }
        "jsonl" => {
            let spec: PathOnly = site.config_hint(
                "jsonl writer",
                "write `config: { path: out/members.jsonl }`; fsync before each commit is the job's `durability: power-loss`".into(),
            )?;
            Some(WriterPlan::Jsonl(site.file(spec.path)?))
        }
        "csv" => {
            let spec: CsvWriterSpec = site.config(
                "csv writer",
                "{ path: out/members.csv, columns: [id, name, email] }",
            )?;
            let file = site.file(spec.path);
            let delimiter = site.byte("delimiter", spec.delimiter);
            if !check_columns(&mut site, &spec.columns) || delimiter == Some(b'"') {
                if delimiter == Some(b'"') {
                    site.push(
                        "config.delimiter",
                        "the delimiter cannot be the quote character `\"`".into(),
                        None,
                    );
                }
                return None;
            }
            Some(WriterPlan::Csv(CsvWriterConfig {
                file: file?,
                columns: spec.columns,
                delimiter: delimiter?,
                header: spec.header,
            }))
        }
        other => {
            site.c.push(
                location(builtin),
                format!("{field}.builtin"),
                format!("unknown built-in writer `{other}`"),
                Some(format!("the built-in writers are: {WRITERS}")),
            );
            None
        }
    }
}
