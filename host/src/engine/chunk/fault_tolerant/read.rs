//! `engine` → chunk loop → fault tolerant → read: buffering a chunk, skipping skippable read
//! errors in place (reads are never retried), and skipping what a partly committed chunk
//! already committed after a restart.

use tracing::info;

use super::{CHUNK_OFFSET, Chunk, FaultTolerantLoop, FtState, Input, PositionMap, Tx};
use crate::domain::{ItemError, Role, SkipPhase, SkippedItem, StepExecution};
use crate::engine::failure::{Call, StepFailure, Verdict};
use crate::engine::plugins::Plugins;
use crate::repository::JobRepository;

impl<R: JobRepository> FaultTolerantLoop<'_, '_, R> {
    /// After a restart in the middle of a partly committed chunk: skip what was committed.
    pub(super) async fn skip_committed_offset(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
        st: &mut FtState,
    ) -> Result<(), StepFailure> {
        let offset = step
            .context
            .get(CHUNK_OFFSET)
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        let mut left = offset;
        while left > 0 {
            let want = u32::try_from(left).unwrap_or(u32::MAX);
            let batch = p
                .reader
                .read_batch(want)
                .await
                .map_err(|e| p.failure(Role::Reader, Call::SkipCommitted, &e))?;
            if batch.outcomes.is_empty() {
                break;
            }
            left = left.saturating_sub(batch.outcomes.len() as u64);
            st.read_outcomes += batch.outcomes.len() as i64;
            if batch.end {
                break;
            }
        }
        if offset > 0 {
            info!(
                offset,
                "restarted inside a partly committed chunk; skipped its committed items"
            );
        }
        Ok(())
    }

    /// Reads a chunk, skipping skippable read errors in place (reads are never retried).
    pub(super) async fn read_chunk(&self, tx: &mut Tx<'_>) -> Result<Chunk, StepFailure> {
        tx.st.chunks += 1;
        let size = self.base.settings.size as usize;
        let max_read_skips = size.max(100);
        let mut chunk = Chunk {
            number: tx.st.chunks,
            inputs: Vec::with_capacity(size),
            end: false,
            reads: 0,
            pending: Vec::new(),
            cache: PositionMap::default(),
            filter_count: 0,
            scanning: false,
            busy: false,
            start_reader_ctx: tx.step.context.scoped("reader"),
        };
        let mut read_errors = 0;
        let mut exhausted = false;
        'read: while chunk.inputs.len() < size && !exhausted {
            let want = u32::try_from(size - chunk.inputs.len()).unwrap_or(u32::MAX);
            let at = tx.st.read_outcomes + 1;
            let batch =
                tx.p.reader
                    .read_batch(want)
                    .await
                    .map_err(|e| tx.p.failure(Role::Reader, Call::Read { item: at }, &e))?;
            let got_any = !batch.outcomes.is_empty();
            for outcome in batch.outcomes {
                tx.st.read_outcomes += 1;
                chunk.reads += 1;
                let position = tx.st.read_outcomes;
                let e = match outcome {
                    Ok(item) => {
                        tx.c.read_count += 1;
                        chunk.inputs.push(Input {
                            item,
                            position,
                            reads: chunk.reads,
                        });
                        continue;
                    }
                    Err(e) => e,
                };
                let read = Call::Read { item: position };
                match self.ft.skip.should_skip(&e, tx.skips()) {
                    Ok(true) => {
                        tx.c.read_skip_count += 1;
                        let item = read_skip(e, position, chunk.number);
                        tx.note_skip(&mut chunk, item);
                        read_errors += 1;
                        if read_errors >= max_read_skips {
                            break 'read;
                        }
                    }
                    Err(limit) => {
                        let f = tx.failure(Role::Reader, read, &e);
                        return Err(f.because(Verdict::SkipLimit(limit.to_string())).into());
                    }
                    Ok(false) if self.ft.rollback.rolls_back(&e) => {
                        let verdict = if self.ft.is_fatal(&e) {
                            Verdict::Fatal
                        } else {
                            Verdict::NonSkippableRead
                        };
                        let f = tx.failure(Role::Reader, read, &e);
                        return Err(f.because(verdict).into());
                    }
                    // No-rollback and not skippable: Spring ignores it and counts nothing; the
                    // record is still kept in the dead-letter table.
                    Ok(false) => {
                        let item = read_skip(e, position, chunk.number);
                        tx.keep_uncounted(&mut chunk, item);
                    }
                }
            }
            exhausted = batch.end || !got_any;
        }
        chunk.end = exhausted && chunk.inputs.len() < size;
        Ok(chunk)
    }
}

/// The dead-letter record of a read error at `position`: the error and the raw record it is
/// about.
fn read_skip(e: ItemError, position: i64, chunk: i64) -> SkippedItem {
    SkippedItem {
        phase: SkipPhase::Read,
        kind: e.kind,
        message: e.message,
        payload: e.raw,
        position,
        chunk,
    }
}
