//! `cli` → `run`, `restart`, `validate`: plans a job file and hands it to the engine's
//! [`JobOperator`], with progress, signals and the end-of-run summary.

use std::path::{Path, PathBuf};

use clap::Args;

use super::output::{Progress, print_summary};
use super::{CliError, CliResult, GlobalArgs, connect, exit};
use crate::domain::BatchStatus;
use crate::engine::{JobOperator, LaunchError, StopFlag, SystemClock};
use crate::plan::{JobPlan, StepKind};
use crate::plugin::PluginRuntime;
use crate::repository::{JobSource, SqlRepository};
use crate::setup::Problems;

/// Options shared by `run` and `validate`.
#[derive(Debug, Args)]
pub(super) struct JobArgs {
    /// The job file.
    #[arg(value_name = "JOB.yaml")]
    job: PathBuf,
    /// A job parameter in Spring Batch's notation: `name=value[,type[,identifying]]`, where type
    /// is string (default), long, double, date or datetime and identifying is true (default) or
    /// false. Overrides job.yaml `params`. Repeatable.
    #[arg(short, long = "param", value_name = "NAME=VALUE", value_parser = crate::domain::split_param)]
    params: Vec<(String, String)>,
    /// The directory plugins may see (default: the folder of the job file).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Restart a failed instance even though its plugins changed since it failed.
    #[arg(long)]
    allow_code_change: bool,
    /// The job text to plan instead of reading the file (a restart whose file has moved).
    #[arg(skip)]
    text: Option<String>,
}

impl JobArgs {
    /// The job as the repository recorded an execution of it: its job file, work directory and
    /// parameters (for `restart ID` and `batch-host worker`).
    pub(super) fn recorded(source: &JobSource, params: &crate::domain::JobParameters) -> Self {
        let input = crate::setup::recorded_input(source, params);
        JobArgs {
            job: input.file,
            params: input.params,
            workdir: input.workdir,
            allow_code_change: false,
            text: input.text,
        }
    }

    /// The job to plan, as the setup code shared with the server takes it.
    fn input(&self) -> crate::setup::JobInput {
        crate::setup::JobInput {
            file: self.job.clone(),
            text: self.text.clone(),
            params: self.params.clone(),
            workdir: self.workdir.clone(),
            allow_code_change: self.allow_code_change,
            registered_only: false,
        }
    }

    /// Parses and plans the job, with a runtime that meters fuel only if the job (or the host's defaults)
    /// sets a fuel budget.
    pub(super) async fn plan(
        &self,
        global: &GlobalArgs,
        repo: &SqlRepository,
    ) -> Result<(JobPlan, PluginRuntime), CliError> {
        match self.plan_or_problems(global, repo).await? {
            Ok(planned) => Ok(planned),
            Err(Problems::Spec(d)) => Err(CliError::invalid(d)),
            Err(Problems::Plan(e)) => Err(CliError::invalid(e)),
        }
    }

    /// [`plan`](Self::plan), with the job's own problems (syntax, validation) kept apart as
    /// data, for `validate --json`.
    async fn plan_or_problems(
        &self,
        global: &GlobalArgs,
        repo: &SqlRepository,
    ) -> Result<Result<(JobPlan, PluginRuntime), Problems>, CliError> {
        Ok(global.setup().plan(&self.input(), repo).await?)
    }
}

/// Ctrl-C or SIGTERM: finish the current chunk, close the streams, mark the job STOPPED. A
/// second one interrupts the plugin call in progress: its chunk rolls back, the job ends STOPPED
/// at once (restartable from the last committed chunk).
pub(super) fn watch_signals(stop: StopFlag) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        super::output::notice(
            "warning: cannot watch for Ctrl-C and SIGTERM; `batch-host stop` still works",
        );
        return;
    };
    tokio::spawn(async move {
        let mut next = async || {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        };
        next().await;
        super::output::notice(
            "stop requested: finishing the current chunk, then stopping (restartable); press Ctrl-C again to interrupt at once",
        );
        stop.request();
        next().await;
        super::output::notice(
            "interrupting: the chunk in progress rolls back; the job stops now (restartable)",
        );
        stop.interrupt();
    });
}

/// `batch-host run JOB.yaml`: runs the job; after a failure, the same command restarts it from
/// the last committed chunk.
#[derive(Debug, Args)]
pub(super) struct RunCommand {
    #[command(flatten)]
    job: JobArgs,
    /// Do not draw a progress indicator (it is never drawn when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Start a new JobInstance: `run.id` = the last execution's `run.id` + 1 (Spring's
    /// RunIdIncrementer).
    #[arg(long)]
    next: bool,
    /// Print the end-of-run summary as one JSON object on stdout (for scripts), instead of the
    /// table.
    #[arg(long)]
    json: bool,
    /// At the end, write the run's metrics to FILE in Prometheus's text format (the names
    /// `batch-host serve` exports at /metrics), e.g. for node_exporter's textfile collector.
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
}

impl RunCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        let repo = connect(global).await?;
        let (mut plan, runtime) = self.job.plan(global, &repo).await?;
        if self.next {
            JobOperator::new(&repo).next_instance(&mut plan).await?;
        }
        let output = Output {
            no_progress: self.no_progress,
            json: self.json,
            metrics_file: self.metrics_file,
        };
        execute_plan(&plan, repo, &runtime, &output).await
    }
}

/// How a run reports: progress, the summary's format, a metrics file.
#[derive(Debug, Default)]
struct Output {
    no_progress: bool,
    json: bool,
    metrics_file: Option<PathBuf>,
}

/// Writes the metrics to `file` (through a temporary file, so a scraper never reads half).
fn write_metrics(file: &Path) -> Result<(), CliError> {
    let tmp = file.with_extension("prom.tmp");
    std::fs::write(&tmp, crate::telemetry::render())
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| {
            CliError::internal(format!(
                "cannot write the metrics file `{}`: {e}",
                file.display()
            ))
        })
}

/// Launches a planned job with progress, signals and the end-of-run summary; the exit code.
async fn execute_plan(
    plan: &JobPlan,
    repo: SqlRepository,
    runtime: &PluginRuntime,
    output: &Output,
) -> CliResult {
    let repo = repo.with_durability(plan.durability).await?;
    if output.metrics_file.is_some() {
        crate::telemetry::install().map_err(CliError::internal)?;
    }
    let metrics = crate::telemetry::MetricsListener::new(&plan.tenant, &plan.name);
    let progress = Progress::new(!output.no_progress);
    let stop = StopFlag::default();
    watch_signals(stop.clone());
    let started = std::time::Instant::now();
    let result = JobOperator::new(&repo)
        .start(
            plan,
            runtime,
            &crate::telemetry::Both(&progress, &metrics),
            &SystemClock,
            &stop,
        )
        .await;
    progress.finish();
    repo.close().await;
    if let Some(file) = &output.metrics_file {
        metrics.job_finished(
            result.as_ref().ok().map(|r| &r.execution),
            started.elapsed(),
        );
        write_metrics(file)?;
    }
    let json = output.json;
    match result {
        Ok(report) => {
            if json {
                println!("{}", super::ops::report_json(&report));
            } else {
                print_summary(&report);
            }
            Ok(match report.execution.status {
                BatchStatus::Completed => exit::OK,
                BatchStatus::Stopped => exit::STOPPED,
                _ => exit::JOB_FAILED,
            })
        }
        Err(LaunchError::Repository(e)) => Err(e.into()),
        Err(e @ LaunchError::RepositoryLost { .. }) => Err(CliError::new(exit::INTERNAL, e)),
        Err(
            e @ (LaunchError::Refused(_)
            | LaunchError::CodeChanged { .. }
            | LaunchError::QuotaExceeded { .. }
            | LaunchError::OwnerGone { .. }),
        ) => Err(CliError::refused(e)),
    }
}

/// `batch-host restart <execution-id>`: restarts a FAILED or STOPPED execution from what the
/// repository recorded (its job file, work directory and parameters).
#[derive(Debug, Args)]
pub(super) struct RestartCommand {
    /// The FAILED or STOPPED job execution.
    #[arg(value_name = "EXECUTION_ID")]
    id: i64,
    /// Do not draw a progress indicator.
    #[arg(long)]
    no_progress: bool,
    /// Restart even though the plugins changed since it failed.
    #[arg(long)]
    allow_code_change: bool,
    /// Print the end-of-run summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// At the end, write the run's metrics to FILE in Prometheus's text format.
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// The work directory, when it moved since the failed execution (default: the recorded one).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
}

impl RestartCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        let repo = connect(global).await?;
        let source = JobOperator::new(&repo).restart_source(self.id).await?;
        let mut job = JobArgs::recorded(&source.job, &source.params);
        job.allow_code_change = self.allow_code_change;
        if let Some(dir) = self.workdir {
            job.workdir = Some(dir);
        }
        if job.text.is_some() {
            eprintln!(
                "note: the job file `{}` is gone; restarting execution {} from the copy of it recorded at launch",
                source.job.file, self.id
            );
        } else if !job.job.is_file() {
            return Err(CliError::refused(format!(
                "the job file `{}` of execution {} is gone and the repository has no copy of it (it keeps job files of up to 1 MiB); put it back, or run the job file again with `batch-host run JOB.yaml` and the same parameters",
                source.job.file, self.id
            )));
        }
        let (plan, runtime) = job.plan(global, &repo).await?;
        let output = Output {
            no_progress: self.no_progress,
            json: self.json,
            metrics_file: self.metrics_file,
        };
        execute_plan(&plan, repo, &runtime, &output).await
    }
}

/// `batch-host validate JOB.yaml`: every check `run` makes before it starts, and nothing else.
#[derive(Debug, Args)]
pub(super) struct ValidateCommand {
    #[command(flatten)]
    job: JobArgs,
    /// Print the result as one JSON object on stdout: `{"valid": true, "job", "steps", …}` or
    /// `{"valid": false, "problems": [{file, line, column, field, message, hint}]}` (exit 2).
    #[arg(long)]
    json: bool,
}

impl ValidateCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        {
            let repo = connect(global).await?;
            if self.json {
                return self.print_json(global, &repo).await;
            }
            let (plan, _runtime) = self.job.plan(global, &repo).await?;
            println!(
                "{}: job `{}` is valid: {} step(s), parameters: {}",
                self.job.job.display(),
                plan.name,
                plan.steps.len(),
                if plan.params.is_empty() {
                    "none".to_owned()
                } else {
                    plan.params.to_string()
                }
            );
            for s in &plan.steps {
                let what = step_summary(&plan, s);
                let next = match &s.next {
                    None => String::new(),
                    Some(ts) => format!(
                        " · next: {}",
                        ts.iter()
                            .map(|t| format!("{} → {}", t.pattern, plan.describe(&t.action)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                println!("  step `{}`: {what}{next}", s.name);
            }
            for warning in missing_inputs(&plan) {
                eprintln!("warning: {warning}");
            }
            Ok(exit::OK)
        }
    }
}

/// The input files of built-in readers that do not exist yet: not an error (a job may create
/// them in an earlier step, or they may arrive before the run), but worth a warning.
fn missing_inputs(plan: &JobPlan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Chunk(c) => Some((s, &c.reader)),
            _ => None,
        })
        .filter_map(|(s, reader)| {
            let file = match reader {
                crate::plan::ReaderPlan::Csv(c) => &c.file,
                crate::plan::ReaderPlan::Jsonl(f) => f,
                _ => return None,
            };
            // Placeholders are resolved when the step starts; nothing to check before.
            if file.path.contains("${") {
                return None;
            }
            let dir = s.directory.clone().unwrap_or_else(|| plan.workdir.clone());
            let path = dir.join(&file.path);
            (!path.exists()).then(|| {
                format!(
                    "step `{}` reads `{}`, which does not exist in {} yet; the run fails unless it is there by then",
                    s.name,
                    file.path,
                    dir.display()
                )
            })
        })
        .collect()
}

/// How `validate` describes one step of the plan.
fn step_summary(plan: &JobPlan, s: &crate::plan::StepPlan) -> String {
    match &s.kind {
        StepKind::Chunk(c) => format!(
            "chunk {} · reader {} · processor {} · writer {}",
            c.chunk_size,
            c.reader.label(),
            c.processor
                .as_ref()
                .map(|p| p.label.as_str())
                .unwrap_or("-"),
            c.writer.label()
        ),
        StepKind::Tasklet(p) => format!("tasklet {}", p.label),
        StepKind::Decider(p) => format!("decider {}", p.label),
        StepKind::Partition(p) => format!(
            "partition · {} partitions of {} · {} at a time · {}",
            match &p.partitioner {
                crate::plan::PartitionerPlan::Files { .. } => "one per file".into(),
                _ => p.grid_size.to_string(),
            },
            plan.steps[p.worker].name,
            p.concurrency,
            match &p.partitioner {
                crate::plan::PartitionerPlan::FileRanges(f) => format!("file-ranges {}", f.path),
                crate::plan::PartitionerPlan::Files { pattern } => format!("files {pattern}"),
                crate::plan::PartitionerPlan::SqlRanges { table } => format!("sql-ranges {table}"),
                crate::plan::PartitionerPlan::Component(c) => format!("partitioner {}", c.label),
            }
        ),
        StepKind::Split(flows) => format!(
            "split {}",
            flows
                .iter()
                .map(|f| format!(
                    "[{}]",
                    f.iter()
                        .map(|i| plan.steps[*i].name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

impl ValidateCommand {
    /// `validate --json`.
    async fn print_json(&self, global: &GlobalArgs, repo: &SqlRepository) -> CliResult {
        use serde_json::json;
        match self.job.plan_or_problems(global, repo).await? {
            Ok((plan, _runtime)) => {
                let steps: Vec<_> = plan
                    .steps
                    .iter()
                    .map(|s| json!({ "name": s.name, "kind": s.kind.name(), "summary": step_summary(&plan, s) }))
                    .collect();
                let params: serde_json::Map<String, serde_json::Value> = plan
                    .params
                    .iter()
                    .map(|(k, p)| (k.to_owned(), json!({ "value": p.value, "type": p.kind.java_class(), "identifying": p.identifying })))
                    .collect();
                println!(
                    "{}",
                    json!({ "valid": true, "file": self.job.job.display().to_string(), "job": plan.name, "parameters": params, "steps": steps, "warnings": missing_inputs(&plan) })
                );
                Ok(exit::OK)
            }
            Err(problems) => {
                let list: Vec<_> = problems
                    .diagnostics()
                    .iter()
                    .map(|d| json!({ "file": d.file.display().to_string(), "line": d.line, "column": d.column, "field": d.field, "message": d.message, "hint": d.hint }))
                    .collect();
                println!(
                    "{}",
                    json!({ "valid": false, "file": self.job.job.display().to_string(), "problems": list })
                );
                Ok(exit::INVALID_INPUT)
            }
        }
    }
}
