//! `engine` → worker: what a `batch-host worker` does with one partition it claimed from a
//! `workers: remote` step — runs the worker step under the partition's name and context (or,
//! when it takes over from a worker whose lease lapsed, from that worker's last committed
//! context), renews its lease meanwhile, and marks the partition done.

use std::time::Duration;

use tracing::{info, warn};

use super::report::{RunListener, StepReport};
use super::step::{Seed, run_step_as};
use super::{Clock, Run, StopFlag, SystemClock};
use crate::domain::{BatchStatus, ExitStatus, JobExecution, StepExecution, now};
use crate::plan::JobPlan;
use crate::plugin::PluginRuntime;
use crate::repository::{ExecutionFilter, JobRepository, PartitionClaim, RepositoryError};

/// A claimed partition and the worker holding it.
#[derive(Debug)]
pub struct ClaimedPartition<'a> {
    /// The claim.
    pub claim: &'a PartitionClaim,
    /// This worker's name in the repository (`host:pid:slot`).
    pub owner: &'a str,
    /// How long a lease lasts; it is renewed every third of it.
    pub lease: Duration,
}

/// Why a claimed partition could not run (recorded as its FAILED step execution).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The repository failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The claim names something this worker cannot find.
    #[error("{0}")]
    Setup(String),
}

/// The job execution a claim belongs to.
pub async fn claimed_execution<R: JobRepository>(
    repo: &R,
    claim: &PartitionClaim,
) -> Result<JobExecution, WorkerError> {
    let filter = ExecutionFilter {
        execution_id: Some(claim.job_execution_id),
        ..Default::default()
    };
    repo.find_executions(&filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            WorkerError::Setup(format!(
                "job execution {} of partition `{}` does not exist",
                claim.job_execution_id, claim.step_name
            ))
        })
}

/// Records that `claimed` could not run here — `message` says why — as its FAILED step
/// execution, and marks it done, so the manager ends instead of waiting.
pub async fn refuse_partition<R: JobRepository>(
    repo: &R,
    claimed: &ClaimedPartition<'_>,
    message: &str,
) -> Result<(), RepositoryError> {
    let claim = claimed.claim;
    warn!(partition = %claim.step_name, reason = %message, "cannot run the claimed partition");
    let mut step = StepExecution::new(claim.job_execution_id, &claim.step_name, now());
    step.context = claim.context.clone();
    step.status = BatchStatus::Failed;
    step.exit_status =
        ExitStatus::failed().with_description(format!("worker {}: {message}", claimed.owner));
    step.start_time = Some(now());
    step.end_time = step.start_time;
    repo.add_step_execution(&mut step).await?;
    repo.finish_partition(claim.job_execution_id, &claim.step_name, claimed.owner)
        .await
}

/// Runs the claimed partition of `plan` (the job as the manager planned it) to its end and
/// marks it done. `process_stop` is the worker process's own stop flag (SIGTERM): it stops the
/// partition at its next chunk boundary, restartably.
pub async fn run_claimed_partition<R: JobRepository>(
    plan: &JobPlan,
    repo: &R,
    runtime: &PluginRuntime,
    listener: &dyn RunListener,
    process_stop: &StopFlag,
    claimed: &ClaimedPartition<'_>,
) -> Result<StepReport, WorkerError> {
    let claim = claimed.claim;
    let execution = claimed_execution(repo, claim).await?;
    let Some(worker) = plan.steps.iter().find(|s| s.name == claim.worker_step) else {
        return Err(WorkerError::Setup(format!(
            "the job `{}` has no step `{}` (was job.yaml changed since the run began?)",
            plan.name, claim.worker_step
        )));
    };
    // Taking over: the previous holder's step execution, if it got that far, is what to resume.
    let mut resume = None;
    if claim.attempts > 1
        && let Some(mut before) = repo
            .step_executions(claim.job_execution_id)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.step_name == claim.step_name)
    {
        if before.status == BatchStatus::Completed {
            // It completed but its worker died before saying so.
            repo.finish_partition(claim.job_execution_id, &claim.step_name, claimed.owner)
                .await?;
            return Ok(StepReport {
                execution: before,
                already_complete: true,
                duration: Duration::ZERO,
                skips: Default::default(),
                refused: None,
            });
        }
        if before.status.is_running() {
            before.status = BatchStatus::Failed;
            before.exit_status = ExitStatus::failed().with_description(format!(
                "its worker stopped renewing its lease; taken over by {}",
                claimed.owner
            ));
            before.end_time = Some(now());
            repo.update_step_execution(&mut before).await?;
        }
        info!(partition = %claim.step_name, from = before.id, "taking over the partition from its last committed chunk");
        resume = Some(before.context);
    }
    let seed = match &resume {
        Some(ctx) => Seed::Resume(ctx),
        None => Seed::Fresh(&claim.context),
    };
    // This partition's own stop: the process's, or a lost lease (which also cuts the call).
    let stop = StopFlag::default();
    let clock = SystemClock;
    let run = Run {
        plan,
        repo,
        runtime,
        listener,
        clock: &clock as &dyn Clock,
        stop: &stop,
    };
    let work = run_step_as(
        run,
        worker,
        &claim.step_name,
        seed,
        &execution,
        &execution.context,
    );
    let keep_lease = async {
        loop {
            tokio::time::sleep(claimed.lease / 3).await;
            if process_stop.is_requested() {
                stop.request();
            }
            match repo
                .renew_partition(
                    claim.job_execution_id,
                    &claim.step_name,
                    claimed.owner,
                    claimed.lease,
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    warn!(partition = %claim.step_name, "lost the partition's lease; interrupting it");
                    stop.request();
                    stop.interrupt();
                }
                Err(e) => warn!(partition = %claim.step_name, error = %e, "cannot renew the lease"),
            }
        }
    };
    let report = tokio::select! {
        r = work => r?,
        _ = keep_lease => unreachable!("the lease loop never ends"),
    };
    repo.finish_partition(claim.job_execution_id, &claim.step_name, claimed.owner)
        .await?;
    Ok(report)
}
