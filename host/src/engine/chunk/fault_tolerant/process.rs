//! `engine` → chunk loop → fault tolerant → process: the processor phase, item by item, with
//! per-item retry state, recovery (skip or fail) once retries are exhausted, and respawning a
//! processor that trapped.

use std::collections::VecDeque;

use super::{Chunk, FaultTolerantLoop, NON_SKIPPABLE_PROCESS, Tx};
use crate::domain::{ItemError, Role, SkipPhase};
use crate::engine::failure::{Call, StepFailure, Verdict};
use crate::engine::plugins::Plugins;
use crate::plugin::{PluginError, ProcessOutcome};
use crate::policy::SKIP_LIMIT_KIND;
use crate::repository::JobRepository;

impl<R: JobRepository> FaultTolerantLoop<'_, '_, R> {
    /// The processor phase. `Ok(Err(e))` asks for a rollback.
    pub(super) async fn transform(
        &self,
        tx: &mut Tx<'_>,
        chunk: &mut Chunk,
    ) -> Result<Result<Vec<(i64, Vec<u8>)>, ItemError>, StepFailure> {
        let ft = self.ft;
        if tx.p.processor.is_none() {
            return Ok(Ok(chunk
                .inputs
                .iter()
                .map(|i| (i.position, i.item.clone()))
                .collect()));
        }
        let mut outputs = Vec::with_capacity(chunk.inputs.len());
        let mut ahead = Ahead::new();
        // A scan handles one input per transaction: one call for it.
        let mut per_item = chunk.scanning;
        let mut i = 0;
        let mut handled = false;
        while i < chunk.inputs.len() {
            // A scan handles one input per transaction, whatever becomes of it: a skipped or
            // filtered first input ends the transaction with nothing written (Spring's
            // `transform` breaks after the first item while scanning).
            if chunk.scanning && handled {
                break;
            }
            handled = true;
            let input = chunk.inputs[i].clone();
            let process = Call::Process {
                item: input.position,
            };
            let ctx = tx
                .st
                .process_ctx
                .get(&input.item)
                .cloned()
                .unwrap_or_default();
            if let Some(last) = ctx
                .last
                .as_ref()
                .filter(|l| !ft.retry.can_retry(Some(l), ctx.attempts))
            {
                // Recovery: the processor is not called again.
                tx.st.process_ctx.remove(&input.item);
                match ft.skip.should_skip(last, tx.skips()) {
                    Ok(true) => {
                        tx.c.process_skip_count += 1;
                        tx.record_skip(chunk, SkipPhase::Process, last, &input);
                        chunk.inputs.remove(i);
                    }
                    Err(limit) => {
                        let f = tx.failure(Role::Processor, process, last);
                        return Err(f.because(Verdict::SkipLimit(limit.to_string())).into());
                    }
                    Ok(false) if ft.rollback.rolls_back(last) => {
                        let call = Call::ProcessExhausted {
                            item: input.position,
                            attempts: ctx.attempts,
                        };
                        return Err(tx.failure(Role::Processor, call, last).into());
                    }
                    Ok(false) => {
                        let item = Tx::skipped(chunk, SkipPhase::Process, last, &input);
                        tx.keep_uncounted(chunk, item);
                        chunk.inputs.remove(i);
                    }
                }
                continue;
            }
            if ft.processor_non_transactional
                && let Some(out) = chunk.cache.get(&input.position)
            {
                outputs.push((input.position, out.clone()));
                i += 1;
                continue;
            }
            match self
                .replay_outcome(tx, chunk, i, &mut ahead, &mut per_item)
                .await?
            {
                Ok(Some(out)) => {
                    tx.st.process_ctx.remove(&input.item);
                    if ft.processor_non_transactional && !chunk.scanning {
                        chunk.cache.insert(input.position, out.clone());
                    }
                    outputs.push((input.position, out));
                    i += 1;
                }
                Ok(None) => {
                    tx.st.process_ctx.remove(&input.item);
                    chunk.filter_count += 1;
                    chunk.inputs.remove(i);
                }
                Err(e) if ft.is_fatal(&e) => {
                    let f = tx.failure(Role::Processor, process, &e);
                    return Err(f.because(Verdict::Fatal).into());
                }
                Err(e) => {
                    tx.st
                        .process_ctx
                        .entry(input.item.clone())
                        .or_default()
                        .failed(&e);
                    if ft.rollback.rolls_back(&e) {
                        return Ok(Err(e));
                    }
                    // No rollback: skip it here, or raise the host's own error about it.
                    let raised = match ft.skip.should_skip(&e, tx.skips()) {
                        Ok(true) => {
                            tx.st.process_ctx.remove(&input.item);
                            tx.c.process_skip_count += 1;
                            tx.record_skip(chunk, SkipPhase::Process, &e, &input);
                            chunk.inputs.remove(i);
                            continue;
                        }
                        Err(limit) => {
                            let raised = ItemError::new(SKIP_LIMIT_KIND, format!("{limit}: {e}"));
                            if ft.rollback.rolls_back(&raised) {
                                let f = tx.failure(Role::Processor, process, &e);
                                return Err(f
                                    .because(Verdict::SkipLimit(limit.to_string()))
                                    .into());
                            }
                            raised
                        }
                        Ok(false) => {
                            let raised = ItemError::new(NON_SKIPPABLE_PROCESS, e.to_string());
                            if ft.rollback.rolls_back(&raised) {
                                if let Some(entry) = tx.st.process_ctx.get_mut(&input.item) {
                                    entry.last = Some(raised.clone());
                                }
                                return Ok(Err(raised));
                            }
                            raised
                        }
                    };
                    // The host's error is itself no-rollback (say `no-rollback: { kinds: ["*"] }`,
                    // Spring's `noRollback(Exception.class)`): as in Spring it goes straight to
                    // recovery, which skips it if it can and otherwise drops the item without a
                    // skip, keeping it in the dead-letter table.
                    tx.st.process_ctx.remove(&input.item);
                    match ft.skip.should_skip(&raised, tx.skips()) {
                        Ok(true) => {
                            tx.c.process_skip_count += 1;
                            tx.record_skip(chunk, SkipPhase::Process, &raised, &input);
                        }
                        Err(limit) => {
                            let f = tx.failure(Role::Processor, process, &e);
                            return Err(f.because(Verdict::SkipLimit(limit.to_string())).into());
                        }
                        Ok(false) => {
                            let item = Tx::skipped(chunk, SkipPhase::Process, &raised, &input);
                            tx.keep_uncounted(chunk, item);
                        }
                    }
                    chunk.inputs.remove(i);
                }
            }
        }
        Ok(Ok(outputs))
    }

    /// The outcome of processing input `i`, as a `process` call for it alone would give it: from
    /// the batch call already made for the run of inputs it belongs to, or from a new one.
    ///
    /// A run is the input and those after it that have no retry state and no kept output — the
    /// inputs the per-item loop would hand to the processor one after the other without deciding
    /// anything in between. The batch call stops at the run's first failure
    /// (`process_until_error`), so the processor sees exactly the calls it would see one by one;
    /// the loop then decides about that failure as it always does. If the batch call fails as a
    /// whole (a trap replaces the instance), the rest of the transaction goes item by item.
    async fn replay_outcome(
        &self,
        tx: &mut Tx<'_>,
        chunk: &Chunk,
        i: usize,
        ahead: &mut Ahead,
        per_item: &mut bool,
    ) -> Result<Outcome, StepFailure> {
        let position = chunk.inputs[i].position;
        match ahead.pop_front() {
            Some((p, outcome)) if p == position => return Ok(outcome),
            _ => ahead.clear(),
        }
        let item = &chunk.inputs[i].item;
        if *per_item {
            return self.process_one(tx.p, item).await;
        }
        let end = (i + 1..chunk.inputs.len())
            .find(|&j| {
                let input = &chunk.inputs[j];
                tx.st.process_ctx.contains_key(&input.item)
                    || (self.ft.processor_non_transactional
                        && chunk.cache.contains_key(&input.position))
            })
            .unwrap_or(chunk.inputs.len());
        let Some(processor) = tx.p.processor.as_mut() else {
            return self.process_one(tx.p, item).await;
        };
        if end - i < 2 {
            return self.process_one(tx.p, item).await;
        }
        let items: Vec<Vec<u8>> = chunk.inputs[i..end]
            .iter()
            .map(|x| x.item.clone())
            .collect();
        match processor.process_until_error(&items).await {
            Ok(outcomes) => ahead.extend(chunk.inputs[i..end].iter().map(|x| x.position).zip(
                outcomes.into_iter().map(|o| match o {
                    ProcessOutcome::Item(out) => Ok(Some(out)),
                    ProcessOutcome::Filtered => Ok(None),
                    ProcessOutcome::Error(e) => Err(e),
                }),
            )),
            Err(PluginError::Interrupted) => return Err(StepFailure::Interrupted),
            Err(PluginError::Trap(..)) => {
                tx.p.respawn_processor().await?;
                *per_item = true;
            }
            Err(PluginError::Failed(e)) => {
                tracing::info!(error = %e, "the batch call failed; processing its items one by one");
                *per_item = true;
            }
        }
        match ahead.pop_front() {
            Some((p, outcome)) if p == position => Ok(outcome),
            _ => {
                *per_item = true;
                self.process_one(tx.p, item).await
            }
        }
    }

    /// Calls the processor for one item; a trap becomes a `wasm.trap` error and the processor
    /// is replaced by a fresh instance.
    pub(super) async fn process_one(
        &self,
        p: &mut Plugins,
        item: &Vec<u8>,
    ) -> Result<Result<Option<Vec<u8>>, ItemError>, StepFailure> {
        let Some(processor) = p.processor.as_mut() else {
            return Ok(Ok(Some(item.clone())));
        };
        match processor.process(item).await {
            Ok(out) => Ok(Ok(out)),
            Err(PluginError::Failed(e)) => Ok(Err(e)),
            Err(trap @ PluginError::Trap(..)) => {
                p.respawn_processor().await?;
                Ok(Err(trap.to_item_error()))
            }
            Err(PluginError::Interrupted) => Err(StepFailure::Interrupted),
        }
    }
}

/// What one `process` call gives: the output (`None` when filtered), or the error.
type Outcome = Result<Option<Vec<u8>>, ItemError>;

/// Outcomes of a batch call not used yet, by input position.
type Ahead = VecDeque<(i64, Outcome)>;
