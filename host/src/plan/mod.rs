//! `plan`: turns a parsed [`JobSpec`] into a runnable [`JobPlan`], validating everything first.
//!
//! Every problem (bad names, duplicate steps, chunk sizes, parameters, missing or wrong-role
//! plugins, unreadable components, a missing work directory) is collected and reported at once,
//! each with `file:line:column`, the field and a hint, **before** anything is written to the
//! repository. Components are compiled (or loaded from their precompiled artifact) and
//! pre-linked here, so nothing after planning fails because of configuration.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::HostPolicy;
use crate::domain::{JobParameter, JobParameters, Transition};
use crate::plugin::{Limits, PluginRuntime, Prepared, Role, digest};
use crate::policy::{
    Backoff, FaultTolerance, KindRules, RetryPolicy, RollbackPolicy, SkipLimit, SkipPolicy,
};
use crate::repository::{JobRepository, RepositoryError};
use crate::spec::{Diagnostic, FaultToleranceSpec, JobSpec, PluginRef, Spanned, location};
use std::time::Duration;

mod flow;

/// Largest accepted chunk size.
pub const MAX_CHUNK_SIZE: i64 = 1_000_000;

/// A validated, ready-to-run job.
#[derive(Debug)]
pub struct JobPlan {
    /// The job name.
    pub name: String,
    /// The job file.
    pub file: PathBuf,
    /// The directory plugins may see.
    pub workdir: PathBuf,
    /// All parameters (job.yaml `params` overridden by `--param`).
    pub params: JobParameters,
    /// Every step, in file order (split branches included).
    pub steps: Vec<StepPlan>,
    /// The job's main flow: indexes into `steps`, starting with the first step.
    pub flow: Vec<usize>,
    /// Whether a failed instance may be restarted.
    pub restartable: bool,
    /// Restart even if the plugins changed since the failed execution.
    pub allow_code_change: bool,
    /// The tenant the job runs for.
    pub tenant: String,
    /// The tenant's quota of concurrently running executions.
    pub max_concurrent_executions: Option<u32>,
}

impl JobPlan {
    /// Where a transition leads, in words: `error-report`, `end COMPLETED (FOO)`,
    /// `stop, restart at publish`.
    pub fn describe(&self, action: &crate::domain::FlowAction) -> String {
        use crate::domain::FlowAction;
        match action {
            FlowAction::To(i) => self.steps[*i].name.clone(),
            FlowAction::End { status, exit_code } if exit_code == status.as_str() => {
                format!("end {status}")
            }
            FlowAction::End { status, exit_code } => format!("end {status} ({exit_code})"),
            FlowAction::Stop {
                restart_at: Some(i),
                ..
            } => format!("stop, restart at {}", self.steps[*i].name),
            FlowAction::Stop { .. } => "stop".into(),
        }
    }
}

/// A validated step.
#[derive(Debug)]
pub struct StepPlan {
    /// The step name.
    pub name: String,
    /// What the step does.
    pub kind: StepKind,
    /// Conditional transitions; `None`: go on to the next step of the flow when COMPLETED.
    pub next: Option<Vec<Transition>>,
    /// Sandbox limits of the step's plugin instances.
    pub limits: Limits,
    /// The directory the step's plugins see (absolute; inside the work directory).
    pub directory: Option<PathBuf>,
    /// The directory is granted read-only.
    pub read_only: bool,
    /// Exit code for a chunk step that completed with skips.
    pub exit_status_on_skips: Option<String>,
    /// Run again on restart even if it completed.
    pub allow_start_if_complete: bool,
    /// Executions allowed per JobInstance.
    pub start_limit: Option<i64>,
    /// Step-context keys copied to the job context on completion.
    pub promote: Vec<String>,
}

/// What a step does.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per step, built once at plan time"
)]
pub enum StepKind {
    /// Read, process, write in chunk transactions.
    Chunk(ChunkPlan),
    /// Call a tasklet until it is FINISHED.
    Tasklet(PluginPlan),
    /// Ask a decider where to go; no step execution is recorded.
    Decider(PluginPlan),
    /// Run flows concurrently: each a list of step indexes, in order.
    Split(Vec<Vec<usize>>),
}

impl StepKind {
    /// `chunk`, `tasklet`, `decider` or `split`.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Chunk(_) => "chunk",
            StepKind::Tasklet(_) => "tasklet",
            StepKind::Decider(_) => "decider",
            StepKind::Split(_) => "split",
        }
    }
}

/// A validated chunk-oriented step.
#[derive(Debug)]
pub struct ChunkPlan {
    /// Items per chunk.
    pub chunk_size: u32,
    /// The reader.
    pub reader: ReaderPlan,
    /// The optional processor.
    pub processor: Option<PluginPlan>,
    /// The writer.
    pub writer: WriterPlan,
    /// Skip/retry/no-rollback rules; `None` is Spring's non-fault-tolerant step.
    pub fault_tolerance: Option<FaultTolerance>,
}

/// A step's reader: a component, or a reader built into the host.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per step, built once at plan time"
)]
pub enum ReaderPlan {
    /// A reader component.
    Component(PluginPlan),
    /// `builtin: skipped-items`: the payloads of the items a job execution skipped.
    SkippedItems(SkippedItemsConfig),
}

impl ReaderPlan {
    /// How job.yaml referred to it.
    pub fn label(&self) -> &str {
        match self {
            ReaderPlan::Component(p) => &p.label,
            ReaderPlan::SkippedItems(_) => "builtin skipped-items",
        }
    }
}

/// A step's writer: a component, or a writer built into the host.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per step, built once at plan time"
)]
pub enum WriterPlan {
    /// A writer component.
    Component(PluginPlan),
    /// `builtin: sql-table`: rows in the repository database, committed with the chunk.
    SqlTable {
        /// The logical table name.
        table: String,
    },
}

impl WriterPlan {
    /// How job.yaml referred to it.
    pub fn label(&self) -> &str {
        match self {
            WriterPlan::Component(p) => &p.label,
            WriterPlan::SqlTable { .. } => "builtin sql-table",
        }
    }
}

/// Config of the built-in `skipped-items` reader.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedItemsConfig {
    /// The job execution whose skipped items to read.
    pub execution: i64,
    /// Only items skipped in this step.
    #[serde(default)]
    pub step: Option<String>,
    /// Only items skipped in this phase: `process` or `write` (read skips carry no item).
    #[serde(default)]
    pub phase: Option<String>,
}

/// A resolved, compiled and pre-linked plugin.
#[derive(Debug, Clone)]
pub struct PluginPlan {
    /// How job.yaml referred to it (`csv-reader@1.0.0`, `path plugins/x.wasm`).
    pub label: String,
    /// sha256 of the component.
    pub digest: String,
    /// The prepared component.
    pub prepared: Prepared,
    /// The plugin's `config` (`{}` when absent).
    pub config: Value,
}

/// Everything wrong with a job, reported together.
#[derive(Debug)]
pub struct PlanErrors {
    /// The problems, in file order.
    pub problems: Vec<Diagnostic>,
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{n} problem{} in the job:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

/// Why planning could not even be attempted (not the job's fault).
#[derive(Debug, thiserror::Error)]
pub enum PlanFailure {
    /// The job has problems; fix the file.
    #[error("{0}")]
    Invalid(PlanErrors),
    /// The repository could not be read.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Inputs besides the spec.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--param name=value[,type[,identifying]]` values, in order.
    pub params: Vec<(String, String)>,
    /// `--workdir`; default: the folder of job.yaml.
    pub workdir: Option<PathBuf>,
    /// `--allow-code-change`.
    pub allow_code_change: bool,
    /// The host's defaults, ceilings and quotas for the tenant.
    pub policy: HostPolicy,
    /// Files no plugin may ever reach, with what they are ("the repository `…`"): a job that
    /// grants a directory holding one of them is refused.
    pub protected: Vec<Protected>,
}

/// A file of the host's that must lie outside every directory granted to plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// What it is, for messages: "the repository `sqlite:…`".
    pub what: String,
    /// The file (it need not exist yet).
    pub path: PathBuf,
    /// Its whole folder is protected (a SQLite repository: its `-wal`/`-shm` files and every
    /// tenant's file lie next to it).
    pub folder: bool,
    /// How to fix a job that trips it.
    pub hint: String,
}

struct Collector<'a> {
    file: &'a Path,
    problems: Vec<Diagnostic>,
}

impl Collector<'_> {
    fn push(&mut self, at: (u64, u64), field: String, message: String, hint: Option<String>) {
        self.problems.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: at.0,
            column: at.1,
            field,
            message,
            hint,
        });
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Validates `spec` and compiles its plugins. `file` is job.yaml's path.
pub async fn compile<R: JobRepository>(
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
pub async fn compile_with_catalogue<R: JobRepository>(
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
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            c.push(
                location(&step.name),
                field.clone(),
                format!("step `{name}` must have exactly one of `chunk`, `tasklet`, `decider` or `split`"),
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

    if !c.problems.is_empty() {
        c.problems.sort_by_key(|p| (p.line == 0, p.line, p.column));
        return Err(PlanFailure::Invalid(PlanErrors {
            problems: c.problems,
        }));
    }
    let layout = layout.unwrap_or_default();
    for (i, step) in steps.iter_mut().enumerate() {
        step.next = layout.next[i].clone();
        if let StepKind::Split(branches) = &mut step.kind {
            *branches = layout.branches.get(&i).cloned().unwrap_or_default();
        }
    }
    Ok(JobPlan {
        name: spec.name.value,
        file: file.to_path_buf(),
        workdir: workdir.unwrap_or(base),
        params,
        steps,
        flow: layout.main,
        restartable: spec.restartable,
        allow_code_change: options.allow_code_change,
        tenant: options.policy.tenant.clone(),
        max_concurrent_executions: options.policy.max_concurrent_executions,
    })
}

/// Refuses a grant that holds one of the host's protected files.
fn check_protected(
    granted: &Path,
    protected: &[Protected],
    at: (u64, u64),
    field: String,
    c: &mut Collector<'_>,
) {
    for p in protected {
        let target = match p.folder {
            true => p.path.parent().unwrap_or(&p.path),
            false => &p.path,
        };
        if lexically_resolved(target).starts_with(granted) {
            c.push(
                at,
                field.clone(),
                format!(
                    "{} lies inside `{}`, the directory this step grants its plugins: a plugin could read or change it",
                    p.what,
                    granted.display()
                ),
                Some(p.hint.clone()),
            );
        }
    }
}

/// `path` made absolute with symlinks resolved as far as it exists (a file that is not there
/// yet — a repository about to be created — is judged by its folder).
fn lexically_resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Resolves a step's `directory` inside the work directory.
fn plan_directory(
    dir: &Spanned<String>,
    workdir: Option<&Path>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<PathBuf> {
    let workdir = workdir?;
    let full = workdir.join(&dir.value);
    match std::fs::canonicalize(&full) {
        Ok(p) if p.is_dir() && p.starts_with(workdir) => Some(p),
        Ok(p) if p.is_dir() => {
            c.push(
                location(dir),
                field.to_owned(),
                format!("`{}` is outside the work directory", dir.value),
                Some(format!(
                    "a step may only be granted a folder inside `{}`",
                    workdir.display()
                )),
            );
            None
        }
        _ => {
            c.push(
                location(dir),
                field.to_owned(),
                format!("directory `{}` does not exist", full.display()),
                Some("create it first; it is relative to the job's work directory".into()),
            );
            None
        }
    }
}

/// Plans a `chunk:` section; also returns its `fault-tolerance.exit-status-on-skips`.
async fn plan_chunk<R: JobRepository>(
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
    let plan = match (reader, writer) {
        (Some(reader), Some(writer)) => Some(ChunkPlan {
            chunk_size: u32::try_from(size.clamp(1, MAX_CHUNK_SIZE)).unwrap_or(1),
            reader,
            processor,
            writer,
            fault_tolerance,
        }),
        _ => None,
    };
    Ok((plan, exit_status_on_skips))
}

/// Checks every `${…}` in the plugin configs: syntax, parameters that exist (or have a
/// default), and job-context keys some step promotes (or with a default).
fn check_placeholders(spec: &JobSpec, params: &JobParameters, c: &mut Collector<'_>) {
    use crate::domain::{PlaceholderSource, placeholders};
    let promoted: HashSet<&str> = spec
        .steps
        .value
        .iter()
        .flat_map(|s| s.promote.iter().map(String::as_str))
        .collect();
    for (i, step) in spec.steps.value.iter().enumerate() {
        let mut refs: Vec<(&Spanned<PluginRef>, String)> = Vec::new();
        if let Some(chunk) = &step.chunk {
            let ch = &chunk.value;
            refs.push((&ch.reader, format!("steps[{i}].chunk.reader.config")));
            if let Some(p) = &ch.processor {
                refs.push((p, format!("steps[{i}].chunk.processor.config")));
            }
            refs.push((&ch.writer, format!("steps[{i}].chunk.writer.config")));
        }
        if let Some(t) = &step.tasklet {
            refs.push((t, format!("steps[{i}].tasklet.config")));
        }
        if let Some(d) = &step.decider {
            refs.push((d, format!("steps[{i}].decider.config")));
        }
        for (r, field) in refs {
            let Some(config) = &r.value.config else {
                continue;
            };
            let found = match placeholders(config) {
                Ok(found) => found,
                Err(e) => {
                    c.push(
                        location(r),
                        field,
                        e,
                        Some("write `$${` for a literal `${`".into()),
                    );
                    continue;
                }
            };
            for p in found.into_iter().filter(|p| p.default.is_none()) {
                match &p.source {
                    PlaceholderSource::Param(name) if params.get(name).is_none() => c.push(
                        location(r),
                        field.clone(),
                        format!("`${{params.{name}}}` refers to a parameter the job does not have"),
                        Some(format!(
                            "pass `--param {name}=VALUE`, add it under `params`, or give a default: `${{params.{name}:-VALUE}}`"
                        )),
                    ),
                    PlaceholderSource::JobContext(key) if !promoted.contains(key.as_str()) => {
                        c.push(
                            location(r),
                            field.clone(),
                            format!("`${{job.context.{key}}}` refers to a key no step promotes"),
                            Some(format!(
                                "list `{key}` under `promote` of the step that sets it, or give a default: `${{job.context.{key}:-VALUE}}`"
                            )),
                        )
                    }
                    _ => {}
                }
            }
        }
    }
}

fn plan_builtin_reader(
    r: &Spanned<PluginRef>,
    builtin: &Spanned<String>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<ReaderPlan> {
    if r.value.plugin.is_some() || r.value.path.is_some() {
        c.push(
            location(r),
            field.to_owned(),
            "give exactly one of `plugin`, `path` or `builtin`".into(),
            None,
        );
        return None;
    }
    if builtin.value != "skipped-items" {
        c.push(
            location(builtin),
            format!("{field}.builtin"),
            format!("unknown built-in reader `{}`", builtin.value),
            Some("the built-in readers are: skipped-items".into()),
        );
        return None;
    }
    let config = r
        .value
        .config
        .clone()
        .unwrap_or(Value::Object(Default::default()));
    match serde_json::from_value::<SkippedItemsConfig>(config) {
        Ok(cfg)
            if cfg
                .phase
                .as_deref()
                .is_some_and(|p| !matches!(p, "process" | "write")) =>
        {
            c.push(
                location(r),
                format!("{field}.config.phase"),
                "phase must be `process` or `write`".into(),
                Some("read skips carry no item to reprocess".into()),
            );
            None
        }
        Ok(cfg) => Some(ReaderPlan::SkippedItems(cfg)),
        Err(e) => {
            c.push(
                location(r),
                format!("{field}.config"),
                format!("invalid skipped-items config: {e}"),
                Some("write `config: { execution: 12, step: migrate, phase: process }` (step and phase optional)".into()),
            );
            None
        }
    }
}

/// Parses `64MiB`, `512KiB`, `1GiB`, `1MB`, or plain bytes.
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().ok()?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// `1000`, `50K`, `50M`, `2G`: a count (fuel).
pub fn parse_count(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" => 1,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A byte size as people write it.
fn show_size(n: usize) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

fn plan_limits(
    spec: Option<&Spanned<crate::spec::LimitsSpec>>,
    field: &str,
    policy: &HostPolicy,
    c: &mut Collector<'_>,
) -> Limits {
    let mut limits = policy.defaults;
    let Some(spec) = spec else { return limits };
    let ceiling = &policy.ceilings;
    let whose = if policy.tenant == crate::config::DEFAULT_TENANT {
        "this host".to_owned()
    } else {
        format!("tenant `{}`", policy.tenant)
    };
    // (field, message, hint), in field order.
    let mut problems: Vec<(&str, String, String)> = Vec::new();
    let over = |text: &str, max: String| {
        (
            format!("`{text}` exceeds the ceiling of {max} for {whose}"),
            "the host configuration sets the ceilings (docs/security.md); lower the limit or ask the operator".to_owned(),
        )
    };
    let bad = |text: &str, what: &str, example: &str| {
        (
            format!("`{text}` is not a {what}"),
            format!("write e.g. {example}"),
        )
    };
    let v = &spec.value;
    for (name, value, slot, max) in [
        (
            "cpu-per-call",
            &v.cpu_per_call,
            &mut limits.cpu_per_call,
            ceiling.cpu_per_call,
        ),
        (
            "wall-per-call",
            &v.wall_per_call,
            &mut limits.wall_per_call,
            ceiling.wall_per_call,
        ),
    ] {
        if let Some(text) = value {
            let problem = match parse_duration(text) {
                Some(d) if d > max => Some(over(text, format!("{max:?}"))),
                Some(d) if d >= Duration::from_millis(10) => {
                    *slot = d;
                    None
                }
                _ => Some(bad(
                    text,
                    "duration",
                    "`250ms`, `2s` or `1m` (at least 10ms)",
                )),
            };
            problems.extend(problem.map(|(m, h)| (name, m, h)));
        }
    }
    if v.wall_per_call.is_none() && limits.wall_per_call < limits.cpu_per_call {
        // A job that raises its CPU budget gets the wall-clock room to use it.
        limits.wall_per_call = limits.cpu_per_call.min(ceiling.wall_per_call);
    }
    for (name, value, slot, max) in [
        ("memory", &v.memory, &mut limits.memory, ceiling.memory),
        (
            "max-item-size",
            &v.max_item_size,
            &mut limits.max_item_size,
            ceiling.max_item_size,
        ),
        (
            "max-context-size",
            &v.max_context_size,
            &mut limits.max_context_size,
            ceiling.max_context_size,
        ),
    ] {
        if let Some(text) = value {
            let problem = match parse_size(text) {
                Some(n) if n > max => Some(over(text, show_size(max))),
                Some(n) if n > 0 => {
                    *slot = n;
                    None
                }
                _ => Some(bad(text, "size", "`64MiB` or `1GiB`")),
            };
            problems.extend(problem.map(|(m, h)| (name, m, h)));
        }
    }
    if let Some(text) = &v.fuel_per_item {
        let problem = match parse_count(text) {
            Some(n) if ceiling.fuel_per_item.is_some_and(|max| n > max) => Some(over(
                text,
                ceiling.fuel_per_item.unwrap_or_default().to_string(),
            )),
            Some(n) if n > 0 => {
                limits.fuel_per_item = Some(n);
                None
            }
            _ => Some(bad(text, "count", "`50M` or `2G`")),
        };
        problems.extend(problem.map(|(m, h)| ("fuel-per-item", m, h)));
    }
    for (name, message, hint) in problems {
        c.push(
            location(spec),
            format!("{field}.{name}"),
            message,
            Some(hint),
        );
    }
    limits
}

fn plan_builtin_writer(
    w: &Spanned<PluginRef>,
    builtin: &Spanned<String>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<WriterPlan> {
    if w.value.plugin.is_some() || w.value.path.is_some() {
        c.push(
            location(w),
            field.to_owned(),
            "give exactly one of `plugin`, `path` or `builtin`".into(),
            None,
        );
        return None;
    }
    if builtin.value != "sql-table" {
        c.push(
            location(builtin),
            format!("{field}.builtin"),
            format!("unknown built-in writer `{}`", builtin.value),
            Some("the built-in writers are: sql-table".into()),
        );
        return None;
    }
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
            c.push(
                location(w),
                format!("{field}.config.table"),
                "the sql-table writer needs `config: { table: NAME }`".into(),
                Some("use 1-100 letters, digits, `.`, `_` or `-`".into()),
            );
            None
        }
    }
}

/// Parses `250ms`, `2s`, `1m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn valid_kind(k: &str) -> bool {
    !k.is_empty()
        && k.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn plan_fault_tolerance(
    ft: &Spanned<FaultToleranceSpec>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<FaultTolerance> {
    let at = location(ft);
    let spec = &ft.value;
    let before = c.problems.len();
    let check_kinds = |what: &str, kinds: &[String], c: &mut Collector<'_>| {
        for k in kinds {
            if !valid_kind(k) {
                c.push(
                    at,
                    format!("{field}.{what}"),
                    format!("`{k}` is not an error kind"),
                    Some(
                        "kinds are dotted names such as `validation.email` or `io.timeout`".into(),
                    ),
                );
            }
        }
    };
    let skip = match &spec.skip {
        None => SkipPolicy::none(),
        Some(s) => {
            check_kinds("skip.kinds", &s.kinds, c);
            check_kinds("skip.exclude", &s.exclude, c);
            let limit = s
                .limit
                .as_ref()
                .map(|l| (l.value, location(l)))
                .unwrap_or((10, at));
            if limit.0 < 0 {
                c.push(
                    limit.1,
                    format!("{field}.skip.limit"),
                    "the skip limit cannot be negative".into(),
                    None,
                );
            }
            let kind = match s.policy.as_ref().map(|p| p.value.as_str()) {
                None | Some("limit") => SkipLimit::Limit(limit.0.max(0)),
                Some("always") => SkipLimit::Always,
                Some("never") => SkipLimit::Never,
                Some(other) => {
                    let loc = s.policy.as_ref().map(location).unwrap_or(at);
                    c.push(
                        loc,
                        format!("{field}.skip.policy"),
                        format!("unknown skip policy `{other}`"),
                        Some("use `limit` (default), `always` or `never`".into()),
                    );
                    SkipLimit::Never
                }
            };
            SkipPolicy::new(KindRules::new(s.kinds.clone(), s.exclude.clone()), kind)
        }
    };
    let (retry, backoff) = match &spec.retry {
        None => (RetryPolicy::none(), Backoff::None),
        Some(r) => {
            check_kinds("retry.kinds", &r.kinds, c);
            check_kinds("retry.exclude", &r.exclude, c);
            let limit = r.limit.as_ref().map(|l| l.value).unwrap_or(1);
            if let Some(l) = &r.limit
                && !(0..=1_000).contains(&l.value)
            {
                c.push(
                    location(l),
                    format!("{field}.retry.limit"),
                    format!("retry limit {} is out of range", l.value),
                    Some("use 0 to 1000 attempts in total".into()),
                );
            }
            if limit > 1 && r.kinds.is_empty() {
                // Spring's builder refuses a retry limit without retryable exceptions.
                c.push(
                    r.limit.as_ref().map(location).unwrap_or(at),
                    format!("{field}.retry"),
                    "a retry limit needs retryable kinds".into(),
                    Some("add `kinds: [io.timeout, …]` to `retry`".into()),
                );
            }
            let backoff = match &r.backoff {
                None => Backoff::None,
                Some(b) => {
                    let loc = location(b);
                    let dur = |name: &str,
                               v: &Option<String>,
                               default: Duration,
                               c: &mut Collector<'_>| match v {
                        None => default,
                        Some(text) => parse_duration(text).unwrap_or_else(|| {
                            c.push(
                                loc,
                                format!("{field}.retry.backoff.{name}"),
                                format!("`{text}` is not a duration"),
                                Some("write e.g. `250ms`, `2s` or `1m`".into()),
                            );
                            default
                        }),
                    };
                    match (&b.value.fixed, &b.value.initial) {
                        (Some(_), Some(_)) => {
                            c.push(
                                loc,
                                format!("{field}.retry.backoff"),
                                "give either `fixed` or `initial` (exponential), not both".into(),
                                None,
                            );
                            Backoff::None
                        }
                        (Some(_), None) => {
                            Backoff::Fixed(dur("fixed", &b.value.fixed, Duration::ZERO, c))
                        }
                        (None, _) => {
                            let multiplier = b.value.multiplier.unwrap_or(2.0);
                            if !(1.0..=100.0).contains(&multiplier) {
                                c.push(
                                    loc,
                                    format!("{field}.retry.backoff.multiplier"),
                                    format!("multiplier {multiplier} is out of range"),
                                    Some("use a number from 1.0 to 100".into()),
                                );
                            }
                            Backoff::Exponential {
                                initial: dur(
                                    "initial",
                                    &b.value.initial,
                                    Duration::from_millis(100),
                                    c,
                                ),
                                multiplier,
                                max: dur("max", &b.value.max, Duration::from_secs(30), c),
                            }
                        }
                    }
                }
            };
            (
                RetryPolicy::new(
                    KindRules::new(r.kinds.clone(), r.exclude.clone()),
                    limit.clamp(0, 1_000) as u32,
                ),
                backoff,
            )
        }
    };
    let rollback = match &spec.no_rollback {
        None => RollbackPolicy::default(),
        Some(n) => {
            check_kinds("no-rollback.kinds", &n.kinds, c);
            RollbackPolicy::new(KindRules::new(n.kinds.clone(), Vec::new()))
        }
    };
    (c.problems.len() == before).then_some(FaultTolerance {
        skip,
        retry,
        rollback,
        backoff,
        processor_non_transactional: spec.processor_non_transactional,
    })
}

fn plan_params(spec: &JobSpec, options: &PlanOptions, c: &mut Collector<'_>) -> JobParameters {
    let mut params = JobParameters::new();
    for (name, value) in &spec.params {
        let text = match &value.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                c.push(
                    location(value),
                    format!("params.{name}"),
                    "a parameter value must be a single value, not a list or map".into(),
                    Some("write `value[,type[,identifying]]`, e.g. `2026-11-21,date`".into()),
                );
                continue;
            }
        };
        match JobParameter::parse_notation(name, &text) {
            Ok(p) => params.insert(name.clone(), p),
            Err(e) => c.push(location(value), format!("params.{name}"), e.reason, None),
        }
    }
    for (name, text) in &options.params {
        match JobParameter::parse_notation(name, text) {
            Ok(p) => params.insert(name.clone(), p),
            Err(e) => c.push(
                (0, 0),
                format!("--param {name}"),
                e.reason,
                Some("the notation is `--param name=value[,type[,identifying]]`".into()),
            ),
        }
    }
    params
}

/// `NAME`, `NAME@VERSION` or `NAME@sha256:HEX` in one registry.
async fn find_registered<R: JobRepository>(
    repo: &R,
    name: &str,
    version: Option<&str>,
) -> Result<Option<crate::repository::PluginRecord>, RepositoryError> {
    Ok(match version.and_then(|v| v.strip_prefix("sha256:")) {
        // `NAME@sha256:HEX` pins the component itself (a prefix of 12+ digits will do).
        Some(hex) if hex.len() >= 12 => repo
            .list_plugins()
            .await?
            .into_iter()
            .rev()
            .find(|p| p.name == name && p.digest.starts_with(hex)),
        Some(_) => None,
        None => repo.find_plugin(name, version).await?,
    })
}

struct Resolver<'a, R> {
    repo: &'a R,
    /// The shared plugin catalogue, searched after the tenant's own registry.
    catalogue: Option<&'a R>,
    runtime: &'a PluginRuntime,
    base: &'a Path,
    /// Components already prepared in this plan, by digest.
    cache: HashMap<String, Prepared>,
}

impl<R: JobRepository> Resolver<'_, R> {
    async fn resolve(
        &mut self,
        r: &Spanned<PluginRef>,
        role: Role,
        field: String,
        c: &mut Collector<'_>,
    ) -> Result<Option<PluginPlan>, RepositoryError> {
        let at = location(r);
        let spec = &r.value;
        let config = spec
            .config
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        if !config.is_object() {
            c.push(
                at,
                format!("{field}.config"),
                "`config` must be a map".into(),
                None,
            );
        }
        let (label, digest, wasm, at) = match (&spec.plugin, &spec.path) {
            _ if spec.builtin.is_some() => {
                c.push(
                    at,
                    field,
                    format!(
                        "the built-in readers cannot be used as the {}",
                        role.world()
                    ),
                    Some(format!(
                        "use `{}: {{ plugin: NAME }}` or `path: FILE.wasm`",
                        role.world()
                    )),
                );
                return Ok(None);
            }
            (Some(_), Some(_)) | (None, None) => {
                c.push(
                    at,
                    field,
                    "give exactly one of `plugin` (a registered name) or `path` (a .wasm file)"
                        .into(),
                    Some(format!(
                        "for example `{}: {{ plugin: NAME }}`",
                        role.world()
                    )),
                );
                return Ok(None);
            }
            (Some(name), None) => {
                let at = location(name);
                let (n, version) = match name.value.split_once('@') {
                    Some((n, v)) => (n, Some(v)),
                    None => (name.value.as_str(), None),
                };
                // The tenant's own registry first, then the shared catalogue.
                let mut found = find_registered(self.repo, n, version)
                    .await?
                    .map(|r| (r, false));
                if found.is_none()
                    && let Some(catalogue) = self.catalogue
                {
                    found = find_registered(catalogue, n, version)
                        .await?
                        .map(|r| (r, true));
                }
                let Some((record, shared)) = found else {
                    let known: BTreeMap<String, String> = self
                        .repo
                        .list_plugins()
                        .await?
                        .into_iter()
                        .map(|p| (p.name, p.world))
                        .collect();
                    let known = if known.is_empty() {
                        "none are registered yet".to_owned()
                    } else {
                        format!(
                            "registered: {}",
                            known
                                .iter()
                                .map(|(n, w)| format!("{n} ({w})"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    let what = match version {
                        Some(v) => format!("plugin `{n}` version `{v}` is not registered"),
                        None => format!("plugin `{n}` is not registered"),
                    };
                    c.push(
                        at,
                        format!("{field}.plugin"),
                        what,
                        Some(format!(
                            "register it with `batch-host plugin register FILE.wasm --name {n}`, or use `path: FILE.wasm`; {known}"
                        )),
                    );
                    return Ok(None);
                };
                let label = format!("{}@{}", record.name, record.version);
                if shared {
                    // Compiled into this tenant's artifact cache on first use.
                    let wasm = match self.catalogue {
                        Some(catalogue) => catalogue.plugin_wasm(&record.digest).await?,
                        None => None,
                    };
                    (format!("{label} (shared)"), record.digest, wasm, at)
                } else {
                    (label, record.digest, None, at)
                }
            }
            (None, Some(path)) => {
                let at = location(path);
                let full = self.base.join(&path.value);
                match std::fs::read(&full) {
                    Ok(bytes) => (
                        format!("path {}", path.value),
                        digest(&bytes),
                        Some(bytes),
                        at,
                    ),
                    Err(e) => {
                        c.push(
                            at,
                            format!("{field}.path"),
                            format!("cannot read component `{}`: {e}", full.display()),
                            Some("paths are relative to the folder of job.yaml".into()),
                        );
                        return Ok(None);
                    }
                }
            }
        };
        let prepared = match self.prepare(&digest, wasm).await? {
            Ok(p) => p,
            Err(message) => {
                c.push(at, field, format!("{label}: {message}"), None);
                return Ok(None);
            }
        };
        if prepared.role() != role {
            c.push(
                at,
                field,
                format!(
                    "{label} is a {} plugin, but is used as the {}",
                    prepared.role(),
                    role.world()
                ),
                Some(format!(
                    "use a component that exports the `{}` world here",
                    role.world()
                )),
            );
            return Ok(None);
        }
        Ok(Some(PluginPlan {
            label,
            digest,
            prepared,
            config,
        }))
    }

    /// Loads the host's own precompiled artifact for `digest`, or compiles the component and
    /// stores the artifact for next time. `Ok(Err(_))` is a problem with the component itself.
    async fn prepare(
        &mut self,
        digest: &str,
        wasm: Option<Vec<u8>>,
    ) -> Result<Result<Prepared, String>, RepositoryError> {
        if let Some(p) = self.cache.get(digest) {
            return Ok(Ok(p.clone()));
        }
        let engine = self.runtime.engine_hash().to_owned();
        if let Some(stored) = self.repo.plugin_artifact(digest, &engine).await?
            && let Some(role) = Role::from_world(&stored.world)
        {
            match self
                .runtime
                .load(digest, &stored.artifact, &stored.seal, role)
            {
                Ok(p) => {
                    self.cache.insert(digest.to_owned(), p.clone());
                    return Ok(Ok(p));
                }
                Err(e) => tracing::warn!(
                    component = digest,
                    "{e}; compiling the component again and replacing the stored code"
                ),
            }
        }
        let wasm = match wasm {
            Some(w) => w,
            None => match self.repo.plugin_wasm(digest).await? {
                Some(w) => w,
                None => {
                    return Ok(Err(format!(
                        "component {digest} is missing from the registry"
                    )));
                }
            },
        };
        if crate::plugin::digest(&wasm) != digest {
            return Ok(Err(format!(
                "the registry's bytes of component {digest} do not have that sha256; register the component again"
            )));
        }
        match self.runtime.compile(&wasm) {
            Ok(compiled) => {
                self.repo
                    .put_plugin_artifact(digest, &engine, &crate::registry::stored(&compiled))
                    .await?;
                self.cache
                    .insert(digest.to_owned(), compiled.prepared.clone());
                Ok(Ok(compiled.prepared))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }
}
