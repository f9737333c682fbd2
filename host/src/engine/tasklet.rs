//! `engine` → step → tasklet: the plugin's `execute` is called until it returns FINISHED; each
//! call is one transaction that commits the step's ExecutionContext and `COMMIT_COUNT`.

use tracing::debug;

use super::Run;
use super::failure::{Call, PluginFailure, StepFailure};
use super::plugins::{not_instantiated, plugin_sandbox, plugin_setup, stop_requested};
use crate::domain::{ExecutionContext, ExitStatus, Role, StepExecution};
use crate::plan::{PluginPlan, StepPlan};
use crate::plugin::Grant;
use crate::plugin::{RepeatStatus, TaskletInstance};
use crate::repository::JobRepository;

/// Context keys the host owns; a tasklet cannot change them.
const HOST_PREFIX: &str = "batch.";

pub(super) struct TaskletRun<'a, R> {
    pub(super) run: Run<'a, R>,
    pub(super) grant: &'a Grant,
    pub(super) step: &'a StepPlan,
    pub(super) tasklet: &'a PluginPlan,
    pub(super) job_context: &'a ExecutionContext,
}

impl<R: JobRepository> TaskletRun<'_, R> {
    /// Runs the tasklet to FINISHED; returns the exit status it chose, if any.
    pub(super) async fn run(
        &self,
        step: &mut StepExecution,
    ) -> Result<Option<ExitStatus>, StepFailure> {
        let Run {
            plan,
            repo,
            listener,
            stop,
            ..
        } = self.run;
        let plugin = self.tasklet;
        let setup =
            plugin_setup(plan, self.step, plugin, self.job_context).map_err(StepFailure::Setup)?;
        let sandbox = plugin_sandbox(&self.run, self.step, self.grant, Role::Tasklet, plugin);
        let fail = |call, e: &_| PluginFailure::of(Role::Tasklet, &plugin.label, call, e);
        let mut instance = TaskletInstance::new(&plugin.prepared, &sandbox)
            .await
            .map_err(|e| not_instantiated(Role::Tasklet, &plugin.label, Call::Instantiate, e))?;
        instance
            .init(&setup)
            .await
            .map_err(|e| fail(Call::Init, &e))?;
        loop {
            let call = step.commit_count + 1;
            let out = match instance.execute(&step.context).await {
                Ok(out) => out,
                Err(e) => {
                    step.rollback_count += 1;
                    return Err(fail(Call::Execute { call }, &e));
                }
            };
            let mut context = ExecutionContext::new();
            for (k, v) in out
                .context
                .iter()
                .filter(|(k, _)| !k.starts_with(HOST_PREFIX))
            {
                context.put(k, v.clone());
            }
            for (k, v) in step
                .context
                .iter()
                .filter(|(k, _)| k.starts_with(HOST_PREFIX))
            {
                context.put(k, v.clone());
            }
            step.context = context;
            step.commit_count += 1;
            if let Err(e) = repo.commit_chunk(step, &[], &[]).await {
                step.commit_count -= 1;
                return Err(e.into());
            }
            debug!(call, repeat = ?out.repeat, "tasklet call committed");
            listener.chunk_committed(step);
            if out.repeat == RepeatStatus::Finished {
                return Ok(out.exit_status);
            }
            if stop_requested(repo, stop, step.job_execution_id).await? {
                return Err(StepFailure::Stopped);
            }
        }
    }
}
