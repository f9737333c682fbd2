use std::time::Instant;

use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use super::chunk::ChunkLoop;
use super::chunk::StepFailure;
use super::ft::FtState;
use super::launcher::{RunListener, StepReport};
use super::{Clock, StopFlag};
use crate::domain::{BatchStatus, ExitStatus, JobExecution, StepExecution, now};
use crate::plan::{JobPlan, ReaderPlan, StepPlan, WriterPlan};
use crate::plugin::PluginRuntime;
use crate::repository::{JobRepository, RepositoryError};

/// The components a step runs, by role: (role, label, digest).
pub(super) fn plugin_digests(step: &StepPlan) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    match &step.reader {
        ReaderPlan::Component(p) => out.push(("reader".into(), p.label.clone(), p.digest.clone())),
        ReaderPlan::SkippedItems(_) => out.push((
            "reader".into(),
            step.reader.label().into(),
            "builtin".into(),
        )),
    }
    if let Some(p) = &step.processor {
        out.push(("processor".into(), p.label.clone(), p.digest.clone()));
    }
    match &step.writer {
        WriterPlan::Component(p) => out.push(("writer".into(), p.label.clone(), p.digest.clone())),
        WriterPlan::SqlTable { .. } => out.push((
            "writer".into(),
            step.writer.label().into(),
            "builtin".into(),
        )),
    }
    out
}

/// Runs one step of `execution`, or reports it as already complete (Spring's
/// `SimpleStepHandler.shouldStart`): a step that COMPLETED in an earlier execution of the same
/// JobInstance is not run again; a step that failed restarts with its last committed context.
#[allow(
    clippy::too_many_arguments,
    reason = "the run's collaborators, passed explicitly"
)]
pub(super) async fn run_step<R: JobRepository>(
    plan: &JobPlan,
    step_plan: &StepPlan,
    execution: &JobExecution,
    repo: &R,
    runtime: &PluginRuntime,
    listener: &dyn RunListener,
    clock: &dyn Clock,
    stop: &StopFlag,
) -> Result<StepReport, RepositoryError> {
    let started_at = Instant::now();
    let previous = repo
        .last_step_execution(&execution.instance, &step_plan.name)
        .await?
        .filter(|p| p.job_execution_id != execution.id);
    if let Some(prev) = &previous
        && (prev.status == BatchStatus::Abandoned
            || (prev.status == BatchStatus::Completed && !step_plan.allow_start_if_complete))
    {
        info!(step = %step_plan.name, "step already complete; not running it again");
        return Ok(StepReport {
            execution: prev.clone(),
            already_complete: true,
            duration: started_at.elapsed(),
            skips: Default::default(),
        });
    }

    let mut step = StepExecution::new(execution.id, &step_plan.name, now());
    step.plugins = plugin_digests(step_plan);
    if let Some(limit) = step_plan.start_limit {
        let started = repo
            .step_execution_count(&execution.instance, &step_plan.name)
            .await?;
        if started >= limit {
            // Spring's StartLimitExceededException: recorded as a failed step execution.
            step.status = BatchStatus::Failed;
            step.exit_status = ExitStatus::failed().with_description(format!(
                "start limit {limit} exceeded: step `{}` already ran {started} time(s) in this job instance",
                step_plan.name
            ));
            step.start_time = Some(now());
            step.end_time = step.start_time;
            repo.add_step_execution(&mut step).await?;
            return Ok(StepReport {
                execution: step,
                already_complete: false,
                duration: started_at.elapsed(),
                skips: Default::default(),
            });
        }
    }
    if let Some(prev) = previous
        && prev.status != BatchStatus::Completed
    {
        // Restart: resume from the last committed ExecutionContext (a completed step that is
        // allowed to start again begins with a fresh one).
        step.context = prev.context;
    }
    step.context.put(
        "batch.stepType",
        json!("org.springframework.batch.core.step.tasklet.TaskletStep"),
    );
    step.context.put(
        "batch.taskletType",
        json!("org.springframework.batch.core.step.item.ChunkOrientedTasklet"),
    );
    step.status = BatchStatus::Started;
    step.start_time = Some(now());
    repo.add_step_execution(&mut step).await?;
    listener.step_started(&step_plan.name);

    let span = info_span!("batch.step", step = %step_plan.name, step_execution_id = step.id);
    let mut ft_state = FtState::default();
    let outcome = ChunkLoop::new(plan, step_plan, repo, runtime, listener, clock, stop)
        .run(&mut step, &mut ft_state)
        .instrument(span.clone())
        .await;
    let _enter = span.enter();
    match outcome {
        Ok(()) => {
            step.status = BatchStatus::Completed;
            step.exit_status = match &step_plan.exit_status_on_skips {
                Some(code) if step.skip_count() > 0 => ExitStatus {
                    code: code.clone(),
                    description: format!("{} item(s) skipped", step.skip_count()),
                },
                _ => ExitStatus::completed(),
            };
            info!(
                read = step.read_count,
                written = step.write_count,
                filtered = step.filter_count,
                commits = step.commit_count,
                "step completed"
            );
        }
        Err(StepFailure::Stopped) => {
            info!("step stopped on request after its last committed chunk");
            step.status = BatchStatus::Stopped;
            step.exit_status = ExitStatus::stopped()
                .with_description("stopped on request; run the same command to restart");
        }
        Err(StepFailure::Plugin(message)) => {
            warn!(%message, "step failed");
            step.status = BatchStatus::Failed;
            step.exit_status = ExitStatus::failed().with_description(message);
        }
        Err(StepFailure::Repository(repo_error)) => return Err(repo_error),
    }
    step.end_time = Some(now());
    repo.update_step_execution(&mut step).await?;
    Ok(StepReport {
        execution: step,
        already_complete: false,
        duration: started_at.elapsed(),
        skips: ft_state.skips,
    })
}
