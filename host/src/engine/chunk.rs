//! The chunk loop: read up to `size` items → process them (one batched call) → write → commit
//! the step's counters and ExecutionContext in one repository transaction.
//!
//! Without fault tolerance any plugin error or trap rolls the chunk back and fails the step
//! (Spring's non-fault-tolerant step: one rollback, then FAILED). The loop mirrors Spring Batch's
//! `TaskletStep` transaction order: `before-chunk`, read/process/write, apply the contribution,
//! `update()` the streams, persist, `commit_count += 1`, commit, then `after-chunk`; on failure
//! the contribution is still applied, `rollback_count += 1` and `after-chunk-error` runs.

use serde_json::json;
use tracing::{debug, warn};

use super::ft::FtState;
use super::launcher::RunListener;
use super::reader::StepReader;
use super::writer::StepWriter;
use super::{Clock, Run, StopFlag};
use crate::domain::{ExecutionContext, ExitStatus, SkippedItem, StepContribution, StepExecution};
use crate::plan::{ChunkPlan, JobPlan, PluginPlan, ReaderPlan, StepPlan, WriterPlan};
use crate::plugin::{
    Grant, PluginError, ProcessOutcome, ProcessorInstance, ReaderInstance, Setup, WriterInstance,
};
use crate::repository::{JobRepository, RepositoryError};

/// Why the loop stopped early.
#[derive(Debug)]
pub(crate) enum StepFailure {
    /// A plugin failed; the message names the plugin, the item and the error.
    Plugin(String),
    /// The repository failed.
    Repository(RepositoryError),
    /// A stop was requested; the last chunk committed.
    Stopped,
    /// The process was interrupted (a second stop signal) during a plugin call; the chunk in
    /// progress rolled back.
    Interrupted,
}

impl From<RepositoryError> for StepFailure {
    fn from(e: RepositoryError) -> Self {
        StepFailure::Repository(e)
    }
}

/// Formats a plugin error for the step's exit message.
/// Anything with a label for messages: a plugin or a reader plan.
pub(super) trait Labelled {
    fn label(&self) -> &str;
}

impl Labelled for PluginPlan {
    fn label(&self) -> &str {
        &self.label
    }
}

impl Labelled for ReaderPlan {
    fn label(&self) -> &str {
        ReaderPlan::label(self)
    }
}

impl Labelled for WriterPlan {
    fn label(&self) -> &str {
        WriterPlan::label(self)
    }
}

pub(super) fn failure(
    role: &str,
    plugin: &impl Labelled,
    what: String,
    e: &PluginError,
) -> StepFailure {
    if matches!(e, PluginError::Interrupted) {
        return StepFailure::Interrupted;
    }
    let e = e.to_item_error();
    StepFailure::Plugin(format!(
        "{role} {} {what}: {}: {}",
        plugin.label(),
        e.kind,
        e.message
    ))
}

/// What a plugin of `step` learns in `init`: its config with `${…}` resolved against the job
/// parameters and `job_context`.
pub(super) fn plugin_setup(
    plan: &JobPlan,
    step: &StepPlan,
    plugin: &PluginPlan,
    job_context: &ExecutionContext,
) -> Result<Setup, String> {
    let config = crate::domain::substitute(&plugin.config, &plan.params, job_context)
        .map_err(|e| format!("{} config: {e}", plugin.label))?;
    Ok(Setup {
        config,
        params: plan.params.clone(),
        job_name: plan.name.clone(),
        step_name: step.name.clone(),
    })
}

/// Opens the directory `step` grants its plugins, as it is now (see [`Grant`]).
pub(super) fn open_grant(plan: &JobPlan, step: &StepPlan) -> Result<Grant, StepFailure> {
    Grant::open(
        &plan.workdir,
        step.directory.as_deref().unwrap_or(&plan.workdir),
    )
    .map_err(|e| StepFailure::Plugin(e.to_string()))
}

/// The sandbox of one plugin instance of `step`.
pub(super) fn plugin_sandbox<R>(
    run: &Run<'_, R>,
    step: &StepPlan,
    grant: &Grant,
    role: &str,
    plugin: &PluginPlan,
) -> crate::plugin::Sandbox {
    run.runtime.sandbox(
        grant,
        step.read_only,
        format!("{}/{role} {}", step.name, plugin.label),
        step.limits,
        run.stop.interrupt_handle(),
    )
}

/// The step's plugin instances.
pub(super) struct Plugins {
    pub(super) reader: StepReader,
    pub(super) processor: Option<ProcessorInstance>,
    pub(super) writer: StepWriter,
}

pub(super) struct ChunkLoop<'a, R> {
    pub(super) run: Run<'a, R>,
    /// The step's directory grant, opened when it started.
    pub(super) grant: &'a Grant,
    pub(super) plan: &'a JobPlan,
    pub(super) step: &'a StepPlan,
    pub(super) chunk: &'a ChunkPlan,
    /// The job context at step start, for `${job.context.*}` in configs.
    pub(super) job_context: &'a ExecutionContext,
    pub(super) repo: &'a R,
    pub(super) listener: &'a dyn RunListener,
    pub(super) clock: &'a dyn Clock,
    pub(super) stop: &'a StopFlag,
}

/// One chunk's result when it did not fail.
struct ChunkDone {
    /// The reader reported the end of its input.
    end: bool,
}

impl<'a, R: JobRepository> ChunkLoop<'a, R> {
    pub(super) fn new(
        run: Run<'a, R>,
        grant: &'a Grant,
        step: &'a StepPlan,
        chunk: &'a ChunkPlan,
        job_context: &'a ExecutionContext,
    ) -> Self {
        ChunkLoop {
            run,
            grant,
            plan: run.plan,
            step,
            chunk,
            job_context,
            repo: run.repo,
            listener: run.listener,
            clock: run.clock,
            stop: run.stop,
        }
    }

    fn setup(&self, plugin: &PluginPlan) -> Setup {
        // `run_step` resolved every config before the step started, so this cannot fail.
        plugin_setup(self.plan, self.step, plugin, self.job_context).unwrap_or_else(|_| Setup {
            config: plugin.config.clone(),
            params: self.plan.params.clone(),
            job_name: self.plan.name.clone(),
            step_name: self.step.name.clone(),
        })
    }

    fn sandbox(&self, role: &str, plugin: &PluginPlan) -> crate::plugin::Sandbox {
        plugin_sandbox(&self.run, self.step, self.grant, role, plugin)
    }

    /// Replaces a trapped processor with a fresh, initialised instance.
    pub(super) async fn restart_processor(&self, p: &mut Plugins) -> Result<(), StepFailure> {
        let Some(plan) = &self.chunk.processor else {
            return Ok(());
        };
        let mut fresh = ProcessorInstance::new(&plan.prepared, &self.sandbox("processor", plan))
            .await
            .map_err(|e| {
                StepFailure::Plugin(format!(
                    "processor {} cannot be instantiated again after a trap: {e:#}",
                    plan.label
                ))
            })?;
        fresh
            .init(&self.setup(plan))
            .await
            .map_err(|e| failure("processor", plan, "failed in init after a trap".into(), &e))?;
        p.processor = Some(fresh);
        Ok(())
    }

    /// Replaces a trapped writer with a fresh instance opened at the last committed context.
    pub(super) async fn restart_writer(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
    ) -> Result<(), StepFailure> {
        let WriterPlan::Component(plan) = &self.chunk.writer else {
            return Ok(());
        };
        let mut fresh = WriterInstance::new(&plan.prepared, &self.sandbox("writer", plan))
            .await
            .map_err(|e| {
                StepFailure::Plugin(format!(
                    "writer {} cannot be instantiated again after a trap: {e:#}",
                    plan.label
                ))
            })?;
        fresh
            .init(&self.setup(plan))
            .await
            .map_err(|e| failure("writer", plan, "failed in init after a trap".into(), &e))?;
        fresh
            .open(&step.context.scoped("writer"))
            .await
            .map_err(|e| failure("writer", plan, "failed to reopen after a trap".into(), &e))?;
        fresh
            .before_chunk()
            .await
            .map_err(|e| failure("writer", plan, "failed in before-chunk".into(), &e))?;
        p.writer = StepWriter::Wasm(fresh);
        Ok(())
    }

    /// Instantiates, initialises and opens the step's plugins.
    async fn start(&self, ctx: &ExecutionContext) -> Result<Plugins, StepFailure> {
        let s = self.chunk;
        let inst = |role: &str, p: &PluginPlan, e: anyhow::Error| {
            StepFailure::Plugin(format!("{role} {} cannot be instantiated: {e:#}", p.label))
        };
        let mut reader = match &s.reader {
            ReaderPlan::Component(plan) => StepReader::Wasm(
                ReaderInstance::new(&plan.prepared, &self.sandbox("reader", plan))
                    .await
                    .map_err(|e| inst("reader", plan, e))?,
            ),
            ReaderPlan::SkippedItems(config) => StepReader::skipped_items(config.clone()),
        };
        let mut writer = match &s.writer {
            WriterPlan::Component(plan) => StepWriter::Wasm(
                WriterInstance::new(&plan.prepared, &self.sandbox("writer", plan))
                    .await
                    .map_err(|e| inst("writer", plan, e))?,
            ),
            WriterPlan::SqlTable { table } => StepWriter::table(table.clone()),
        };
        let mut processor = match &s.processor {
            Some(p) => Some(
                ProcessorInstance::new(&p.prepared, &self.sandbox("processor", p))
                    .await
                    .map_err(|e| inst("processor", p, e))?,
            ),
            None => None,
        };
        let init = |role, p, e: PluginError| failure(role, p, "failed in init".into(), &e);
        if let ReaderPlan::Component(plan) = &s.reader {
            reader
                .init(&self.setup(plan))
                .await
                .map_err(|e| failure("reader", plan, "failed in init".into(), &e))?;
        }
        if let (Some(proc_), Some(p)) = (processor.as_mut(), s.processor.as_ref()) {
            proc_
                .init(&self.setup(p))
                .await
                .map_err(|e| init("processor", p, e))?;
        }
        if let WriterPlan::Component(plan) = &s.writer {
            writer
                .init(&self.setup(plan))
                .await
                .map_err(|e| failure("writer", plan, "failed in init".into(), &e))?;
        }
        reader
            .open(&ctx.scoped("reader"), self.repo)
            .await
            .map_err(|e| failure("reader", &s.reader, "failed to open".into(), &e))?;
        writer
            .open(&ctx.scoped("writer"))
            .await
            .map_err(|e| failure("writer", &s.writer, "failed to open".into(), &e))?;
        Ok(Plugins {
            reader,
            processor,
            writer,
        })
    }

    /// Runs the step to completion or failure. `step` is updated in place and, at every commit,
    /// persisted; on failure its context is the last committed one.
    /// On success, returns the exit status a reader or writer set in `after-step`.
    pub(super) async fn run(
        &self,
        step: &mut StepExecution,
        st: &mut FtState,
    ) -> Result<Option<ExitStatus>, StepFailure> {
        let mut plugins = self.start(&step.context).await?;
        let result = match &self.chunk.fault_tolerance {
            Some(ft) => self.chunks_ft(&mut plugins, step, ft, st).await,
            None => self.chunks(&mut plugins, step).await,
        };
        let mut exit = None;
        if result.is_ok() {
            // Spring's afterStep: the plugins see the completed step and may set its exit
            // status; the writer's answer wins. A failing listener is logged, as Spring does.
            let mut done = step.clone();
            done.status = crate::domain::BatchStatus::Completed;
            done.exit_status = super::step::completed_exit(self.step, step);
            for (role, answer) in [
                ("reader", plugins.reader.after_step(&done).await),
                ("writer", plugins.writer.after_step(&done).await),
            ] {
                match answer {
                    Ok(Some((code, description))) => exit = Some(ExitStatus { code, description }),
                    Ok(None) => {}
                    Err(e) => warn!(role, error = %e, "after-step failed; keeping the exit status"),
                }
            }
        }
        // Close the streams whatever happened (Spring closes last, collecting errors).
        let s = self.chunk;
        let closed_reader = plugins.reader.close().await;
        let closed_writer = plugins.writer.close().await;
        result?;
        closed_reader.map_err(|e| failure("reader", &s.reader, "failed to close".into(), &e))?;
        closed_writer.map_err(|e| failure("writer", &s.writer, "failed to close".into(), &e))?;
        Ok(exit)
    }

    async fn chunks(&self, p: &mut Plugins, step: &mut StepExecution) -> Result<(), StepFailure> {
        // Before the first chunk: let the streams write their initial state (Spring §8 step 4).
        self.save_streams(p, step).await?;
        self.repo.update_step_execution(step).await?;
        loop {
            let mut contribution = StepContribution::default();
            match self.chunk(p, step, &mut contribution).await {
                Ok(done) => {
                    step.apply(&contribution);
                    if let Err(e) = self.save_streams(p, step).await {
                        self.roll_back(p, step).await;
                        return Err(e);
                    }
                    self.commit_transaction(p, step, &[]).await?;
                    if done.end {
                        return Ok(());
                    }
                }
                Err(e) => {
                    // Spring applies the contribution even when the chunk rolls back.
                    step.apply(&contribution);
                    self.roll_back(p, step).await;
                    return Err(e);
                }
            }
        }
    }

    /// Commits one chunk transaction: `COMMIT_COUNT += 1`, counters, context and the chunk's
    /// skipped items in one repository transaction, then the writer's `after-chunk`.
    pub(super) async fn commit_transaction(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
        skipped: &[SkippedItem],
    ) -> Result<(), StepFailure> {
        step.commit_count += 1;
        let rows = p.writer.staged_rows().to_vec();
        if let Err(e) = self.repo.commit_chunk(step, skipped, &rows).await {
            step.commit_count -= 1;
            self.roll_back(p, step).await;
            return Err(e.into());
        }
        p.writer.after_chunk().await.map_err(|e| {
            failure(
                "writer",
                &self.chunk.writer,
                "failed after a committed chunk".into(),
                &e,
            )
        })?;
        debug!(
            read = step.read_count,
            written = step.write_count,
            commits = step.commit_count,
            "chunk committed"
        );
        self.listener.chunk_committed(step);
        // Stop requests are honoured at chunk boundaries: from this process (signal) or from
        // another one (`batch-host stop`, which marks the execution STOPPING).
        let stopping = self.stop.is_requested()
            || self.repo.execution_status(step.job_execution_id).await?
                == Some(crate::domain::BatchStatus::Stopping);
        if stopping {
            return Err(StepFailure::Stopped);
        }
        Ok(())
    }

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
        let s = self.chunk;
        let reader = p
            .reader
            .update()
            .await
            .map_err(|e| failure("reader", &s.reader, "failed in update".into(), &e))?;
        let writer = p
            .writer
            .update()
            .await
            .map_err(|e| failure("writer", &s.writer, "failed in update".into(), &e))?;
        step.context.replace_scope("reader", reader);
        step.context.replace_scope("writer", writer);
        step.context
            .put("batch.version", json!(env!("CARGO_PKG_VERSION")));
        Ok(())
    }

    /// One chunk: read, process, write. Counters go to `c`.
    async fn chunk(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        c: &mut StepContribution,
    ) -> Result<ChunkDone, StepFailure> {
        let s = self.chunk;
        let size = s.chunk_size as usize;
        p.writer
            .before_chunk()
            .await
            .map_err(|e| failure("writer", &s.writer, "failed in before-chunk".into(), &e))?;

        // Read until the chunk is full or the input ends. An end reported together with a full
        // chunk is noticed by the next chunk, as in Spring (the final empty chunk still commits).
        let mut items: Vec<Vec<u8>> = Vec::with_capacity(size);
        let mut end = false;
        while items.len() < size && !end {
            let want = u32::try_from(size - items.len()).unwrap_or(u32::MAX);
            let batch = p.reader.read_batch(want).await.map_err(|e| {
                let at = step.read_count + c.read_count + 1;
                failure("reader", &s.reader, format!("failed reading item {at}"), &e)
            })?;
            let got_any = !batch.outcomes.is_empty();
            for outcome in batch.outcomes {
                match outcome {
                    Ok(item) if items.len() < size => {
                        items.push(item);
                        c.read_count += 1;
                    }
                    Ok(_) => {
                        return Err(StepFailure::Plugin(format!(
                            "reader {} returned more than the {want} items asked for",
                            s.reader.label()
                        )));
                    }
                    Err(e) => {
                        let at = step.read_count + c.read_count + 1;
                        return Err(StepFailure::Plugin(format!(
                            "reader {} failed reading item {at}: {}: {}",
                            s.reader.label(),
                            e.kind,
                            e.message
                        )));
                    }
                }
            }
            end = batch.end || !got_any;
        }
        let end = end && items.len() < size || items.is_empty();
        if items.is_empty() {
            return Ok(ChunkDone { end });
        }

        // Process the whole chunk in one call.
        let first = step.read_count + 1;
        let outputs = match (&mut p.processor, &s.processor) {
            (Some(proc_), Some(plan)) => {
                let outcomes = proc_.process_batch(&items).await.map_err(|e| {
                    failure(
                        "processor",
                        plan,
                        format!("failed on items {first}-{}", first + items.len() as i64 - 1),
                        &e,
                    )
                })?;
                let mut outputs = Vec::with_capacity(items.len());
                for (i, outcome) in outcomes.into_iter().enumerate() {
                    match outcome {
                        ProcessOutcome::Item(item) => outputs.push(item),
                        ProcessOutcome::Filtered => c.filter_count += 1,
                        ProcessOutcome::Error(e) => {
                            return Err(StepFailure::Plugin(format!(
                                "processor {} failed on item {}: {}: {}",
                                plan.label,
                                first + i as i64,
                                e.kind,
                                e.message
                            )));
                        }
                    }
                }
                outputs
            }
            _ => items,
        };

        if !outputs.is_empty() {
            p.writer.write(&outputs).await.map_err(|e| {
                failure(
                    "writer",
                    &s.writer,
                    format!(
                        "failed writing a chunk of {} items (from item {first})",
                        outputs.len()
                    ),
                    &e,
                )
            })?;
            c.write_count += outputs.len() as i64;
        }
        Ok(ChunkDone { end })
    }
}
