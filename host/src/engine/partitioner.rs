//! `engine` → partition → partitioners: the built-ins that split a partitioned step's input
//! (Spring's `Partitioner`: one ExecutionContext per partition). `file-ranges` cuts one CSV or
//! JSON-lines file into byte ranges that begin and end at record boundaries (after the header,
//! outside quoted fields); `files` makes one partition per file matching a pattern;
//! `sql-ranges` splits the row numbers of a `sql-table` table into ranges (Spring's
//! `ColumnRangePartitioner`).
//!
//! Every partition's context has `partition.index` and `partition.count`; `file-ranges` adds
//! `partition.path` and `partition.range` (`{ start, end, line }`: bytes `start..end`, the
//! first record on line `line`), `files` adds `partition.path` and `partition.file-name`,
//! `sql-ranges` adds `partition.table`, `partition.min` and `partition.max` (inclusive).

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::json;

use super::Run;
use super::plugins::{plugin_sandbox, plugin_setup};
use crate::domain::ExecutionContext;
use crate::plan::{FileRangesConfig, PartitionerPlan, PluginPlan, StepPlan};
use crate::plugin::{Grant, PartitionerInstance, Role, describe_open_error};
use crate::repository::JobRepository;

/// Computes the partitions of `manager`'s `plan` in `grant` (files), the repository (tables) or
/// a partitioner component: `grid` ranges, or one per matching file.
pub(super) async fn partitions<R: JobRepository>(
    run: &Run<'_, R>,
    manager: &StepPlan,
    plan: &PartitionerPlan,
    grant: &Grant,
    grid: u32,
    job_context: &ExecutionContext,
) -> Result<Vec<ExecutionContext>, String> {
    let repo = run.repo;
    let mut out = match plan {
        PartitionerPlan::Component(p) => {
            component(run, manager, p, grant, grid, job_context).await?
        }
        PartitionerPlan::FileRanges(config) => file_ranges(config, grant, grid)?,
        PartitionerPlan::Files { pattern } => files(pattern, grant)?,
        PartitionerPlan::SqlRanges { table } => {
            let bounds = repo
                .table_bounds(table)
                .await
                .map_err(|e| format!("sql-ranges partitioner: table `{table}`: {e}"))?;
            row_ranges(table, bounds, grid)
        }
    };
    let count = out.len();
    for (i, ctx) in out.iter_mut().enumerate() {
        ctx.put("partition.index", json!(i));
        ctx.put("partition.count", json!(count));
    }
    Ok(out)
}

/// `grid` byte ranges of the file, each starting at a record.
fn file_ranges(
    config: &FileRangesConfig,
    grant: &Grant,
    grid: u32,
) -> Result<Vec<ExecutionContext>, String> {
    let path = &config.path;
    let file = grant.open_read(Path::new(path)).map_err(|e| {
        format!(
            "file-ranges partitioner: cannot open `{path}` in `{}`: {}",
            grant.shown(),
            describe_open_error(&e)
        )
    })?;
    let len = file
        .metadata()
        .map_err(|e| format!("file-ranges partitioner: `{path}`: {e}"))?
        .len();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    let (mut offset, mut number) = (0u64, 0u64);
    let mut read_line = |line: &mut Vec<u8>| -> Result<u64, String> {
        line.clear();
        reader
            .read_until(b'\n', line)
            .map(|n| n as u64)
            .map_err(|e| format!("file-ranges partitioner: cannot read `{path}`: {e}"))
    };
    if config.header {
        offset = read_line(&mut line)?;
        number = 1;
    }
    let data = offset;
    // Record starts at or after each target offset; boundaries[k] starts partition k.
    let grid = u64::from(grid.max(1));
    let targets: Vec<u64> = (1..grid).map(|k| data + (len - data) * k / grid).collect();
    let mut starts = vec![(data, number + 1)];
    let mut in_quotes = false;
    let mut next = 0;
    while next < targets.len() {
        let n = read_line(&mut line)?;
        if n == 0 {
            break;
        }
        offset += n;
        number += 1;
        if config.multiline {
            let quotes = line.iter().filter(|&&b| b == config.quote).count();
            in_quotes ^= quotes % 2 == 1;
        }
        if in_quotes {
            continue; // the record goes on on the next line
        }
        while next < targets.len() && offset >= targets[next] {
            starts.push((offset, number + 1));
            next += 1;
        }
    }
    while starts.len() < grid as usize {
        starts.push((len, number + 1));
    }
    let ends = starts.iter().skip(1).map(|s| s.0).chain([len]);
    Ok(starts
        .iter()
        .zip(ends)
        .map(|(&(start, line), end)| {
            let mut ctx = ExecutionContext::new();
            ctx.put("partition.path", json!(path));
            ctx.put(
                "partition.range",
                json!({ "start": start, "end": end, "line": line }),
            );
            ctx
        })
        .collect())
}

/// What a partitioner component returns, each key under `partition.` (the keys the host sets
/// itself are refused).
async fn component<R: JobRepository>(
    run: &Run<'_, R>,
    manager: &StepPlan,
    p: &PluginPlan,
    grant: &Grant,
    grid: u32,
    job_context: &ExecutionContext,
) -> Result<Vec<ExecutionContext>, String> {
    let setup = plugin_setup(run.plan, manager, p, job_context)?;
    let sandbox = plugin_sandbox(run, manager, grant, Role::Partitioner, p);
    let mut instance = PartitionerInstance::new(&p.prepared, &sandbox)
        .await
        .map_err(|e| format!("partitioner {} cannot be instantiated: {e}", p.label))?;
    instance
        .init(&setup)
        .await
        .map_err(|e| format!("partitioner {} init: {e}", p.label))?;
    let parts = instance
        .partition(grid)
        .await
        .map_err(|e| format!("partitioner {}: {e}", p.label))?;
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut ctx = ExecutionContext::new();
            for (key, value) in part.iter() {
                if key == "index" || key == "count" || key.starts_with("batch.") {
                    return Err(format!(
                        "partitioner {} returned the key `{key}` in partition {i}; `index`, `count` and `batch.*` are the host's",
                        p.label
                    ));
                }
                ctx.put(format!("partition.{key}"), value.clone());
            }
            Ok(ctx)
        })
        .collect()
}

/// `grid` ranges of the row numbers `bounds` (inclusive), as Spring's `ColumnRangePartitioner`
/// cuts them: equal spans from the lowest, the last one ending at the highest; none for an empty
/// table.
fn row_ranges(table: &str, bounds: Option<(i64, i64)>, grid: u32) -> Vec<ExecutionContext> {
    let Some((min, max)) = bounds else {
        return Vec::new();
    };
    let size = (max - min) / i64::from(grid.max(1)) + 1;
    let mut out = Vec::new();
    let mut start = min;
    while start <= max {
        let end = (start + size - 1).min(max);
        let mut ctx = ExecutionContext::new();
        ctx.put("partition.table", json!(table));
        ctx.put("partition.min", json!(start));
        ctx.put("partition.max", json!(end));
        out.push(ctx);
        start = end + 1;
    }
    out
}

/// One partition per regular file matching `pattern` (its folder part is literal), by name.
fn files(pattern: &str, grant: &Grant) -> Result<Vec<ExecutionContext>, String> {
    let p = Path::new(pattern);
    let folder = p.parent().unwrap_or(Path::new(""));
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("files partitioner: `{pattern}` names no file"))?;
    let matcher =
        glob::Pattern::new(name).map_err(|e| format!("files partitioner: `{pattern}`: {e}"))?;
    let names = grant.list_files(folder).map_err(|e| {
        format!(
            "files partitioner: cannot list `{}` in `{}`: {}",
            folder.display(),
            grant.shown(),
            describe_open_error(&e)
        )
    })?;
    Ok(names
        .into_iter()
        .filter(|n| matcher.matches(n))
        .map(|n| {
            let mut ctx = ExecutionContext::new();
            ctx.put(
                "partition.path",
                json!(folder.join(&n).display().to_string()),
            );
            ctx.put("partition.file-name", json!(n));
            ctx
        })
        .collect())
}
