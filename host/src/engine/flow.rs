//! `engine` → launcher → flow: which step runs next (Spring Batch's `FlowJob`).
//!
//! A flow is a list of steps. Without `next`, a step that COMPLETED hands over to the next step
//! of its flow, and any other status ends the flow with that status (Spring's `SimpleJob`). With
//! `next`, the step's exit code picks a transition (the most specific pattern wins): go on `to`
//! another step, `end` the job, `fail` it or `stop` it. Deciders are asked instead of run, and
//! record no step execution. A split runs its flows concurrently on this task: plugin calls yield
//! at every epoch tick, so branches interleave even while one of them computes.

use std::sync::Mutex;

use futures::future::join_all;
use tracing::{info, warn};

use super::Run;
use super::failure::StepFailure;
use super::partition::run_partitioned;
use super::plugins::{open_grant, plugin_sandbox, plugin_setup};
use super::report::StepReport;
use super::step::run_step;
use crate::domain::{
    BatchStatus, ExecutionContext, ExitStatus, FlowAction, JobExecution, Role, StepExecution,
    select,
};
use crate::plan::{PluginPlan, StepKind, StepPlan};
use crate::plugin::DeciderInstance;
use crate::repository::{JobRepository, RepositoryError};

/// How a flow ended.
#[derive(Debug, Clone)]
pub(super) struct FlowEnd {
    /// The flow's (and, for the main flow, the job's) BatchStatus.
    pub(super) status: BatchStatus,
    /// Its exit status.
    pub(super) exit: ExitStatus,
    /// For `stop` with `restart-at`: the step a restart begins at.
    pub(super) restart_at: Option<String>,
}

impl FlowEnd {
    fn new(status: BatchStatus, exit: ExitStatus) -> Self {
        FlowEnd {
            status,
            exit,
            restart_at: None,
        }
    }
}

/// Runs flows of one job execution.
pub(super) struct FlowRunner<'a, R> {
    pub(super) run: Run<'a, R>,
    pub(super) execution: &'a JobExecution,
    /// The job's ExecutionContext, shared by concurrent split flows.
    pub(super) job_context: Mutex<ExecutionContext>,
    /// Every step handled, in the order they ended.
    pub(super) reports: Mutex<Vec<StepReport>>,
    /// The transitions taken, as `step EXIT → target`, for the end-of-run summary.
    pub(super) route: Mutex<Vec<String>>,
}

impl<R: JobRepository> FlowRunner<'_, R> {
    fn context(&self) -> ExecutionContext {
        self.job_context
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn stop_requested(&self) -> Result<bool, RepositoryError> {
        Ok(self.run.stop.is_requested()
            || self.run.repo.execution_status(self.execution.id).await?
                == Some(BatchStatus::Stopping))
    }

    /// Runs `flow` from position `start` until it ends.
    pub(super) async fn run(
        &self,
        flow: &[usize],
        start: usize,
    ) -> Result<FlowEnd, RepositoryError> {
        let mut pos = start;
        let mut last: Option<StepExecution> = None;
        loop {
            let Some(&index) = flow.get(pos) else {
                return Ok(FlowEnd::new(
                    BatchStatus::Completed,
                    ExitStatus::completed(),
                ));
            };
            let step = &self.run.plan.steps[index];
            if self.stop_requested().await? {
                return Ok(FlowEnd::new(
                    BatchStatus::Stopped,
                    ExitStatus::stopped().with_description(format!(
                        "stopped on request before step `{}`; run the same command to restart",
                        step.name
                    )),
                ));
            }
            let (status, exit, execution) = match &step.kind {
                StepKind::Chunk(_) | StepKind::Tasklet(_) | StepKind::Partition(_) => {
                    let report = match &step.kind {
                        StepKind::Partition(p) => {
                            run_partitioned(self.run, step, p, self.execution, &self.context())
                                .await?
                        }
                        _ => run_step(self.run, step, self.execution, &self.context()).await?,
                    };
                    if let Some(why) = report.refused {
                        // Not a step outcome to route on: the job fails (no transition applies).
                        warn!(step = %step.name, reason = %why, "step refused");
                        return Ok(FlowEnd::new(
                            BatchStatus::Failed,
                            ExitStatus::failed().with_description(why),
                        ));
                    }
                    self.run.listener.step_finished(&report);
                    let e = report.execution.clone();
                    if e.status == BatchStatus::Completed {
                        let mut ctx = self.job_context.lock().unwrap_or_else(|e| e.into_inner());
                        for key in &step.promote {
                            if let Some(v) = e.context.get(key) {
                                ctx.put(key.clone(), v.clone());
                            }
                        }
                    }
                    let fresh = !report.already_complete;
                    self.reports
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(report);
                    last = Some(e.clone());
                    (e.status, e.exit_status.clone(), fresh.then_some(e))
                }
                StepKind::Decider(decider) => match self.decide(step, decider, last.as_ref()).await
                {
                    Ok(code) => {
                        info!(decider = %step.name, status = %code, "decider answered");
                        (
                            BatchStatus::Completed,
                            ExitStatus {
                                code,
                                description: String::new(),
                            },
                            None,
                        )
                    }
                    Err(message) => {
                        warn!(decider = %step.name, reason = %message, "decider failed");
                        return Ok(FlowEnd::new(
                            BatchStatus::Failed,
                            ExitStatus::failed().with_description(format!(
                                "decider `{}` failed: {message}",
                                step.name
                            )),
                        ));
                    }
                },
                StepKind::Split(branches) => {
                    let end = self.split(step, branches).await?;
                    (end.status, end.exit, None)
                }
            };
            // A stop request ends the job whatever the transitions say. (A split may also end
            // STOPPED because one of its flows took a `stop` transition; that one is routed.)
            if status == BatchStatus::Stopped && !matches!(step.kind, StepKind::Split(_)) {
                return Ok(FlowEnd::new(status, exit));
            }
            let Some(transitions) = &step.next else {
                if status != BatchStatus::Completed {
                    let exit = ExitStatus {
                        code: exit.code,
                        description: format!("step `{}` failed: {}", step.name, exit.description),
                    };
                    return Ok(FlowEnd::new(status, exit));
                }
                if pos + 1 == flow.len() {
                    return Ok(FlowEnd::new(BatchStatus::Completed, exit));
                }
                pos += 1;
                continue;
            };
            let Some(transition) = select(transitions, &exit.code) else {
                return Ok(FlowEnd::new(
                    BatchStatus::Failed,
                    ExitStatus::failed().with_description(format!(
                        "no transition of step `{}` matches its exit code `{}`; add one to its `next`",
                        step.name, exit.code
                    )),
                ));
            };
            info!(step = %step.name, exit_code = %exit.code, on = %transition.pattern, "transition");
            self.route
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!(
                    "{}{} {} → {}",
                    step.name,
                    if matches!(step.kind, StepKind::Decider(_)) {
                        " (decider)"
                    } else {
                        ""
                    },
                    exit.code,
                    self.run.plan.describe(&transition.action)
                ));
            match &transition.action {
                FlowAction::To(target) => {
                    // Spring abandons a failed step the flow moved past, so that a restart
                    // does not run it again but follows the same transition.
                    if let Some(mut failed) = execution
                        && failed.status == BatchStatus::Failed
                    {
                        failed.status = BatchStatus::Abandoned;
                        self.run.repo.update_step_execution(&mut failed).await?;
                    }
                    pos = flow
                        .iter()
                        .position(|i| i == target)
                        .expect("plan checks that `to` stays in the flow");
                }
                FlowAction::End { status, exit_code } => {
                    return Ok(FlowEnd::new(
                        *status,
                        ExitStatus {
                            code: exit_code.clone(),
                            description: format!(
                                "ended by the transition `{}` of step `{}` (exit code {}){}",
                                transition.pattern,
                                step.name,
                                exit.code,
                                if exit.description.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {}", exit.description)
                                }
                            ),
                        },
                    ));
                }
                FlowAction::Stop {
                    restart_at,
                    exit_code,
                } => {
                    let restart_at = restart_at.map(|i| self.run.plan.steps[i].name.clone());
                    return Ok(FlowEnd {
                        status: BatchStatus::Stopped,
                        exit: ExitStatus {
                            code: exit_code.clone(),
                            description: match &restart_at {
                                Some(r) => format!(
                                    "stopped by the transition `{}` of step `{}`; a restart begins at `{r}`",
                                    transition.pattern, step.name
                                ),
                                None => format!(
                                    "stopped by the transition `{}` of step `{}`",
                                    transition.pattern, step.name
                                ),
                            },
                        },
                        restart_at,
                    });
                }
            }
        }
    }

    /// Runs the flows of a split concurrently and combines how they ended: the most severe
    /// status wins (FAILED over STOPPED over COMPLETED), and it is also the exit code.
    async fn split(
        &self,
        step: &StepPlan,
        branches: &[Vec<usize>],
    ) -> Result<FlowEnd, RepositoryError> {
        info!(split = %step.name, flows = branches.len(), "split started");
        let ends = join_all(branches.iter().map(|b| Box::pin(self.run(b, 0)))).await;
        let mut status = BatchStatus::Completed;
        let mut problems = Vec::new();
        for (i, end) in ends.into_iter().enumerate() {
            let end = end?;
            if end.status != BatchStatus::Completed {
                problems.push(format!("flow {}: {}", i + 1, end.exit.description));
            }
            status = status.upgrade_to(end.status);
        }
        let exit = ExitStatus {
            code: status.as_str().to_owned(),
            description: problems.join("; "),
        };
        Ok(FlowEnd::new(status, exit))
    }

    /// Asks a decider; an error (or trap) is the message.
    async fn decide(
        &self,
        step: &StepPlan,
        decider: &PluginPlan,
        last: Option<&StepExecution>,
    ) -> Result<String, String> {
        let context = self.context();
        let setup = plugin_setup(self.run.plan, step, decider, &context)?;
        let grant = open_grant(self.run.plan, step).map_err(|f| match f {
            StepFailure::Setup(message) => message,
            other => format!("{other:?}"),
        })?;
        let sandbox = plugin_sandbox(&self.run, step, &grant, Role::Decider, decider);
        let mut instance = DeciderInstance::new(&decider.prepared, &sandbox)
            .await
            .map_err(|e| format!("{} cannot be instantiated: {e:#}", decider.label))?;
        instance
            .init(&setup)
            .await
            .map_err(|e| format!("{} init: {e}", decider.label))?;
        instance
            .decide(&context, last)
            .await
            .map_err(|e| format!("{}: {e}", decider.label))
    }
}
