use std::time::Instant;

use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use super::Run;
use super::chunk::{ChunkLoop, StepFailure, open_grant, plugin_setup};
use super::ft::FtState;
use super::launcher::StepReport;
use super::tasklet::TaskletRun;
use crate::domain::{BatchStatus, ExecutionContext, ExitStatus, JobExecution, StepExecution, now};
use crate::plan::{JobPlan, PluginPlan, ReaderPlan, StepKind, StepPlan, WriterPlan};
use crate::repository::{JobRepository, RepositoryError};

/// The components a step runs, by role: (role, label, digest).
pub(super) fn plugin_digests(step: &StepPlan) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let component =
        |role: &str, p: &PluginPlan| (role.to_owned(), p.label.clone(), p.digest.clone());
    let builtin =
        |role: &str, label: &str| (role.to_owned(), label.to_owned(), "builtin".to_owned());
    match &step.kind {
        StepKind::Chunk(chunk) => {
            match &chunk.reader {
                ReaderPlan::Component(p) => out.push(component("reader", p)),
                ReaderPlan::SkippedItems(_) => out.push(builtin("reader", chunk.reader.label())),
            }
            if let Some(p) = &chunk.processor {
                out.push(component("processor", p));
            }
            match &chunk.writer {
                WriterPlan::Component(p) => out.push(component("writer", p)),
                WriterPlan::SqlTable { .. } => out.push(builtin("writer", chunk.writer.label())),
            }
        }
        StepKind::Tasklet(p) => out.push(component("tasklet", p)),
        StepKind::Decider(p) => out.push(component("decider", p)),
        StepKind::Split(_) => {}
    }
    out
}

/// Runs one step of `execution`, or reports it as already complete (Spring's
/// `SimpleStepHandler.shouldStart`): a step that COMPLETED in an earlier execution of the same
/// JobInstance is not run again; a step that failed restarts with its last committed context.
pub(super) async fn run_step<R: JobRepository>(
    run: Run<'_, R>,
    step_plan: &StepPlan,
    execution: &JobExecution,
    job_context: &ExecutionContext,
) -> Result<StepReport, RepositoryError> {
    let Run {
        plan,
        repo,
        listener,
        ..
    } = run;
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
        json!(match &step_plan.kind {
            StepKind::Chunk(_) => "org.springframework.batch.core.step.item.ChunkOrientedTasklet",
            _ => "batch-host tasklet component",
        }),
    );
    step.status = BatchStatus::Started;
    step.start_time = Some(now());
    repo.add_step_execution(&mut step).await?;
    listener.step_started(&step_plan.name);

    let span = info_span!("batch.step", step = %step_plan.name, step_execution_id = step.id);
    let mut ft_state = FtState::default();
    let mut plugin_exit = None;
    let grant = resolve_configs(plan, step_plan, job_context)
        .map_err(StepFailure::Plugin)
        .and_then(|()| open_grant(plan, step_plan));
    let outcome = match grant {
        Err(failure) => Err(failure),
        Ok(grant) => match &step_plan.kind {
            StepKind::Chunk(chunk) => ChunkLoop::new(run, &grant, step_plan, chunk, job_context)
                .run(&mut step, &mut ft_state)
                .instrument(span.clone())
                .await
                .map(|exit| plugin_exit = exit),
            StepKind::Tasklet(tasklet) => {
                let tasklet_run = TaskletRun {
                    run,
                    grant: &grant,
                    step: step_plan,
                    tasklet,
                    job_context,
                };
                tasklet_run
                    .run(&mut step)
                    .instrument(span.clone())
                    .await
                    .map(|exit| plugin_exit = exit)
            }
            StepKind::Decider(_) | StepKind::Split(_) => {
                unreachable!("the flow runs deciders and splits itself")
            }
        },
    };
    let _enter = span.enter();
    match outcome {
        Ok(()) => {
            step.status = BatchStatus::Completed;
            step.exit_status = plugin_exit.unwrap_or_else(|| completed_exit(step_plan, &step));
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
        Err(StepFailure::Interrupted) => {
            info!("step interrupted by a second stop signal; its chunk in progress rolled back");
            step.status = BatchStatus::Stopped;
            step.exit_status = ExitStatus::stopped().with_description(
                "interrupted by a second stop signal during a plugin call; the chunk in progress rolled back; run the same command to restart",
            );
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

/// Resolves the `${…}` placeholders of every plugin config of the step, so a missing
/// `job.context` key fails the step before any plugin starts.
fn resolve_configs(
    plan: &JobPlan,
    step: &StepPlan,
    job_context: &ExecutionContext,
) -> Result<(), String> {
    let mut plugins: Vec<&PluginPlan> = Vec::new();
    match &step.kind {
        StepKind::Chunk(chunk) => {
            if let ReaderPlan::Component(p) = &chunk.reader {
                plugins.push(p);
            }
            plugins.extend(chunk.processor.as_ref());
            if let WriterPlan::Component(p) = &chunk.writer {
                plugins.push(p);
            }
        }
        StepKind::Tasklet(p) | StepKind::Decider(p) => plugins.push(p),
        StepKind::Split(_) => {}
    }
    for p in plugins {
        plugin_setup(plan, step, p, job_context)?;
    }
    Ok(())
}

/// The exit status of a step that completed, before plugins have their say: `COMPLETED`, or
/// `exit-status-on-skips` when items were skipped.
pub(super) fn completed_exit(step_plan: &StepPlan, step: &StepExecution) -> ExitStatus {
    match &step_plan.exit_status_on_skips {
        Some(code) if step.skip_count() > 0 => ExitStatus {
            code: code.clone(),
            description: format!("{} item(s) skipped", step.skip_count()),
        },
        _ => ExitStatus::completed(),
    }
}
