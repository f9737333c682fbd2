//! `plan`: turns a parsed [`JobSpec`] into a runnable [`JobPlan`], validating everything first.
//!
//! Every problem (bad names, duplicate steps, chunk sizes, parameters, missing or wrong-role
//! plugins, unreadable components, a missing work directory) is collected and reported at once,
//! each with `file:line:column`, the field and a hint, **before** any job metadata is written to
//! the repository. Components are compiled (or loaded from their precompiled artifact) and
//! pre-linked here, so nothing after planning fails because of configuration; a component that
//! had to be compiled has its sealed artifact cached in the registry (`resolve.rs`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::domain::Durability;
use crate::plugin::{PluginRuntime, Role};
use crate::repository::{PluginStore, RepositoryError};
use crate::spec::{JobSpec, location};

mod builtins;
mod diagnostics;
mod fault_tolerance;
mod flow;
mod grants;
mod limits;
mod params;
mod partition;
mod resolve;
#[cfg(test)]
mod tests;
mod types;

use builtins::{plan_builtin_reader, plan_builtin_writer};
use diagnostics::Collector;
pub use diagnostics::{PlanErrors, PlanFailure};
use fault_tolerance::plan_fault_tolerance;
use grants::{check_protected, plan_directory};
use limits::plan_limits;
use params::{check_placeholders, plan_params};
use resolve::Resolver;
pub use types::{
    ChunkPlan, CsvReaderConfig, CsvWriterConfig, FileConfig, FileRangesConfig, JobPlan,
    MAX_CHUNK_SIZE, PartitionPlan, PartitionerPlan, PlanOptions, PluginPlan, Protected, Quota,
    ReaderPlan, Reservation, SkippedItemsConfig, SqlTableReaderConfig, StepKind, StepPlan,
    WriterPlan,
};

/// A job, step or table name: 1-100 letters, digits, `.`, `_` or `-`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Validates `spec` and compiles its plugins. `file` is job.yaml's path.
pub async fn compile<R: PluginStore>(
    spec: JobSpec,
    file: &Path,
    options: &PlanOptions,
    repo: &R,
    runtime: &PluginRuntime,
) -> Result<JobPlan, PlanFailure> {
    compile_with_catalogue(spec, file, options, repo, None, runtime).await
}

/// [`compile`], resolving `plugin: NAME` in the tenant's registry (`repo`) first and then in
/// the shared `catalogue`.
pub async fn compile_with_catalogue<R: PluginStore>(
    spec: JobSpec,
    file: &Path,
    options: &PlanOptions,
    repo: &R,
    catalogue: Option<&R>,
    runtime: &PluginRuntime,
) -> Result<JobPlan, PlanFailure> {
    let mut c = Collector {
        file,
        problems: Vec::new(),
    };
    // Paths in job.yaml are relative to its folder ("" when it is in the current directory).
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();

    if !valid_name(&spec.name.value) {
        c.push(
            location(&spec.name),
            "name".into(),
            format!("`{}` is not a valid job name", spec.name.value),
            Some("use 1-100 letters, digits, `.`, `_` or `-`".into()),
        );
    }

    let params = plan_params(&spec, options, &mut c);

    let durability = match &spec.durability {
        None => options.policy.durability,
        Some(d) => Durability::parse(&d.value).unwrap_or_else(|| {
            c.push(
                location(d),
                "durability".into(),
                format!("unknown durability `{}`", d.value),
                Some("use `process-crash` (the default: a killed process loses nothing committed) or `power-loss` (fsync every commit)".into()),
            );
            Durability::default()
        }),
    };

    let workdir = options
        .workdir
        .clone()
        .unwrap_or_else(|| match base.as_os_str().is_empty() {
            true => PathBuf::from("."),
            false => base.clone(),
        });
    let workdir = match std::fs::canonicalize(&workdir) {
        Ok(dir) if dir.is_dir() => Some(dir),
        _ => {
            c.push(
                (0, 0),
                "workdir".into(),
                format!(
                    "work directory `{}` does not exist or is not a directory",
                    workdir.display()
                ),
                Some("create it, or pass an existing one with `--workdir DIR`".into()),
            );
            None
        }
    };

    if spec.steps.value.is_empty() {
        c.push(
            location(&spec.steps),
            "steps".into(),
            "the job has no steps".into(),
            Some("add at least one step with a `chunk` section".into()),
        );
    }

    let mut resolver = Resolver {
        repo,
        catalogue,
        runtime,
        base: &base,
        registered_only: options.registered_only,
        cache: HashMap::new(),
    };
    let mut names = HashSet::new();
    let mut steps = Vec::new();
    for (i, step) in spec.steps.value.iter().enumerate() {
        let field = format!("steps[{i}]");
        let name = &step.name.value;
        if !valid_name(name) {
            c.push(
                location(&step.name),
                format!("{field}.name"),
                format!("`{name}` is not a valid step name"),
                Some("use 1-100 letters, digits, `.`, `_` or `-`".into()),
            );
        } else if !names.insert(name.clone()) {
            c.push(
                location(&step.name),
                format!("{field}.name"),
                format!("step name `{name}` is used twice"),
                Some("step names must be unique within a job".into()),
            );
        }
        let kinds = [
            step.chunk.is_some(),
            step.tasklet.is_some(),
            step.decider.is_some(),
            step.split.is_some(),
            step.partition.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            c.push(
                location(&step.name),
                field.clone(),
                format!("step `{name}` must have exactly one of `chunk`, `tasklet`, `decider`, `split` or `partition`"),
                Some("see docs/job-yaml.md for each kind of step".into()),
            );
            continue;
        }
        if let (Some(chunk), Some(l)) = (&step.chunk, &step.limits) {
            let _ = chunk;
            c.push(
                location(l),
                format!("{field}.limits"),
                "a chunk step sets its limits under `chunk.limits`".into(),
                Some("move `limits` into the `chunk` section".into()),
            );
        }
        let mut limits = plan_limits(
            step.limits.as_ref(),
            &format!("{field}.limits"),
            &options.policy,
            &mut c,
        );
        let mut exit_status_on_skips = step.exit_status_on_skips.as_ref().map(|e| e.value.clone());
        let kind = if let Some(chunk) = &step.chunk {
            limits = plan_limits(
                chunk.value.limits.as_ref(),
                &format!("{field}.chunk.limits"),
                &options.policy,
                &mut c,
            );
            let (plan, on_skips) = plan_chunk(&chunk.value, &field, &mut resolver, &mut c).await?;
            if exit_status_on_skips.is_none() {
                exit_status_on_skips = on_skips;
            }
            plan.map(StepKind::Chunk)
        } else if let Some(t) = &step.tasklet {
            resolver
                .resolve(t, Role::Tasklet, format!("{field}.tasklet"), &mut c)
                .await?
                .map(StepKind::Tasklet)
        } else if let Some(d) = &step.decider {
            resolver
                .resolve(d, Role::Decider, format!("{field}.decider"), &mut c)
                .await?
                .map(StepKind::Decider)
        } else if let Some(p) = &step.partition {
            partition::plan_partition(
                p,
                &format!("{field}.partition"),
                options.shared_repository,
                &mut resolver,
                &mut c,
            )
            .await?
            .map(StepKind::Partition)
        } else {
            // Branches are resolved to step indexes by the flow check below.
            Some(StepKind::Split(Vec::new()))
        };
        if let Some(e) = &step.exit_status_on_skips
            && step.chunk.is_none()
        {
            c.push(
                location(e),
                format!("{field}.exit-status-on-skips"),
                "only chunk steps skip items".into(),
                Some("a tasklet sets its exit status itself".into()),
            );
        }
        let directory = step.directory.as_ref().and_then(|d| {
            plan_directory(d, workdir.as_deref(), &format!("{field}.directory"), &mut c)
        });
        if kinds[3] {
            // A split grants nothing itself; its member steps are checked as steps.
        } else if let Some(granted) = directory.as_deref().or(workdir.as_deref()) {
            let at = step
                .directory
                .as_ref()
                .map_or(location(&step.name), location);
            let field = match step.directory {
                Some(_) => format!("{field}.directory"),
                None => format!("{field} (work directory)"),
            };
            check_protected(granted, &options.protected, at, field, &mut c);
        }
        if let Some(kind) = kind {
            steps.push(StepPlan {
                name: name.clone(),
                kind,
                next: None,
                limits,
                directory,
                read_only: step.read_only,
                exit_status_on_skips,
                allow_start_if_complete: step.allow_start_if_complete,
                start_limit: step.start_limit.as_ref().map(|l| l.value),
                promote: step.promote.clone(),
            });
        }
    }
    if steps.iter().any(|s| s.limits.fuel_per_item.is_some()) && !runtime.meters_fuel() {
        c.push(
            (0, 0),
            "limits.fuel-per-item".into(),
            "the job sets a fuel budget, but this runtime was started without fuel metering".into(),
            Some("create the runtime with `PluginRuntime::with_fuel(true)` (the CLI does this by itself)".into()),
        );
    }
    let layout = flow::check(&spec, &mut c);
    check_placeholders(&spec, &params, &mut c);
    let reservation = Reservation {
        memory: (spec.max_instances() as usize)
            .saturating_mul(steps.iter().map(|s| s.limits.memory).max().unwrap_or(0)),
        cpus: spec.parallelism(),
    };
    let quota = Quota {
        memory: options.policy.max_memory,
        cpus: options.policy.max_cpus,
    };
    check_quota(reservation, quota, &options.policy.tenant, &mut c);

    if !c.problems.is_empty() {
        c.problems.sort_by_key(|p| (p.line == 0, p.line, p.column));
        return Err(PlanFailure::Invalid(PlanErrors {
            problems: c.problems,
        }));
    }
    let layout = layout.unwrap_or_default();
    for (i, step) in steps.iter_mut().enumerate() {
        step.next = layout.next[i].clone();
        match &mut step.kind {
            StepKind::Split(branches) => {
                *branches = layout.branches.get(&i).cloned().unwrap_or_default();
            }
            StepKind::Partition(p) => {
                p.worker = layout.branches[&i][0][0];
            }
            _ => {}
        }
    }
    Ok(JobPlan {
        name: spec.name.value,
        file: file.to_path_buf(),
        source: spec.source,
        workdir: workdir.unwrap_or(base),
        params,
        steps,
        flow: layout.main,
        restartable: spec.restartable,
        allow_code_change: options.allow_code_change,
        tenant: options.policy.tenant.clone(),
        max_concurrent_executions: options.policy.max_concurrent_executions,
        reservation,
        quota,
        durability,
    })
}

/// A job that alone holds more than its tenant's `max-memory` or `max-cpus` could never start.
fn check_quota(r: Reservation, q: Quota, tenant: &str, c: &mut Collector<'_>) {
    if let Some(max) = q.memory.filter(|max| r.memory > *max) {
        c.push(
            (0, 0),
            "limits.memory".into(),
            format!(
                "the job may reserve {} of linear memory (its plugin instances at once × its largest memory limit), more than tenant `{tenant}`'s max-memory of {}",
                crate::spec::show_size(r.memory),
                crate::spec::show_size(max)
            ),
            Some("lower the steps' `limits.memory`, or their processor or partition concurrency".into()),
        );
    }
    if let Some(max) = q.cpus.filter(|max| r.cpus > *max) {
        c.push(
            (0, 0),
            "concurrency".into(),
            format!(
                "the job may run {} guest calls at once, more than tenant `{tenant}`'s max-cpus of {max}",
                r.cpus
            ),
            Some("lower the processor, split or partition concurrency".into()),
        );
    }
}

/// Plans a `chunk:` section; also returns its `fault-tolerance.exit-status-on-skips`.
async fn plan_chunk<R: PluginStore>(
    chunk: &crate::spec::ChunkSpec,
    field: &str,
    resolver: &mut Resolver<'_, R>,
    c: &mut Collector<'_>,
) -> Result<(Option<ChunkPlan>, Option<String>), RepositoryError> {
    let size = chunk.size.value;
    if !(1..=MAX_CHUNK_SIZE).contains(&size) {
        c.push(
            location(&chunk.size),
            format!("{field}.chunk.size"),
            format!("chunk size {size} is out of range"),
            Some(format!(
                "use a whole number from 1 to {MAX_CHUNK_SIZE}; 100-5000 suits most jobs"
            )),
        );
    }
    let reader = match &chunk.reader.value.builtin {
        Some(builtin) => {
            plan_builtin_reader(&chunk.reader, builtin, &format!("{field}.chunk.reader"), c)
        }
        None => resolver
            .resolve(
                &chunk.reader,
                Role::Reader,
                format!("{field}.chunk.reader"),
                c,
            )
            .await?
            .map(ReaderPlan::Component),
    };
    let processor = match &chunk.processor {
        Some(p) => {
            resolver
                .resolve(p, Role::Processor, format!("{field}.chunk.processor"), c)
                .await?
        }
        None => None,
    };
    let writer = match &chunk.writer.value.builtin {
        Some(builtin) => {
            plan_builtin_writer(&chunk.writer, builtin, &format!("{field}.chunk.writer"), c)
        }
        None => resolver
            .resolve(
                &chunk.writer,
                Role::Writer,
                format!("{field}.chunk.writer"),
                c,
            )
            .await?
            .map(WriterPlan::Component),
    };
    let (fault_tolerance, exit_status_on_skips) = match &chunk.fault_tolerance {
        Some(ft) => (
            plan_fault_tolerance(ft, &format!("{field}.chunk.fault-tolerance"), c),
            ft.value.exit_status_on_skips.clone(),
        ),
        None => (None, None),
    };
    let processor_concurrency = plan_concurrency(chunk, field, fault_tolerance.as_ref(), c);
    let plan = match (reader, writer) {
        (Some(reader), Some(writer)) => Some(ChunkPlan {
            chunk_size: u32::try_from(size.clamp(1, MAX_CHUNK_SIZE)).unwrap_or(1),
            reader,
            processor,
            processor_concurrency,
            writer,
            fault_tolerance,
        }),
        _ => None,
    };
    Ok((plan, exit_status_on_skips))
}

/// `processor.concurrency`: how many processor instances share each chunk (1 when absent).
/// Readers and writers keep their order and state, so only a processor runs concurrently, and
/// only where one chunk's items are processed together (no fault tolerance, or `in-place`).
fn plan_concurrency(
    chunk: &crate::spec::ChunkSpec,
    field: &str,
    ft: Option<&crate::policy::FaultTolerance>,
    c: &mut Collector<'_>,
) -> u32 {
    for (r, role) in [(&chunk.reader, "reader"), (&chunk.writer, "writer")] {
        if let Some(n) = &r.value.concurrency {
            c.push(
                location(n),
                format!("{field}.chunk.{role}.concurrency"),
                format!("a {role} cannot run concurrently: it keeps the order and the state of the step's items"),
                Some("set `concurrency` on the processor, or partition the step".into()),
            );
        }
    }
    let Some(n) = chunk
        .processor
        .as_ref()
        .and_then(|p| p.value.concurrency.as_ref())
    else {
        return 1;
    };
    let max = crate::spec::MAX_PROCESSOR_CONCURRENCY;
    let at = location(n);
    let name = format!("{field}.chunk.processor.concurrency");
    if !(1..=max).contains(&n.value) {
        c.push(
            at,
            name,
            format!("concurrency {} is out of range", n.value),
            Some(format!(
                "use a whole number from 1 to {max}; the number of cores suits a processor that computes"
            )),
        );
        return 1;
    }
    if n.value > 1 && ft.is_some_and(|ft| ft.model == crate::policy::Model::Replay) {
        c.push(
            at,
            name,
            "the `replay` model processes items one by one, so they cannot be processed concurrently".into(),
            Some("use `model: in-place` (the default), or drop `concurrency`".into()),
        );
        return 1;
    }
    u32::try_from(n.value).unwrap_or(1)
}

/// A `fault-tolerance` section given as YAML, planned as a job's would be (for the engine's
/// native conformance run); `None` when it has problems.
#[cfg(test)]
pub(crate) fn fault_tolerance_from_yaml(text: &str) -> Option<crate::policy::FaultTolerance> {
    let spec: crate::spec::Spanned<crate::spec::FaultToleranceSpec> =
        serde_saphyr::from_str(text).ok()?;
    let mut c = Collector {
        file: Path::new("fault-tolerance"),
        problems: Vec::new(),
    };
    let ft = plan_fault_tolerance(&spec, "fault-tolerance", &mut c);
    c.problems.is_empty().then_some(ft).flatten()
}
