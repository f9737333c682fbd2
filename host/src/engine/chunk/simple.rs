//! `engine` → chunk loop → simple: Spring's non-fault-tolerant chunk step. Any plugin error or
//! trap rolls the chunk back and fails the step (one rollback, then FAILED). The processor sees
//! the whole chunk in one batched call.

use tracing::Instrument as _;

use super::{ChunkLoop, READ_BASE};
use crate::domain::{Role, StepContribution, StepExecution};
use crate::engine::failure::{Call, Cause, PluginFailure, StepFailure};
use crate::engine::plugins::Plugins;
use crate::plugin::ProcessOutcome;
use crate::repository::JobRepository;

/// One chunk's result when it did not fail.
struct ChunkDone {
    /// The reader reported the end of its input.
    end: bool,
}

impl<R: JobRepository> ChunkLoop<'_, R> {
    /// Runs chunk transactions until the input is exhausted or one fails.
    pub(super) async fn simple(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
    ) -> Result<(), StepFailure> {
        // Positions count from the start of the input, also on a restart.
        let base = step
            .context
            .get(READ_BASE)
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        // Before the first chunk: let the streams write their initial state.
        self.save_streams(p, step).await?;
        self.repo.update_step_execution(step).await?;
        loop {
            // One span per chunk transaction (with its commit), for trace export.
            let span = tracing::info_span!("batch.chunk", chunk = step.commit_count + 1);
            let mut contribution = StepContribution::default();
            match self
                .chunk(p, step, base, &mut contribution)
                .instrument(span.clone())
                .await
            {
                Ok(done) => {
                    step.apply(&contribution);
                    if let Err(e) = self.save_streams(p, step).await {
                        self.roll_back(p, step).await;
                        return Err(e);
                    }
                    step.context
                        .put(READ_BASE, serde_json::json!(base + step.read_count));
                    self.commit_transaction(p, step, &[])
                        .instrument(span)
                        .await?;
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

    /// One chunk: read, process, write. Counters go to `c`.
    async fn chunk(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        base: i64,
        c: &mut StepContribution,
    ) -> Result<ChunkDone, StepFailure> {
        let size = self.settings.size as usize;
        p.writer
            .before_chunk()
            .await
            .map_err(|e| p.failure(Role::Writer, Call::BeforeChunk, &e))?;

        // Read until the chunk is full or the input ends. An end reported together with a full
        // chunk is noticed by the next chunk, as in Spring (the final empty chunk still commits).
        let mut items: Vec<Vec<u8>> = Vec::with_capacity(size);
        let mut end = false;
        while items.len() < size && !end {
            let want = u32::try_from(size - items.len()).unwrap_or(u32::MAX);
            let at = base + step.read_count + c.read_count + 1;
            let batch = p
                .reader
                .read_batch(want)
                .await
                .map_err(|e| p.failure(Role::Reader, Call::Read { item: at }, &e))?;
            let got_any = !batch.outcomes.is_empty();
            for outcome in batch.outcomes {
                match outcome {
                    Ok(item) if items.len() < size => {
                        items.push(item);
                        c.read_count += 1;
                    }
                    Ok(_) => {
                        return Err(PluginFailure {
                            role: Role::Reader,
                            plugin: p.labels.reader.clone(),
                            call: Call::TooMany { want },
                            cause: Cause::None,
                            verdict: None,
                        }
                        .into());
                    }
                    Err(e) => {
                        let at = base + step.read_count + c.read_count + 1;
                        let call = Call::Read { item: at };
                        return Err(
                            PluginFailure::item(Role::Reader, &p.labels.reader, call, e).into()
                        );
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
        let first = base + step.read_count + 1;
        let outputs = match &p.processor {
            Some(_) => {
                let mut outputs = Vec::with_capacity(items.len());
                for slice in p.process_slices(items).await.1 {
                    let at = first + slice.items.start as i64;
                    let outcomes = match slice.outcome {
                        Ok(outcomes) => outcomes,
                        Err(e) => {
                            let last = first + slice.items.end as i64 - 1;
                            let call = Call::ProcessChunk { first: at, last };
                            return Err(p.failure(Role::Processor, call, &e));
                        }
                    };
                    for (i, outcome) in outcomes.into_iter().enumerate() {
                        match outcome {
                            ProcessOutcome::Item(item) => outputs.push(item),
                            ProcessOutcome::Filtered => c.filter_count += 1,
                            ProcessOutcome::Error(e) => {
                                let call = Call::Process {
                                    item: at + i as i64,
                                };
                                return Err(PluginFailure::item(
                                    Role::Processor,
                                    &p.labels.processor,
                                    call,
                                    e,
                                )
                                .into());
                            }
                        }
                    }
                }
                outputs
            }
            None => items,
        };

        if !outputs.is_empty() {
            let call = Call::WriteChunk {
                items: outputs.len(),
                from: first,
            };
            // Without a processor, a built-in csv reader's items reach the writer as the host
            // encoded them.
            let written = if p.processor.is_none() && p.reader.yields_host_json() {
                p.writer.write_host_json(&outputs).await
            } else {
                p.writer.write(&outputs).await
            };
            written.map_err(|e| p.failure(Role::Writer, call, &e))?;
            c.write_count += outputs.len() as i64;
        }
        Ok(ChunkDone { end })
    }
}
