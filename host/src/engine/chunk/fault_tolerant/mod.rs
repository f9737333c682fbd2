//! `engine` → chunk loop → fault tolerant: Spring Batch 5's `FaultTolerantChunkProvider` and
//! `FaultTolerantChunkProcessor`, transaction by transaction (see docs/fault-tolerance.md).
//!
//! A chunk is read once and buffered; every transaction of the chunk (first attempt, retries,
//! replays after a rollback, item-by-item scan writes) works on the same buffered [`Chunk`].
//! Retry state is kept per item for the processor and per chunk state for the writer, as Spring's
//! stateful retry does, so a retried item is attempted once per transaction and, once exhausted,
//! goes straight to recovery (skip or fail) without calling the plugin again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::json;
use tracing::{Instrument as _, info};

mod in_place;
mod process;
mod read;
mod write;

use super::{ChunkLoop, READ_BASE};
use crate::domain::{
    ExecutionContext, ItemError, Role, SkipPhase, SkippedItem, StepContribution, StepExecution,
};
use crate::engine::failure::{Call, PluginFailure, StepFailure};
use crate::engine::plugins::Plugins;
use crate::policy::{FaultTolerance, Model};
use crate::repository::JobRepository;

/// The context key that records how many read outcomes of a partly committed chunk are done.
pub(crate) const CHUNK_OFFSET: &str = "batch.chunk.offset";

/// Kind recorded when a no-rollback processor error is not skippable (Spring's
/// `NonSkippableProcessException`): it rolls back and is neither retried nor skipped.
const NON_SKIPPABLE_PROCESS: &str = "batch.non-skippable-process";

/// One buffered input item.
#[derive(Debug, Clone)]
struct Input {
    item: Vec<u8>,
    /// Position in the step's read order (1-based, counting read errors too).
    position: i64,
    /// Read outcomes of this chunk up to and including this item.
    reads: u64,
}

/// Outputs by input position. Positions are small sequential integers the host assigns, so a
/// multiplicative hash serves (SipHash's protection against chosen keys is not needed here, and
/// it showed in profiles at one insert and one remove per item).
type PositionMap<V> = HashMap<i64, V, std::hash::BuildHasherDefault<PositionHasher>>;

/// Fibonacci hashing of an `i64` position.
#[derive(Debug, Default, Clone, Copy)]
struct PositionHasher(u64);

impl std::hash::Hasher for PositionHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A chunk and the state Spring keeps in its `userData`.
#[derive(Debug)]
struct Chunk {
    number: i64,
    inputs: Vec<Input>,
    end: bool,
    reads: u64,
    pending: Vec<SkippedItem>,
    cache: PositionMap<Vec<u8>>,
    filter_count: i64,
    scanning: bool,
    busy: bool,
    start_reader_ctx: ExecutionContext,
}

impl Chunk {
    /// Every input is written, skipped or filtered, and no scan is in progress.
    fn is_done(&self) -> bool {
        self.inputs.is_empty() && !self.busy
    }

    /// Ends a scan once the last input is handled.
    fn finish_scan_if_empty(&mut self) {
        if self.inputs.is_empty() {
            self.scanning = false;
            self.busy = false;
        }
    }

    /// The writer's retry key: the remaining inputs, and whether a scan is in progress.
    fn write_key(&self) -> (Vec<i64>, bool) {
        (self.inputs.iter().map(|i| i.position).collect(), self.busy)
    }
}

#[derive(Debug, Default, Clone)]
struct RetryCtx {
    attempts: u32,
    last: Option<ItemError>,
}

impl RetryCtx {
    fn failed(&mut self, e: &ItemError) {
        self.attempts += 1;
        self.last = Some(e.clone());
    }
}

/// The loop's state across transactions.
#[derive(Debug, Default)]
pub(crate) struct FtState {
    chunk: Option<Chunk>,
    process_ctx: HashMap<Vec<u8>, RetryCtx>,
    write_ctx: HashMap<(Vec<i64>, bool), RetryCtx>,
    chunks: i64,
    read_outcomes: i64,
    /// Skips of this run by phase and kind, for the summary.
    pub(crate) skips: BTreeMap<(SkipPhase, String), i64>,
}

/// How a transaction ended.
enum TxEnd {
    /// Commit; `done` when the step's input is exhausted after this commit.
    Commit { done: bool },
    /// Roll back; the error, for the retry backoff.
    Rollback(ItemError),
}

const COMMIT: TxEnd = TxEnd::Commit { done: false };

/// One transaction's working state: the plugins, the step as of the last commit, the state
/// kept across transactions, and this transaction's contribution.
struct Tx<'t> {
    p: &'t mut Plugins,
    step: &'t StepExecution,
    st: &'t mut FtState,
    c: StepContribution,
}

impl Tx<'_> {
    /// Skips so far, this transaction's included (for the skip limit).
    fn skips(&self) -> i64 {
        self.step.skip_count()
            + self.c.read_skip_count
            + self.c.process_skip_count
            + self.c.write_skip_count
    }

    /// Counts a skip for the summary, logs it, and keeps it for the chunk's next commit.
    fn note_skip(&mut self, chunk: &mut Chunk, item: SkippedItem) {
        info!(phase = %item.phase, kind = %item.kind, position = item.position, chunk = item.chunk, detail = %item.message, "item skipped");
        *self
            .st
            .skips
            .entry((item.phase, item.kind.clone()))
            .or_default() += 1;
        chunk.pending.push(item);
    }

    /// Keeps an item that Spring drops without counting a skip (a no-rollback error that is
    /// not skippable): not a skip in any counter, but its record goes to the dead-letter table.
    fn keep_uncounted(&mut self, chunk: &mut Chunk, mut item: SkippedItem) {
        info!(phase = %item.phase, kind = %item.kind, position = item.position, chunk = item.chunk, detail = %item.message, "item dropped without a skip; kept in the dead-letter table");
        item.message = format!("not counted as a skip: {}", item.message);
        chunk.pending.push(item);
    }

    /// The dead-letter record of `input`, failed with `e`.
    fn skipped(chunk: &Chunk, phase: SkipPhase, e: &ItemError, input: &Input) -> SkippedItem {
        SkippedItem {
            phase,
            kind: e.kind.clone(),
            message: e.message.clone(),
            payload: Some(input.item.clone()),
            position: input.position,
            chunk: chunk.number,
        }
    }

    /// Records a skipped item with its payload.
    fn record_skip(&mut self, chunk: &mut Chunk, phase: SkipPhase, e: &ItemError, input: &Input) {
        let item = Self::skipped(chunk, phase, e, input);
        self.note_skip(chunk, item);
    }

    /// The failure of the plugin in `role` on `call` with `e`.
    fn failure(&self, role: Role, call: Call, e: &ItemError) -> PluginFailure {
        PluginFailure::item(role, self.p.labels.of(role), call, e.clone())
    }
}

/// Whether a failed chunk write may be attempted again. A no-rollback error still rolls a
/// whole-chunk write back, and Spring makes that forced rollback retryable up to the limit.
fn write_can_retry(ft: &FaultTolerance, e: &ItemError, attempts: u32) -> bool {
    ft.retry.can_retry(Some(e), attempts)
        || (!ft.rollback.rolls_back(e) && ft.retry.has_attempts_left(attempts))
}

/// The fault-tolerant loop of one step: the chunk loop and its rules.
pub(super) struct FaultTolerantLoop<'l, 'a, R> {
    base: &'l ChunkLoop<'a, R>,
    ft: &'l FaultTolerance,
}

impl<'a, R: JobRepository> ChunkLoop<'a, R> {
    pub(super) fn fault_tolerant<'l>(
        &'l self,
        ft: &'l FaultTolerance,
    ) -> FaultTolerantLoop<'l, 'a, R> {
        FaultTolerantLoop { base: self, ft }
    }
}

impl<R: JobRepository> FaultTolerantLoop<'_, '_, R> {
    /// Runs the fault-tolerant loop until the input is exhausted or a fatal failure.
    pub(super) async fn run(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
        st: &mut FtState,
    ) -> Result<(), StepFailure> {
        let base = self.base;
        st.read_outcomes = step
            .context
            .get(READ_BASE)
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        self.skip_committed_offset(p, step, st).await?;
        base.save_streams(p, step).await?;
        base.repo.update_step_execution(step).await?;
        loop {
            // One span per chunk transaction (with its commit), for trace export.
            let span = tracing::info_span!("batch.chunk", chunk = step.commit_count + 1);
            let (end, c) = {
                let mut tx = Tx {
                    p: &mut *p,
                    step: &*step,
                    st: &mut *st,
                    c: StepContribution::default(),
                };
                let end = self.transaction(&mut tx).instrument(span.clone()).await;
                (end, tx.c)
            };
            step.apply(&c);
            match end {
                Ok(TxEnd::Commit { done }) => {
                    self.commit(p, step, st).instrument(span).await?;
                    if done {
                        return Ok(());
                    }
                }
                Ok(TxEnd::Rollback(e)) => {
                    base.roll_back(p, step).await;
                    let delay = self.retry_delay(st, &e);
                    info!(kind = %e.kind, detail = %e.message, backoff_ms = delay.as_millis() as u64, "chunk rolled back");
                    if !delay.is_zero() {
                        base.listener.retry_backoff(base.settings.step_name, delay);
                        base.clock.sleep(delay).await;
                    }
                }
                Err(fatal) => {
                    base.roll_back(p, step).await;
                    return Err(fatal);
                }
            }
        }
    }

    /// The backoff before the next attempt after a rollback caused by `e`, if it will be retried.
    fn retry_delay(&self, st: &FtState, e: &ItemError) -> Duration {
        let attempts = st
            .process_ctx
            .values()
            .chain(st.write_ctx.values())
            .filter(|c| c.last.as_ref() == Some(e))
            .map(|c| c.attempts)
            .max()
            .unwrap_or(0);
        if attempts > 0 && self.ft.retry.can_retry(Some(e), attempts) {
            self.ft.backoff.delay(attempts)
        } else {
            Duration::ZERO
        }
    }

    /// Commits the transaction: counters, streams and the chunk's dead letters, in one
    /// repository transaction.
    async fn commit(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
        st: &mut FtState,
    ) -> Result<(), StepFailure> {
        let (complete, skipped) = match st.chunk.as_mut() {
            Some(chunk) => (chunk.is_done(), std::mem::take(&mut chunk.pending)),
            None => (true, Vec::new()),
        };
        if complete {
            self.base.save_streams(p, step).await?;
            step.context.put(READ_BASE, json!(st.read_outcomes));
            step.context.put(CHUNK_OFFSET, json!(0));
            step.context
                .replace_scope("batch.chunk", ExecutionContext::new());
        } else if let Some(chunk) = &st.chunk {
            // Mid-chunk (scan) commit: the reader's position stays at the chunk start, plus the
            // number of its read outcomes already committed (Spring's ChunkMonitor offset).
            let writer = p.writer_state().await?;
            let offset = chunk
                .inputs
                .first()
                .map(|i| i.reads - 1)
                .unwrap_or(chunk.reads);
            step.context
                .replace_scope("reader", chunk.start_reader_ctx.clone());
            step.context.replace_scope("writer", writer);
            step.context
                .put(READ_BASE, json!(st.read_outcomes - chunk.reads as i64));
            step.context.put(CHUNK_OFFSET, json!(offset));
        }
        self.base.commit_transaction(p, step, &skipped).await?;
        if complete {
            st.chunk = None;
        }
        Ok(())
    }

    /// One chunk transaction.
    async fn transaction(&self, tx: &mut Tx<'_>) -> Result<TxEnd, StepFailure> {
        tx.p.writer
            .before_chunk()
            .await
            .map_err(|e| tx.p.failure(Role::Writer, Call::BeforeChunk, &e))?;
        if tx.st.chunk.is_none() {
            let chunk = self.read_chunk(tx).await?;
            tx.st.chunk = Some(chunk);
        }
        let Some(mut chunk) = tx.st.chunk.take() else {
            return Ok(TxEnd::Commit { done: true });
        };
        let result = self.process_and_write(tx, &mut chunk).await;
        let end = chunk.end;
        let complete = chunk.is_done();
        tx.st.chunk = Some(chunk);
        match result? {
            TxEnd::Commit { .. } => Ok(TxEnd::Commit {
                done: complete && end,
            }),
            rollback => Ok(rollback),
        }
    }

    /// Processes the chunk's remaining inputs (only the first one while scanning) and writes.
    async fn process_and_write(
        &self,
        tx: &mut Tx<'_>,
        chunk: &mut Chunk,
    ) -> Result<TxEnd, StepFailure> {
        if chunk.is_done() {
            return Ok(COMMIT);
        }
        if chunk.scanning {
            chunk.filter_count = 0;
        }
        let outputs = match self.ft.model {
            Model::InPlace => self.transform_in_place(tx, chunk).await?,
            Model::Replay => match self.transform(tx, chunk).await? {
                Ok(outputs) => outputs,
                Err(rollback) => return Ok(TxEnd::Rollback(rollback)),
            },
        };
        tx.c.filter_count += chunk.filter_count;
        self.write(tx, chunk, outputs).await
    }
}
