//! `cli` → operator commands: `jobs`, `executions`, `execution` (Spring's JobExplorer) and
//! `stop`, `abandon`, `recover` (through the engine's JobOperator).

use clap::Args;
use serde_json::Value;

use super::output::{print_table, table};
use super::{CliError, CliResult, GlobalArgs, connect, exit};
use crate::domain::Timestamp;
use crate::engine::{JobOperator, OperatorError};
use crate::repository::{ExecutionFilter, JobExplorer, SqlRepository};
pub(super) use crate::views::report_json;
use crate::views::{execution_json, step_json};

fn time(t: Option<Timestamp>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn duration(start: Option<Timestamp>, end: Option<Timestamp>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{:.2}s", (e - s).num_milliseconds() as f64 / 1000.0),
        (Some(_), None) => "running".into(),
        _ => "-".into(),
    }
}

/// Runs `f` with the tenant's repository and closes it afterwards.
async fn with_repo<F, Fut>(global: &GlobalArgs, f: F) -> CliResult
where
    F: FnOnce(SqlRepository) -> Fut,
    Fut: std::future::Future<Output = CliResult>,
{
    let repo = connect(global).await?;
    let closer = repo.clone();
    let result = f(repo).await;
    closer.close().await;
    result
}

/// `batch-host jobs`: every job in the repository, with its instances and last execution.
#[derive(Debug, Args)]
pub(super) struct JobsCommand {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

impl JobsCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        with_repo(global, |repo| async move {
            let executions = repo.find_executions(&ExecutionFilter::default()).await?;
            let jobs = crate::views::summarize_jobs(&executions);
            if self.json {
                for job in &jobs {
                    println!("{}", job.json());
                }
            } else if jobs.is_empty() {
                println!("no jobs have run against this repository yet");
            } else {
                let mut t = table(
                    &[
                        "JOB",
                        "INSTANCES",
                        "EXECUTIONS",
                        "LAST",
                        "STATUS",
                        "EXIT CODE",
                    ],
                    &[1, 2, 3],
                    &[0, 5],
                );
                for job in &jobs {
                    t.add_row(vec![
                        job.name.clone(),
                        job.instances.len().to_string(),
                        job.executions.to_string(),
                        job.last.id.to_string(),
                        job.last.status.as_str().to_owned(),
                        job.last.exit_status.code.clone(),
                    ]);
                }
                print_table(&t);
            }
            Ok(exit::OK)
        })
        .await
    }
}

/// A Spring Batch status, in any case; anything else is refused with the list.
fn parse_status(s: &str) -> Result<crate::domain::BatchStatus, String> {
    s.parse().map_err(|e| {
        let all: Vec<&str> = crate::domain::BatchStatus::ALL
            .iter()
            .map(|b| b.as_str())
            .collect();
        format!("{e}; use one of {}", all.join(", "))
    })
}

/// `batch-host executions`: job executions, newest first.
#[derive(Debug, Args)]
pub(super) struct ExecutionsCommand {
    /// Only this job.
    #[arg(long)]
    job: Option<String>,
    /// Only executions in this status (COMPLETED, FAILED, STOPPED, STARTED, …).
    #[arg(long, value_parser = parse_status)]
    status: Option<crate::domain::BatchStatus>,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    last: i64,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

impl ExecutionsCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        with_repo(global, |repo| async move {
            let filter = ExecutionFilter {
                job_name: self.job.clone(),
                status: self.status.map(|s| s.as_str().to_owned()),
                limit: Some(self.last.max(1)),
                ..Default::default()
            };
            let executions = repo.find_executions(&filter).await?;
            if self.json {
                for e in &executions {
                    println!("{}", super::output::json_line(&execution_json(e)));
                }
                return Ok(exit::OK);
            }
            if executions.is_empty() {
                println!("no matching executions");
                return Ok(exit::OK);
            }
            let mut t = table(
                &[
                    "EXECUTION",
                    "INSTANCE",
                    "JOB",
                    "STATUS",
                    "EXIT CODE",
                    "STARTED",
                    "DURATION",
                    "PARAMETERS",
                ],
                &[0, 1, 6],
                &[2, 7],
            );
            for e in &executions {
                t.add_row(vec![
                    e.id.to_string(),
                    e.instance.id.to_string(),
                    e.instance.job_name.clone(),
                    e.status.as_str().to_owned(),
                    e.exit_status.code.clone(),
                    time(e.start_time),
                    duration(e.start_time, e.end_time),
                    e.parameters.to_string(),
                ]);
            }
            print_table(&t);
            Ok(exit::OK)
        })
        .await
    }
}

/// `batch-host execution <id>`: one job execution with its steps, counters and contexts.
#[derive(Debug, Args)]
pub(super) struct ExecutionCommand {
    /// The job execution id.
    #[arg(value_name = "EXECUTION_ID")]
    id: i64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl ExecutionCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        with_repo(global, |repo| async move {
            let filter = ExecutionFilter { execution_id: Some(self.id), ..Default::default() };
            let Some(e) = repo.find_executions(&filter).await?.into_iter().next() else {
                return Err(CliError::invalid(format!("no job execution {} in this repository; `batch-host executions` lists them", self.id)));
            };
            let steps = repo.step_executions(e.id).await?;
            if self.json {
                let mut v = execution_json(&e);
                v["steps"] = Value::Array(steps.iter().map(step_json).collect());
                println!("{}", super::output::json_line(&v));
                return Ok(exit::OK);
            }
            println!("Job execution {} of `{}` (instance {}, key {})", e.id, e.instance.job_name, e.instance.id, e.instance.job_key);
            println!("  status     {} (exit code {})", e.status, e.exit_status.code);
            if !e.exit_status.description.is_empty() {
                println!("  message    {}", e.exit_status.description);
            }
            println!("  started    {}   ended {}   duration {}", time(e.start_time), time(e.end_time), duration(e.start_time, e.end_time));
            for (k, p) in e.parameters.iter() {
                println!("  parameter  {k} = {} ({}{})", p.value, p.kind.java_class(), if p.identifying { ", identifying" } else { "" });
            }
            for s in &steps {
                println!();
                println!("  step `{}` (step execution {}): {} (exit code {}) · {}", s.step_name, s.id, s.status, s.exit_status.code, duration(s.start_time, s.end_time));
                println!(
                    "    read {} · written {} · filtered {} · skipped {}/{}/{} (read/process/write) · commits {} · rollbacks {}",
                    s.read_count, s.write_count, s.filter_count, s.read_skip_count, s.process_skip_count, s.write_skip_count, s.commit_count, s.rollback_count
                );
                if !s.exit_status.description.is_empty() {
                    println!("    message: {}", s.exit_status.description);
                }
                for p in &s.plugins {
                    println!("    {:<9} {} sha256:{}", p.role, p.label, p.digest);
                }
                for (k, v) in s.context.iter() {
                    println!(
                        "    context {} = {}",
                        crate::domain::neutralise(k, crate::domain::GuestField::LogLine),
                        super::output::json_line(v)
                    );
                }
            }
            Ok(exit::OK)
        })
        .await
    }
}

/// `batch-host stop <id>`.
#[derive(Debug, Args)]
pub(super) struct StopCommand {
    /// The running job execution.
    #[arg(value_name = "EXECUTION_ID")]
    id: i64,
}

impl StopCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        with_repo(global, |repo| async move {
            match JobOperator::new(&repo).stop(self.id).await {
                Ok(()) => {
                    println!(
                        "job execution {} will stop after its current chunk (STOPPING)",
                        self.id
                    );
                    Ok(exit::OK)
                }
                Err(e) => Err(refused(e)),
            }
        })
        .await
    }
}

/// A refusal of `stop` or `abandon`: exit code REFUSED, also for an unknown execution (a
/// repository failure is INTERNAL).
fn refused(e: OperatorError) -> CliError {
    match e {
        OperatorError::Repository(e) => e.into(),
        e => CliError::refused(e),
    }
}

/// `batch-host abandon <id>`.
#[derive(Debug, Args)]
pub(super) struct AbandonCommand {
    /// A FAILED or STOPPED job execution.
    #[arg(value_name = "EXECUTION_ID")]
    id: i64,
}

impl AbandonCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        with_repo(global, |repo| async move {
            match JobOperator::new(&repo).abandon(self.id).await {
                Ok(()) => {
                    println!(
                        "job execution {} is ABANDONED; its instance will not be restarted",
                        self.id
                    );
                    Ok(exit::OK)
                }
                Err(e) => Err(refused(e)),
            }
        })
        .await
    }
}

/// `batch-host recover <id>`.
#[derive(Debug, Args)]
pub(super) struct RecoverCommand {
    /// A job execution left STARTED by a process that died (kill -9, power loss).
    #[arg(value_name = "EXECUTION_ID")]
    id: i64,
    /// Treat the execution as dead when its last heartbeat is older than this (a running job
    /// heartbeats every 10s).
    #[arg(long, default_value = "60s", value_parser = parse_stale)]
    stale_after: std::time::Duration,
}

fn parse_stale(s: &str) -> Result<std::time::Duration, String> {
    crate::spec::parse_duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration like 60s or 1m30s"))
}

impl RecoverCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        with_repo(global, |repo| async move {
            match JobOperator::new(&repo)
                .recover(self.id, self.stale_after)
                .await
            {
                Ok(()) => {
                    println!(
                        "job execution {} marked FAILED; run its job again to restart it",
                        self.id
                    );
                    Ok(exit::OK)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}
