//! `plan` → partition: a `partition:` section checked — its built-in partitioner and config,
//! `grid-size`, `concurrency` and `workers` (the worker step is placed by the flow check).

use std::path::{Component, Path};

use serde::Deserialize;
use serde_json::Value;

use super::diagnostics::Collector;
use super::resolve::Resolver;
use super::{FileRangesConfig, PartitionPlan, PartitionerPlan};
use crate::plugin::Role;
use crate::repository::{PluginStore, RepositoryError};
use crate::spec::{
    MAX_PARTITIONS, PartitionSpec, Spanned, default_partition_concurrency, location,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRangesSpec {
    path: String,
    #[serde(default = "yes")]
    header: bool,
    #[serde(default)]
    multiline: bool,
    #[serde(default = "double_quote")]
    quote: char,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRangesSpec {
    table: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesSpec {
    pattern: String,
}

fn yes() -> bool {
    true
}
fn double_quote() -> char {
    '"'
}

/// A relative path (or pattern) that stays inside the step's directory.
fn inside(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// A count from 1 to [`MAX_PARTITIONS`], or a problem at `field`.
fn count(v: &Spanned<i64>, field: String, what: &str, c: &mut Collector<'_>) -> Option<u32> {
    if (1..=MAX_PARTITIONS).contains(&v.value) {
        return u32::try_from(v.value).ok();
    }
    c.push(
        location(v),
        field,
        format!("{what} {} is out of range", v.value),
        Some(format!("use a whole number from 1 to {MAX_PARTITIONS}")),
    );
    None
}

/// Plans `partition:`; `None` when it has problems (all of them reported).
pub(super) async fn plan_partition<R: PluginStore>(
    spec: &Spanned<PartitionSpec>,
    field: &str,
    shared_repository: bool,
    resolver: &mut Resolver<'_, R>,
    c: &mut Collector<'_>,
) -> Result<Option<PartitionPlan>, RepositoryError> {
    let p = &spec.value;
    let concurrency = match &p.concurrency {
        Some(n) => count(n, format!("{field}.concurrency"), "concurrency", c),
        None => u32::try_from(default_partition_concurrency().clamp(1, MAX_PARTITIONS)).ok(),
    };
    let grid_size = match &p.grid_size {
        Some(n) => count(n, format!("{field}.grid-size"), "grid-size", c),
        None => concurrency,
    };
    let (workers_ok, remote) = match &p.workers {
        None => (true, false),
        Some(w) if w.value == "local" => (true, false),
        Some(w) if w.value == "remote" && shared_repository => (true, true),
        Some(w) if w.value == "remote" => {
            c.push(
                location(w),
                format!("{field}.workers"),
                "remote workers claim partitions from a shared PostgreSQL repository; this job's repository is SQLite, which other machines cannot share".into(),
                Some("pass `--repository postgres://USER@HOST/DB` (every `batch-host worker` uses the same one), or use `workers: local`".into()),
            );
            (false, true)
        }
        Some(w) => {
            c.push(
                location(w),
                format!("{field}.workers"),
                format!("unknown workers `{}`", w.value),
                Some("use `workers: local` (this process) or `workers: remote` (`batch-host worker` processes)".into()),
            );
            (false, false)
        }
    };
    let r = &p.partitioner;
    let at = location(r);
    let pfield = format!("{field}.partitioner");
    let Some(builtin) = &r.value.builtin else {
        // A partitioner component, resolved like any plugin.
        let component = resolver
            .resolve(r, Role::Partitioner, pfield, c)
            .await?
            .map(PartitionerPlan::Component);
        return Ok(finish(
            component,
            grid_size,
            concurrency,
            remote,
            workers_ok,
        ));
    };
    let config = r
        .value
        .config
        .clone()
        .unwrap_or(Value::Object(Default::default()));
    let mut bad_config = |e: String, example: &str| {
        c.push(
            at,
            format!("{pfield}.config"),
            e,
            Some(format!("write `config: {example}`")),
        );
    };
    let partitioner = match builtin.value.as_str() {
        "file-ranges" => {
            let example = "{ path: members.csv, header: true }";
            match serde_json::from_value::<FileRangesSpec>(config) {
                Err(e) => {
                    bad_config(format!("invalid file-ranges config: {e}"), example);
                    None
                }
                Ok(f) if !inside(&f.path) => {
                    bad_config(
                        format!("`{}` is not a path inside the step's directory", f.path),
                        example,
                    );
                    None
                }
                Ok(f) if !f.quote.is_ascii() || f.quote == '\n' || f.quote == '\r' => {
                    bad_config("`quote` must be one ASCII character".into(), example);
                    None
                }
                Ok(f) => Some(PartitionerPlan::FileRanges(FileRangesConfig {
                    path: f.path,
                    header: f.header,
                    multiline: f.multiline,
                    quote: f.quote as u8,
                })),
            }
        }
        "sql-ranges" => {
            let example = "{ table: members }";
            match serde_json::from_value::<SqlRangesSpec>(config) {
                Err(e) => {
                    bad_config(format!("invalid sql-ranges config: {e}"), example);
                    None
                }
                Ok(f) if !super::valid_name(&f.table) => {
                    bad_config(format!("`{}` is not a table name", f.table), example);
                    None
                }
                Ok(f) => Some(PartitionerPlan::SqlRanges { table: f.table }),
            }
        }
        "files" => {
            let example = "{ pattern: \"in/*.csv\" }";
            match serde_json::from_value::<FilesSpec>(config) {
                Err(e) => {
                    bad_config(format!("invalid files config: {e}"), example);
                    None
                }
                Ok(f) if !inside(&f.pattern) || glob::Pattern::new(&f.pattern).is_err() => {
                    bad_config(
                        format!(
                            "`{}` is not a file pattern inside the step's directory",
                            f.pattern
                        ),
                        example,
                    );
                    None
                }
                Ok(f) => Some(PartitionerPlan::Files { pattern: f.pattern }),
            }
        }
        other => {
            c.push(
                location(builtin),
                format!("{pfield}.builtin"),
                format!("unknown partitioner `{other}`"),
                Some("the built-in partitioners are: file-ranges, files, sql-ranges".into()),
            );
            None
        }
    };
    Ok(finish(
        partitioner,
        grid_size,
        concurrency,
        remote,
        workers_ok,
    ))
}

/// The plan, when every part of it planned.
fn finish(
    partitioner: Option<PartitionerPlan>,
    grid_size: Option<u32>,
    concurrency: Option<u32>,
    remote: bool,
    workers_ok: bool,
) -> Option<PartitionPlan> {
    Some(PartitionPlan {
        partitioner: partitioner?,
        grid_size: grid_size?,
        concurrency: concurrency?,
        worker: 0,
        remote,
    })
    .filter(|_| workers_ok)
}
