//! `engine` → step → chunk loop: read up to `size` items → process → write → commit the step's
//! counters and ExecutionContext in one repository transaction.
//!
//! Two loops share this module's transaction steps: [`simple`] is Spring's non-fault-tolerant
//! step (any error rolls the chunk back and fails the step), [`fault_tolerant`] applies
//! skip/retry/no-rollback. Both mirror Spring Batch's `TaskletStep` transaction order:
//! `before-chunk`, read/process/write, apply the contribution, `update()` the streams, persist,
//! `commit_count += 1`, commit, then `after-chunk`; on failure the contribution is still
//! applied, `rollback_count += 1` and `after-chunk-error` runs.
//!
//! The loops see the step's plugins only through [`Plugins`], so they run the same against
//! components and against readers, processors and writers in the host (the unit tests' seam).

#[cfg(test)]
mod conformance;
mod fault_tolerant;
mod simple;
#[cfg(test)]
mod tests;

use serde_json::json;
use tracing::{debug, warn};

pub(crate) use fault_tolerant::FtState;

use super::failure::{Call, StepFailure};
use super::plugins::{Plugins, stop_requested};
use super::report::RunListener;
use super::{Clock, StopFlag};
use crate::domain::{ExitStatus, Role, SkippedItem, StepExecution};
use crate::policy::FaultTolerance;
use crate::repository::JobRepository;

/// The context key that records how many read outcomes came before the committed position, so
/// item positions (in messages and the dead-letter table) count from the start of the input on
/// a restart too.
pub(crate) const READ_BASE: &str = "batch.read.outcomes";

/// What the loop needs to know about its step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkSettings<'a> {
    /// The step's name, for progress.
    pub(crate) step_name: &'a str,
    /// Items per chunk.
    pub(crate) size: u32,
    /// Skip/retry/no-rollback rules; `None` runs the simple loop.
    pub(crate) fault_tolerance: Option<&'a FaultTolerance>,
    /// The exit code of a step that completed with skips.
    pub(crate) exit_status_on_skips: Option<&'a str>,
}

/// A chunk step's loop over its plugins, with its collaborators.
pub(crate) struct ChunkLoop<'a, R> {
    pub(crate) repo: &'a R,
    pub(crate) listener: &'a dyn RunListener,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) stop: &'a StopFlag,
    pub(crate) settings: ChunkSettings<'a>,
}

/// The exit status of a step that completed, before plugins have their say: `COMPLETED`, or
/// `exit-status-on-skips` when items were skipped.
pub(crate) fn completed_exit(
    exit_status_on_skips: Option<&str>,
    step: &StepExecution,
) -> ExitStatus {
    match exit_status_on_skips {
        Some(code) if step.skip_count() > 0 => ExitStatus {
            code: code.to_owned(),
            description: format!("{} item(s) skipped", step.skip_count()),
        },
        _ => ExitStatus::completed(),
    }
}

impl<R: JobRepository> ChunkLoop<'_, R> {
    /// Runs the step to completion or failure, then closes the plugins. `step` is updated in
    /// place and, at every commit, persisted; on failure its context is the last committed one.
    /// On success, returns the exit status a reader or writer set in `after-step`.
    pub(crate) async fn run(
        &self,
        plugins: &mut Plugins,
        step: &mut StepExecution,
        st: &mut FtState,
    ) -> Result<Option<ExitStatus>, StepFailure> {
        let result = match self.settings.fault_tolerance {
            Some(ft) => self.fault_tolerant(ft).run(plugins, step, st).await,
            None => self.simple(plugins, step).await,
        };
        let mut exit = None;
        if result.is_ok() {
            // Spring's afterStep: the plugins see the completed step and may set its exit
            // status; the writer's answer wins. A failing listener is logged, as Spring does.
            let mut done = step.clone();
            done.status = crate::domain::BatchStatus::Completed;
            done.exit_status = completed_exit(self.settings.exit_status_on_skips, step);
            for (role, answer) in [
                (Role::Reader, plugins.reader.after_step(&done).await),
                (Role::Writer, plugins.writer.after_step(&done).await),
            ] {
                match answer {
                    Ok(Some(status)) => exit = Some(status),
                    Ok(None) => {}
                    Err(e) => {
                        warn!(role = %role, error = %e, "after-step failed; keeping the exit status")
                    }
                }
            }
        }
        // Close the streams whatever happened (Spring closes last, collecting errors).
        let closed_reader = plugins.reader.close().await;
        let closed_writer = plugins.writer.close().await;
        result?;
        closed_reader.map_err(|e| plugins.failure(Role::Reader, Call::Close, &e))?;
        closed_writer.map_err(|e| plugins.failure(Role::Writer, Call::Close, &e))?;
        Ok(exit)
    }

    /// Commits one chunk transaction: `COMMIT_COUNT += 1`, counters, context and the chunk's
    /// skipped items in one repository transaction, then the writer's `after-chunk`. Ends the
    /// loop with [`StepFailure::Stopped`] when a stop was requested.
    pub(super) async fn commit_transaction(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
        skipped: &[SkippedItem],
    ) -> Result<(), StepFailure> {
        step.commit_count += 1;
        let rows = p.writer.staged_rows().to_vec();
        if let Err(e) = self.repo.commit_chunk(step, skipped, &rows).await {
            // The outcome is unknown: the connection can drop after the database committed.
            // So the writer is not told to roll back (a file writer would cut away bytes the
            // repository may already count as committed); the step fails, and the restart's
            // `open` cuts every output back to whichever checkpoint the repository holds.
            step.commit_count -= 1;
            return Err(e.into());
        }
        p.writer
            .after_chunk()
            .await
            .map_err(|e| p.failure(Role::Writer, Call::AfterCommit, &e))?;
        debug!(
            read = step.read_count,
            written = step.write_count,
            commits = step.commit_count,
            "chunk committed"
        );
        self.listener.chunk_committed(step);
        // Stop requests are honoured at chunk boundaries.
        if stop_requested(self.repo, self.stop, step.job_execution_id).await? {
            return Err(StepFailure::Stopped);
        }
        Ok(())
    }

    /// Counts a rollback and tells the writer.
    pub(super) async fn roll_back(&self, p: &mut Plugins, step: &mut StepExecution) {
        step.rollback_count += 1;
        if let Err(e) = p.writer.after_chunk_error().await {
            warn!(error = %e, "writer failed in after-chunk-error");
        }
    }

    /// Asks reader and writer for their state; on success `step.context` holds it.
    pub(super) async fn save_streams(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
    ) -> Result<(), StepFailure> {
        let reader = p.reader_state().await?;
        let writer = p.writer_state().await?;
        step.context.replace_scope("reader", reader);
        step.context.replace_scope("writer", writer);
        step.context
            .put("batch.version", json!(env!("CARGO_PKG_VERSION")));
        Ok(())
    }
}
