//! `engine` → launcher: Spring's `JobLauncher`. Creates the JobExecution (refusing running and
//! completed instances, over-quota tenants and restarts with changed code), runs the flow, and
//! records the job's final status.

use std::sync::Mutex;
use std::time::Instant;

use tracing::{Instrument, info, info_span, warn};

use super::flow::FlowRunner;
use super::plugins::step_plugins;
use super::report::{JobReport, RunListener};
use super::{Clock, Run, StopFlag, SystemClock};
use crate::domain::{BatchStatus, ExitStatus, now};
use crate::plan::JobPlan;
use crate::plugin::PluginRuntime;
use crate::repository::{ExecutionFilter, JobRepository, JobSource, RepositoryError};

/// Job-context key holding the step a restart begins at (set by `stop` with `restart-at`).
const RESTART_AT: &str = "batch.restartAt";

/// Why a job could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The repository refused the launch (already running, already complete).
    #[error(transparent)]
    Refused(RepositoryError),
    /// A restart would run different plugin code than the failed execution did.
    #[error(
        "the plugins changed since execution {execution_id} of this instance:\n{changes}\nrestarting with different code can corrupt the output; pass --allow-code-change to restart anyway"
    )]
    CodeChanged {
        /// The execution being restarted.
        execution_id: i64,
        /// One line per changed plugin.
        changes: String,
    },
    /// The tenant already runs as many executions as its quota allows.
    #[error(
        "tenant `{tenant}` already runs {running} execution(s), its quota (max-concurrent-executions: {max}); wait for one to end, or `batch-host recover` executions whose process died"
    )]
    QuotaExceeded {
        /// The tenant.
        tenant: String,
        /// Executions running now.
        running: usize,
        /// The quota.
        max: u32,
    },
    /// Another execution of the instance is marked running, but its process on this host is
    /// gone (killed): it must be recovered first.
    #[error(
        "job `{job_name}` is marked running as execution {execution_id}, but its process ({pid} on this host) is gone; run `batch-host recover {execution_id}`, then `batch-host restart {execution_id}`"
    )]
    OwnerGone {
        /// The job.
        job_name: String,
        /// The execution marked running.
        execution_id: i64,
        /// Its process id.
        pid: u32,
    },
    /// The repository failed.
    #[error(transparent)]
    Repository(RepositoryError),
    /// The repository failed while the execution ran: what committed is kept, the chunk in
    /// progress is lost, and the execution may still be marked running.
    #[error(
        "the repository failed during execution {execution_id}: {source}\nEvery committed chunk is kept. Once the repository is back: `batch-host recover {execution_id}` (if it still shows as running), then the same `batch-host run` command (or `batch-host restart {execution_id}`) continues from the last committed chunk"
    )]
    RepositoryLost {
        /// The execution that was running.
        execution_id: i64,
        /// What failed.
        source: RepositoryError,
    },
}

/// The refusal of a launch while another execution of the instance is marked running: plain,
/// or naming `recover` when that execution's process on this host is gone.
async fn running_elsewhere<R: JobRepository>(
    repo: &R,
    job_name: String,
    execution_id: i64,
) -> LaunchError {
    match repo.execution_owner(execution_id).await {
        Ok(Some(owner)) if super::owner::liveness(&owner) == super::owner::Liveness::Gone => {
            LaunchError::OwnerGone {
                job_name,
                execution_id,
                pid: owner.pid,
            }
        }
        _ => LaunchError::Refused(RepositoryError::ExecutionRunning {
            job_name,
            execution_id,
        }),
    }
}

impl From<RepositoryError> for LaunchError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::ExecutionRunning { .. }
            | RepositoryError::InstanceComplete { .. }
            | RepositoryError::NotRestartable { .. } => LaunchError::Refused(e),
            other => LaunchError::Repository(other),
        }
    }
}

/// Launches `plan`: a new JobExecution of its JobInstance, steps in order, final status.
pub async fn launch<R: JobRepository>(
    plan: &JobPlan,
    repo: &R,
    runtime: &PluginRuntime,
    listener: &dyn RunListener,
) -> Result<JobReport, LaunchError> {
    launch_with(
        plan,
        repo,
        runtime,
        listener,
        &SystemClock,
        &StopFlag::default(),
    )
    .await
}

/// [`launch`] with a given clock for retry backoff and a stop flag (set it to stop the job
/// gracefully after the current chunk).
pub async fn launch_with<R: JobRepository>(
    plan: &JobPlan,
    repo: &R,
    runtime: &PluginRuntime,
    listener: &dyn RunListener,
    clock: &dyn Clock,
    stop: &StopFlag,
) -> Result<JobReport, LaunchError> {
    let started = Instant::now();
    check_quota(plan, repo).await?;
    check_code_change(plan, repo).await?;
    let mut execution = match repo
        .create_job_execution(&plan.name, &plan.params, plan.restartable)
        .await
    {
        Err(RepositoryError::ExecutionRunning {
            job_name,
            execution_id,
        }) => return Err(running_elsewhere(repo, job_name, execution_id).await),
        other => other?,
    };
    repo.record_owner(execution.id, &super::owner::this_process())
        .await?;
    let job_file = std::fs::canonicalize(&plan.file).unwrap_or_else(|_| plan.file.clone());
    let source = JobSource {
        file: job_file.to_string_lossy().into_owned(),
        workdir: plan.workdir.to_string_lossy().into_owned(),
        text: Some(plan.source.clone()),
    };
    repo.record_job_source(execution.id, &source).await?;
    let restart = !repo
        .job_executions(&execution.instance)
        .await?
        .iter()
        .all(|e| e.id == execution.id);
    let span = info_span!("batch.job", tenant = %plan.tenant, job = %plan.name, job_execution_id = execution.id, job_instance_id = execution.instance.id);
    async {
        info!(restart, params = %plan.params, "job execution started");
        listener.job_started(&execution, restart);
        execution.status = BatchStatus::Started;
        execution.start_time = Some(now());
        execution.exit_status = ExitStatus::executing();
        repo.update_job_execution(&mut execution).await?;

        // `stop` with `restart-at` left the step to begin at in the job context.
        let restart_at = match execution.context.get(RESTART_AT) {
            Some(serde_json::Value::String(name)) => Some(name.clone()),
            _ => None,
        };
        let start = restart_at
            .as_ref()
            .and_then(|name| plan.flow.iter().position(|i| plan.steps[*i].name == *name));
        if let Some(name) = &restart_at {
            info!(step = %name, "restarting at the step named by the stop transition");
        }
        // The key stays until the job completes, so a restart that fails again begins at the
        // same step next time instead of replaying the stop transition.
        let context = execution.context.clone();
        let runner = FlowRunner {
            run: Run {
                plan,
                repo,
                runtime,
                listener,
                clock,
                stop,
            },
            execution: &execution,
            job_context: Mutex::new(context),
            reports: Mutex::new(Vec::new()),
            route: Mutex::new(Vec::new()),
        };
        let flow = runner.run(&plan.flow, start.unwrap_or(0));
        let end = match super::beating(repo, execution.id, flow).await {
            Ok(end) => end,
            Err(e) => {
                // The repository failed mid-step: record what we can and give up.
                warn!(error = %e, "repository failure; marking the job execution FAILED");
                execution.status = BatchStatus::Failed;
                execution.exit_status = ExitStatus::failed().with_description(e.to_string());
                execution.end_time = Some(now());
                let _ = repo.update_job_execution(&mut execution).await;
                return Err(LaunchError::RepositoryLost {
                    execution_id: execution.id,
                    source: e,
                });
            }
        };
        let mut context = runner.job_context.into_inner().unwrap_or_else(|e| e.into_inner());
        let steps = runner.reports.into_inner().unwrap_or_else(|e| e.into_inner());
        let route = runner.route.into_inner().unwrap_or_else(|e| e.into_inner());
        match &end.restart_at {
            Some(name) => context.put(RESTART_AT, serde_json::Value::String(name.clone())),
            None if end.status == BatchStatus::Completed => {
                context.remove(RESTART_AT);
            }
            None => {}
        }
        execution.context = context;
        let ran_any = steps.iter().any(|s| !s.already_complete);
        let status = end.status;
        let mut exit = end.exit;
        if status == BatchStatus::Completed && !ran_any {
            exit = ExitStatus::noop()
                .with_description("All steps already completed or no steps configured for this job.");
        }
        execution.status = status;
        execution.exit_status = exit;
        execution.end_time = Some(now());
        repo.update_job_execution(&mut execution).await?;
        info!(status = %execution.status, exit_code = %execution.exit_status.code, "job execution finished");
        Ok(JobReport {
            execution,
            steps,
            restart,
            duration: started.elapsed(),
            route,
        })
    }
    .instrument(span)
    .await
}

/// The executions of `repo` that are STARTING, STARTED or STOPPING: what a quota counts, and
/// what a recovery looks at.
pub async fn running_executions<R: crate::repository::JobExplorer>(
    repo: &R,
) -> Result<Vec<crate::domain::JobExecution>, RepositoryError> {
    let mut out = Vec::new();
    for status in [
        BatchStatus::Starting,
        BatchStatus::Started,
        BatchStatus::Stopping,
    ] {
        let filter = ExecutionFilter {
            status: Some(status.as_str().to_owned()),
            ..Default::default()
        };
        out.extend(repo.find_executions(&filter).await?);
    }
    Ok(out)
}

/// Refuses a launch when the tenant already runs its quota of executions.
async fn check_quota<R: JobRepository>(plan: &JobPlan, repo: &R) -> Result<(), LaunchError> {
    let Some(max) = plan.max_concurrent_executions else {
        return Ok(());
    };
    let running = running_executions(repo).await?.len();
    if running >= max as usize {
        return Err(LaunchError::QuotaExceeded {
            tenant: plan.tenant.clone(),
            running,
            max,
        });
    }
    Ok(())
}

/// Refuses a restart whose steps would run different components than the failed execution's
/// unfinished steps ran, unless the plan allows it.
async fn check_code_change<R: JobRepository>(plan: &JobPlan, repo: &R) -> Result<(), LaunchError> {
    let key = plan.params.job_key();
    let filter = ExecutionFilter {
        job_name: Some(plan.name.clone()),
        ..Default::default()
    };
    let Some(last) = repo
        .find_executions(&filter)
        .await?
        .into_iter()
        .find(|e| e.instance.job_key == key)
    else {
        return Ok(());
    };
    if !matches!(last.status, BatchStatus::Failed | BatchStatus::Stopped) {
        return Ok(());
    }
    let mut changes = Vec::new();
    for previous in repo.step_executions(last.id).await? {
        if previous.status == BatchStatus::Completed {
            continue;
        }
        let Some(step) = plan.steps.iter().find(|s| s.name == previous.step_name) else {
            continue;
        };
        let now = step_plugins(step);
        for old in &previous.plugins {
            match now.iter().find(|p| p.role == old.role) {
                Some(new) if new.digest != old.digest => changes.push(format!(
                    "  step `{}` {}: {} sha256:{} -> {} sha256:{}",
                    step.name,
                    old.role,
                    old.label,
                    short(&old.digest),
                    new.label,
                    short(&new.digest)
                )),
                _ => {}
            }
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    if plan.allow_code_change {
        warn!(changes = %changes.join("; "), "restarting with changed plugins (--allow-code-change)");
        return Ok(());
    }
    Err(LaunchError::CodeChanged {
        execution_id: last.id,
        changes: changes.join("\n"),
    })
}

/// The first 12 hex digits of a digest, as messages show it.
fn short(digest: &str) -> &str {
    &digest[..12.min(digest.len())]
}
