//! `engine` → flow → step: one step execution of a chunk or tasklet step, from Spring's
//! `shouldStart` checks (already complete, start limit, restart context) to its final status.

use std::time::Instant;

use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use super::Run;
use super::chunk::{ChunkLoop, ChunkSettings, FtState, completed_exit};
use super::failure::StepFailure;
use super::plugins::{open_grant, resolve_configs, start_chunk, step_plugins};
use super::report::StepReport;
use super::tasklet::TaskletRun;
use crate::domain::{BatchStatus, ExecutionContext, ExitStatus, JobExecution, StepExecution, now};
use crate::plan::{StepKind, StepPlan};
use crate::repository::{JobRepository, RepositoryError};

/// Runs one step of `execution`, or reports it as already complete (Spring's
/// `SimpleStepHandler.shouldStart`): a step that COMPLETED in an earlier execution of the same
/// JobInstance is not run again; a step that failed restarts with its last committed context.
pub(super) async fn run_step<R: JobRepository>(
    run: Run<'_, R>,
    step_plan: &StepPlan,
    execution: &JobExecution,
    job_context: &ExecutionContext,
) -> Result<StepReport, RepositoryError> {
    run_step_as(
        run,
        step_plan,
        &step_plan.name,
        Seed::None,
        execution,
        job_context,
    )
    .await
}

/// The context a step execution begins with, besides what [`run_step`] restores.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seed<'a> {
    /// Only what an earlier execution committed.
    None,
    /// This one when the step did not run before (a partition's context).
    Fresh(&'a ExecutionContext),
    /// This one whatever ran before (a partition taken over from a worker that died).
    Resume(&'a ExecutionContext),
}

/// [`run_step`] under the execution name `name` — a partition's worker runs as
/// `worker:partitionN` — beginning with `seed`. `${partition.KEY}` in its configs reads the
/// step context's `partition.KEY`.
pub(super) async fn run_step_as<R: JobRepository>(
    run: Run<'_, R>,
    step_plan: &StepPlan,
    name: &str,
    seed: Seed<'_>,
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
        .last_step_execution(&execution.instance, name)
        .await?
        .filter(|p| p.job_execution_id != execution.id);
    if let Some(prev) = &previous
        && (prev.status == BatchStatus::Abandoned
            || (prev.status == BatchStatus::Completed && !step_plan.allow_start_if_complete))
    {
        info!(step = %name, "step already complete; not running it again");
        return Ok(StepReport {
            execution: prev.clone(),
            already_complete: true,
            duration: started_at.elapsed(),
            skips: Default::default(),
            refused: None,
        });
    }

    let mut step = StepExecution::new(execution.id, name, now());
    step.plugins = step_plugins(step_plan);
    if let Some(limit) = step_plan.start_limit {
        let started = repo.step_execution_count(&execution.instance, name).await?;
        if started >= limit {
            // Spring's StartLimitExceededException (SimpleStepHandler#shouldStart): thrown
            // before a step execution is created, so none is recorded; the job fails.
            let why = format!(
                "start limit {limit} exceeded: step `{name}` already ran {started} time(s) in this job instance"
            );
            step.status = BatchStatus::Failed;
            step.exit_status = ExitStatus::failed().with_description(why.clone());
            return Ok(StepReport {
                execution: step,
                already_complete: false,
                duration: started_at.elapsed(),
                skips: Default::default(),
                refused: Some(why),
            });
        }
    }
    match (seed, previous) {
        (Seed::Resume(ctx), _) => step.context = ctx.clone(),
        (_, Some(prev)) if prev.status != BatchStatus::Completed => {
            // Restart: resume from the last committed ExecutionContext (a completed step that
            // is allowed to start again begins with a fresh one).
            step.context = prev.context;
        }
        (Seed::Fresh(ctx), _) => step.context = ctx.clone(),
        _ => {}
    }
    let partition_context;
    let job_context = if step
        .context
        .iter()
        .any(|(k, _)| k.starts_with("partition."))
    {
        partition_context = with_partition(job_context, &step.context);
        &partition_context
    } else {
        job_context
    };
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
    listener.step_started(name);

    let span = info_span!("batch.step", step = %name, step_execution_id = step.id);
    let mut ft_state = FtState::default();
    let mut plugin_exit = None;
    let grant =
        resolve_configs(plan, step_plan, job_context).and_then(|()| open_grant(plan, step_plan));
    let outcome = match grant {
        Err(failure) => Err(failure),
        Ok(grant) => match &step_plan.kind {
            StepKind::Chunk(chunk) => {
                let chunk_loop = ChunkLoop {
                    repo,
                    listener,
                    clock: run.clock,
                    stop: run.stop,
                    settings: ChunkSettings {
                        step_name: name,
                        size: chunk.chunk_size,
                        fault_tolerance: chunk.fault_tolerance.as_ref(),
                        exit_status_on_skips: step_plan.exit_status_on_skips.as_deref(),
                    },
                };
                async {
                    let mut plugins =
                        start_chunk(&run, &grant, step_plan, chunk, job_context, &step.context)
                            .await?;
                    chunk_loop.run(&mut plugins, &mut step, &mut ft_state).await
                }
                .instrument(span.clone())
                .await
                .map(|exit| plugin_exit = exit)
            }
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
            StepKind::Decider(_) | StepKind::Split(_) | StepKind::Partition(_) => {
                unreachable!("the flow runs deciders, splits and partitioned steps itself")
            }
        },
    };
    let _enter = span.enter();
    match outcome {
        Ok(()) => {
            step.status = BatchStatus::Completed;
            step.exit_status = plugin_exit.unwrap_or_else(|| {
                completed_exit(step_plan.exit_status_on_skips.as_deref(), &step)
            });
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
        Err(StepFailure::Plugin(failure)) => {
            let message = failure.to_string();
            warn!(reason = %message, role = %failure.role, plugin = %failure.plugin, "step failed");
            step.status = BatchStatus::Failed;
            step.exit_status = ExitStatus::failed().with_description(message);
        }
        Err(StepFailure::Setup(message)) => {
            warn!(reason = %message, "step failed");
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
        refused: None,
    })
}

/// The job context with the partition keys of a worker's step context added, which is where
/// `${partition.KEY}` placeholders read them.
fn with_partition(job_context: &ExecutionContext, step: &ExecutionContext) -> ExecutionContext {
    let mut out = job_context.clone();
    for (key, v) in step.iter().filter(|(k, _)| k.starts_with("partition.")) {
        out.put(key, v.clone());
    }
    out
}
