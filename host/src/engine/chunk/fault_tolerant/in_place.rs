//! `engine` → chunk loop → fault tolerant → in place: the processor phase of the `in-place`
//! model (Spring Batch 6's `ChunkOrientedStep`). The chunk's items go to the processor in one
//! `process-batch` call; an item that fails is retried on its own, where it stands, and once its
//! retries are exhausted it is skipped there — the chunk is not rolled back and no other item is
//! processed again. Outputs are kept with the chunk, so a write retry or a scan writes them as
//! they are.

use std::time::Duration;

use super::{Chunk, FaultTolerantLoop, Tx};
use crate::domain::{ItemError, Role, SkipPhase};
use crate::engine::failure::{Call, StepFailure, Verdict};
use crate::plugin::{PluginError, ProcessOutcome};
use crate::repository::JobRepository;

impl<R: JobRepository> FaultTolerantLoop<'_, '_, R> {
    /// The processor phase of the in-place model: the outputs to write, in input order.
    pub(super) async fn transform_in_place(
        &self,
        tx: &mut Tx<'_>,
        chunk: &mut Chunk,
    ) -> Result<Vec<(i64, Vec<u8>)>, StepFailure> {
        if tx.p.processor.is_none() {
            return Ok(chunk
                .inputs
                .iter()
                .take(if chunk.scanning { 1 } else { usize::MAX })
                .map(|i| (i.position, i.item.clone()))
                .collect());
        }
        // Items a write retry or scan brings back were processed in an earlier transaction.
        if chunk
            .inputs
            .iter()
            .any(|i| !chunk.cache.contains_key(&i.position))
        {
            self.process_chunk(tx, chunk).await?;
        }
        if chunk.scanning {
            // A scan writes one item per transaction; the others keep their outputs.
            return Ok(chunk
                .inputs
                .first()
                .and_then(|i| {
                    chunk
                        .cache
                        .get(&i.position)
                        .map(|o| (i.position, o.clone()))
                })
                .into_iter()
                .collect());
        }
        // The whole chunk is written next: its outputs leave the cache (no copy); a failed write
        // puts them back for the retry or the scan.
        Ok(chunk
            .inputs
            .iter()
            .filter_map(|i| chunk.cache.remove(&i.position).map(|o| (i.position, o)))
            .collect())
    }

    /// Processes every input without an output yet: one batch call, then each failed item on
    /// its own until it succeeds, or is skipped, or fails the step.
    async fn process_chunk(&self, tx: &mut Tx<'_>, chunk: &mut Chunk) -> Result<(), StepFailure> {
        let todo: Vec<usize> = (0..chunk.inputs.len())
            .filter(|&i| !chunk.cache.contains_key(&chunk.inputs[i].position))
            .collect();
        // The items go to the call and come back unchanged: lent, not copied.
        let items: Vec<Vec<u8>> = todo
            .iter()
            .map(|&i| std::mem::take(&mut chunk.inputs[i].item))
            .collect();
        let (items, slices) = tx.p.process_slices(items).await;
        for (&i, item) in todo.iter().zip(items) {
            chunk.inputs[i].item = item;
        }
        // `None`: the item is still to be tried, on its own.
        let mut outcomes: Vec<Option<ProcessOutcome>> = Vec::with_capacity(todo.len());
        for slice in slices {
            match slice.outcome {
                Ok(done) => outcomes.extend(done.into_iter().map(Some)),
                Err(PluginError::Interrupted) => return Err(StepFailure::Interrupted),
                Err(e @ PluginError::Failed(_)) => {
                    // The processor failed the call as a whole: its items are tried on their own.
                    tracing::info!(error = %e, "the batch call failed; processing its items one by one");
                    outcomes.extend(slice.items.map(|_| None));
                }
                Err(trap @ PluginError::Trap(..)) => {
                    // A trap leaves the instance unusable: replace it, then try each item alone,
                    // so the trap is attributed to the item that causes it.
                    tx.p.respawn_processor_at(slice.instance).await?;
                    tracing::info!(error = %trap, "the batch call trapped; processing its items one by one");
                    outcomes.extend(slice.items.map(|_| None));
                }
            }
        }
        let mut gone = vec![false; chunk.inputs.len()];
        for (&i, outcome) in todo.iter().zip(outcomes) {
            let outcome = match outcome {
                Some(o) => o,
                None => self.process_alone(tx, &chunk.inputs[i].item).await?,
            };
            let (outcome, attempts) = match outcome {
                ProcessOutcome::Error(e) => {
                    self.retry_in_place(tx, &chunk.inputs[i].item, e).await?
                }
                other => (other, 1),
            };
            let position = chunk.inputs[i].position;
            match outcome {
                ProcessOutcome::Item(out) => {
                    chunk.cache.insert(position, out);
                }
                ProcessOutcome::Filtered => {
                    tx.c.filter_count += 1;
                    gone[i] = true;
                }
                ProcessOutcome::Error(e) => {
                    let call = if attempts > 1 {
                        Call::ProcessExhausted {
                            item: position,
                            attempts,
                        }
                    } else {
                        Call::Process { item: position }
                    };
                    match self.ft.skip.should_skip(&e, tx.skips()) {
                        Ok(true) => {
                            tx.c.process_skip_count += 1;
                            // Copied only for a skip (its record keeps the raw bytes).
                            let input = chunk.inputs[i].clone();
                            tx.record_skip(chunk, SkipPhase::Process, &e, &input);
                            gone[i] = true;
                        }
                        Err(limit) => {
                            let f = tx.failure(Role::Processor, call, &e);
                            return Err(f.because(Verdict::SkipLimit(limit.to_string())).into());
                        }
                        Ok(false) if self.ft.is_fatal(&e) => {
                            let f = tx.failure(Role::Processor, call, &e);
                            return Err(f.because(Verdict::Fatal).into());
                        }
                        Ok(false) => return Err(tx.failure(Role::Processor, call, &e).into()),
                    }
                }
            }
        }
        let mut i = 0;
        chunk.inputs.retain(|_| {
            i += 1;
            !gone[i - 1]
        });
        Ok(())
    }

    /// One item in its own `process` call.
    async fn process_alone(
        &self,
        tx: &mut Tx<'_>,
        item: &Vec<u8>,
    ) -> Result<ProcessOutcome, StepFailure> {
        Ok(match self.process_one(tx.p, item).await? {
            Ok(Some(out)) => ProcessOutcome::Item(out),
            Ok(None) => ProcessOutcome::Filtered,
            Err(e) => ProcessOutcome::Error(e),
        })
    }

    /// Retries one failed item while the retry rules allow, with the configured backoff; the
    /// last outcome and the number of attempts made.
    async fn retry_in_place(
        &self,
        tx: &mut Tx<'_>,
        item: &Vec<u8>,
        first: ItemError,
    ) -> Result<(ProcessOutcome, u32), StepFailure> {
        let mut attempts = 1;
        let mut last = first;
        while self.ft.retry.can_retry(Some(&last), attempts) {
            let delay = self.ft.backoff.delay(attempts);
            if delay > Duration::ZERO {
                self.base
                    .listener
                    .retry_backoff(self.base.settings.step_name, delay);
                self.base.clock.sleep(delay).await;
            }
            attempts += 1;
            match self.process_alone(tx, item).await? {
                ProcessOutcome::Error(e) => last = e,
                done => return Ok((done, attempts)),
            }
        }
        Ok((ProcessOutcome::Error(last), attempts))
    }
}
