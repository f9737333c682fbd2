//! `engine` → chunk loop → fault tolerant → write: whole-chunk writes with retry, then the
//! item-by-item scan that finds the one item to skip (Spring's scanning recoverer).

use super::{COMMIT, Chunk, FaultTolerantLoop, Input, Tx, TxEnd, write_can_retry};
use crate::domain::{ItemError, Role, SkipPhase};
use crate::engine::failure::{Call, StepFailure, Verdict};
use crate::plugin::PluginError;
use crate::policy::Model;
use crate::repository::JobRepository;

impl<R: JobRepository> FaultTolerantLoop<'_, '_, R> {
    /// Calls the writer; a trap becomes `wasm.trap` and the writer is replaced.
    pub(super) async fn write_items(
        &self,
        tx: &mut Tx<'_>,
        items: &[Vec<u8>],
    ) -> Result<Result<(), ItemError>, StepFailure> {
        match tx.p.writer.write(items).await {
            Ok(()) => Ok(Ok(())),
            Err(PluginError::Failed(e)) => Ok(Err(e)),
            Err(trap @ PluginError::Trap(..)) => {
                tx.p.respawn_writer(tx.step).await?;
                Ok(Err(trap.to_item_error()))
            }
            Err(PluginError::Interrupted) => Err(StepFailure::Interrupted),
        }
    }

    /// The writer phase: whole-chunk writes with retry, then item-by-item scanning to find the
    /// item to skip.
    pub(super) async fn write(
        &self,
        tx: &mut Tx<'_>,
        chunk: &mut Chunk,
        outputs: Vec<(i64, Vec<u8>)>,
    ) -> Result<TxEnd, StepFailure> {
        let ft = self.ft;
        let key = chunk.write_key();
        let ctx = tx.st.write_ctx.get(&key).cloned().unwrap_or_default();
        let exhausted = ctx
            .last
            .as_ref()
            .is_some_and(|l| !write_can_retry(ft, l, ctx.attempts));
        if !chunk.scanning && !exhausted {
            if outputs.is_empty() {
                tx.st.write_ctx.remove(&key);
                chunk.inputs.clear();
                return Ok(COMMIT);
            }
            let (positions, items): (Vec<i64>, Vec<Vec<u8>>) = outputs.into_iter().unzip();
            return match self.write_items(tx, &items).await? {
                Ok(()) => {
                    tx.c.write_count += items.len() as i64;
                    tx.st.write_ctx.remove(&key);
                    chunk.inputs.clear();
                    Ok(COMMIT)
                }
                Err(e) if ft.is_fatal(&e) => {
                    let call = Call::WriteChunk {
                        items: items.len(),
                        from: positions.first().copied().unwrap_or_default(),
                    };
                    Err(tx
                        .failure(Role::Writer, call, &e)
                        .because(Verdict::Fatal)
                        .into())
                }
                Err(e) => {
                    if ft.model == Model::InPlace {
                        // In place, processed items are never processed again: their outputs
                        // go back to the chunk for the retry or the scan.
                        chunk.cache.extend(positions.into_iter().zip(items));
                    }
                    let entry = tx.st.write_ctx.entry(key).or_default();
                    entry.failed(&e);
                    // A no-rollback error in a whole-chunk write still rolls back, so the failing
                    // item can be found (Spring's ForceRollbackForWriteSkipException).
                    if !write_can_retry(ft, &e, entry.attempts) {
                        chunk.scanning = true;
                    }
                    Ok(TxEnd::Rollback(e))
                }
            };
        }
        let in_recovery = exhausted;
        if in_recovery {
            tx.st.write_ctx.remove(&key);
            let last = ctx
                .last
                .clone()
                .unwrap_or_else(|| ItemError::new("unknown", ""));
            let skippable = ft.skip.is_skippable(&last) || !ft.rollback.rolls_back(&last);
            if !skippable {
                let call = Call::WriteExhausted {
                    chunk: chunk.number,
                    attempts: ctx.attempts,
                };
                return Err(tx.failure(Role::Writer, call, &last).into());
            }
            chunk.busy = true;
            chunk.scanning = true;
        }
        self.scan(tx, chunk, outputs, in_recovery).await
    }

    /// One scan step: write the first remaining item on its own.
    pub(super) async fn scan(
        &self,
        tx: &mut Tx<'_>,
        chunk: &mut Chunk,
        outputs: Vec<(i64, Vec<u8>)>,
        in_recovery: bool,
    ) -> Result<TxEnd, StepFailure> {
        let ft = self.ft;
        let Some((position, item)) = outputs
            .into_iter()
            .next()
            .filter(|_| !chunk.inputs.is_empty())
        else {
            // Nothing to write: the scan is over, or the processor skipped or filtered the
            // scanned item and this transaction commits without a write (as Spring's does).
            chunk.finish_scan_if_empty();
            return Ok(COMMIT);
        };
        let input_index = chunk
            .inputs
            .iter()
            .position(|i| i.position == position)
            .unwrap_or(0);
        let e = match self.write_items(tx, std::slice::from_ref(&item)).await? {
            Ok(()) => {
                tx.c.write_count += 1;
                chunk.inputs.remove(input_index);
                chunk.finish_scan_if_empty();
                return Ok(COMMIT);
            }
            Err(e) => e,
        };
        if ft.is_fatal(&e) {
            let f = tx.failure(Role::Writer, Call::WriteItem { item: position }, &e);
            return Err(f.because(Verdict::Fatal).into());
        }
        let input = chunk.inputs[input_index].clone();
        let rolls_back = ft.rollback.rolls_back(&e);
        if !ft.skip.is_skippable(&e) && !rolls_back {
            // Not skippable but no-rollback: dropped silently, its partial write committed.
            chunk.inputs.remove(input_index);
            chunk.finish_scan_if_empty();
            return Ok(COMMIT);
        }
        match ft.skip.should_skip(&e, tx.skips()) {
            Ok(true) => {
                tx.c.write_skip_count += 1;
                let input = Input {
                    item: item.clone(),
                    ..input
                };
                tx.record_skip(chunk, SkipPhase::Write, &e, &input);
                chunk.inputs.remove(input_index);
            }
            Err(limit) => {
                let f = tx.failure(Role::Writer, Call::WriteItem { item: position }, &e);
                return Err(f.because(Verdict::SkipLimit(limit.to_string())).into());
            }
            Ok(false) if in_recovery => {
                let call = Call::WriteItemNotSkippable { item: position };
                return Err(tx.failure(Role::Writer, call, &e).into());
            }
            Ok(false) => {}
        }
        if rolls_back {
            tx.st
                .write_ctx
                .entry(chunk.write_key())
                .or_default()
                .failed(&e);
            Ok(TxEnd::Rollback(e))
        } else {
            chunk.finish_scan_if_empty();
            Ok(COMMIT)
        }
    }
}
