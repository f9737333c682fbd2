//! The fault-tolerant chunk loop: Spring Batch 5's `FaultTolerantChunkProvider` and
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
use tracing::{debug, info};

use super::chunk::{ChunkLoop, Plugins, StepFailure, failure};
use crate::domain::{
    ExecutionContext, ItemError, SkipPhase, SkippedItem, StepContribution, StepExecution,
};
use crate::plugin::PluginError;
use crate::policy::FaultTolerance;
use crate::repository::JobRepository;

/// The context key that records how many read outcomes of a partly committed chunk are done.
pub(super) const CHUNK_OFFSET: &str = "batch.chunk.offset";

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

/// A chunk and the state Spring keeps in its `userData`.
#[derive(Debug)]
struct Chunk {
    number: i64,
    inputs: Vec<Input>,
    end: bool,
    reads: u64,
    pending: Vec<SkippedItem>,
    cache: HashMap<i64, Vec<u8>>,
    filter_count: i64,
    scanning: bool,
    busy: bool,
    start_reader_ctx: ExecutionContext,
}

#[derive(Debug, Default, Clone)]
struct RetryCtx {
    attempts: u32,
    last: Option<ItemError>,
}

/// The loop's state across transactions.
#[derive(Debug, Default)]
pub(super) struct FtState {
    chunk: Option<Chunk>,
    process_ctx: HashMap<Vec<u8>, RetryCtx>,
    write_ctx: HashMap<(Vec<i64>, bool), RetryCtx>,
    chunks: i64,
    read_outcomes: i64,
    /// Skips of this run by phase and kind, for the summary.
    pub(super) skips: BTreeMap<(SkipPhase, String), i64>,
}

/// How a transaction ended.
enum TxEnd {
    /// Commit; `done` when the step's input is exhausted after this commit.
    Commit { done: bool },
    /// Roll back; the error, for the retry backoff.
    Rollback(ItemError),
}

/// Counts a skip for the summary, logs it, and keeps it for the chunk's next commit.
fn note_skip(st: &mut FtState, chunk: &mut Chunk, item: SkippedItem) {
    info!(phase = %item.phase, kind = %item.kind, position = item.position, chunk = item.chunk, message = %item.message, "item skipped");
    *st.skips.entry((item.phase, item.kind.clone())).or_default() += 1;
    chunk.pending.push(item);
}

/// Whether a failed chunk write may be attempted again. A no-rollback error still rolls a
/// whole-chunk write back, and Spring makes that forced rollback retryable up to the limit.
fn write_can_retry(ft: &FaultTolerance, e: &ItemError, attempts: u32) -> bool {
    ft.retry.can_retry(Some(e), attempts)
        || (!ft.rollback.rolls_back(e) && ft.retry.has_attempts_left(attempts))
}

fn step_skips(step: &StepExecution, c: &StepContribution) -> i64 {
    step.skip_count() + c.read_skip_count + c.process_skip_count + c.write_skip_count
}

impl<R: JobRepository> ChunkLoop<'_, R> {
    /// Runs the fault-tolerant loop until the input is exhausted or a fatal failure.
    pub(super) async fn chunks_ft(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
        ft: &FaultTolerance,
        st: &mut FtState,
    ) -> Result<(), StepFailure> {
        self.skip_committed_offset(p, step, st).await?;
        self.save_streams(p, step).await?;
        self.repo.update_step_execution(step).await?;
        loop {
            let mut c = StepContribution::default();
            let end = self.transaction(p, step, ft, st, &mut c).await;
            step.apply(&c);
            match end {
                Ok(TxEnd::Commit { done }) => {
                    self.commit(p, step, st).await?;
                    if done {
                        return Ok(());
                    }
                }
                Ok(TxEnd::Rollback(e)) => {
                    self.roll_back(p, step).await;
                    let delay = self.retry_delay(ft, st, &e);
                    info!(kind = %e.kind, message = %e.message, backoff_ms = delay.as_millis() as u64, "chunk rolled back");
                    if !delay.is_zero() {
                        self.listener.retry_backoff(&self.step.name, delay);
                        self.clock.sleep(delay).await;
                    }
                }
                Err(fatal) => {
                    self.roll_back(p, step).await;
                    return Err(fatal);
                }
            }
        }
    }

    /// The backoff before the next attempt after a rollback caused by `e`, if it will be retried.
    fn retry_delay(&self, ft: &FaultTolerance, st: &FtState, e: &ItemError) -> Duration {
        let attempts = st
            .process_ctx
            .values()
            .chain(st.write_ctx.values())
            .filter(|c| c.last.as_ref() == Some(e))
            .map(|c| c.attempts)
            .max()
            .unwrap_or(0);
        if attempts > 0 && ft.retry.can_retry(Some(e), attempts) {
            ft.backoff.delay(attempts)
        } else {
            Duration::ZERO
        }
    }

    /// After a restart in the middle of a partly committed chunk: skip what was committed.
    async fn skip_committed_offset(
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
            let batch = p.reader.read_batch(want).await.map_err(|e| {
                failure(
                    "reader",
                    &self.chunk.reader,
                    "failed while skipping committed items".into(),
                    &e,
                )
            })?;
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

    /// Commits the transaction: counters, streams and the chunk's dead letters, in one
    /// repository transaction.
    async fn commit(
        &self,
        p: &mut Plugins,
        step: &mut StepExecution,
        st: &mut FtState,
    ) -> Result<(), StepFailure> {
        let (complete, skipped) = match st.chunk.as_mut() {
            Some(chunk) => (
                chunk.inputs.is_empty() && !chunk.busy,
                std::mem::take(&mut chunk.pending),
            ),
            None => (true, Vec::new()),
        };
        if complete {
            self.save_streams(p, step).await?;
            step.context.put(CHUNK_OFFSET, json!(0));
            step.context
                .replace_scope("batch.chunk", ExecutionContext::new());
        } else if let Some(chunk) = &st.chunk {
            // Mid-chunk (scan) commit: the reader's position stays at the chunk start, plus the
            // number of its read outcomes already committed (Spring's ChunkMonitor offset).
            let writer = p.writer.update().await.map_err(|e| {
                failure("writer", &self.chunk.writer, "failed in update".into(), &e)
            })?;
            let offset = chunk
                .inputs
                .first()
                .map(|i| i.reads - 1)
                .unwrap_or(chunk.reads);
            step.context
                .replace_scope("reader", chunk.start_reader_ctx.clone());
            step.context.replace_scope("writer", writer);
            step.context.put(CHUNK_OFFSET, json!(offset));
        }
        self.commit_transaction(p, step, &skipped).await?;
        if complete {
            st.chunk = None;
        }
        Ok(())
    }

    /// One chunk transaction.
    async fn transaction(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        ft: &FaultTolerance,
        st: &mut FtState,
        c: &mut StepContribution,
    ) -> Result<TxEnd, StepFailure> {
        p.writer.before_chunk().await.map_err(|e| {
            failure(
                "writer",
                &self.chunk.writer,
                "failed in before-chunk".into(),
                &e,
            )
        })?;
        if st.chunk.is_none() {
            let reader_ctx = step.context.scoped("reader");
            let chunk = self.read_chunk(p, step, ft, st, c, reader_ctx).await?;
            st.chunk = Some(chunk);
        }
        let Some(mut chunk) = st.chunk.take() else {
            return Ok(TxEnd::Commit { done: true });
        };
        let result = self.process_and_write(p, step, ft, st, c, &mut chunk).await;
        let end = chunk.end;
        st.chunk = Some(chunk);
        match result? {
            TxEnd::Commit { .. } => {
                let chunk = st.chunk.as_ref();
                let complete = chunk.is_none_or(|ch| ch.inputs.is_empty() && !ch.busy);
                Ok(TxEnd::Commit {
                    done: complete && end,
                })
            }
            rollback => Ok(rollback),
        }
    }

    /// Reads a chunk, skipping skippable read errors in place (reads are never retried).
    async fn read_chunk(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        ft: &FaultTolerance,
        st: &mut FtState,
        c: &mut StepContribution,
        start_reader_ctx: ExecutionContext,
    ) -> Result<Chunk, StepFailure> {
        st.chunks += 1;
        let size = self.chunk.chunk_size as usize;
        let max_read_skips = size.max(100);
        let mut chunk = Chunk {
            number: st.chunks,
            inputs: Vec::with_capacity(size),
            end: false,
            reads: 0,
            pending: Vec::new(),
            cache: HashMap::new(),
            filter_count: 0,
            scanning: false,
            busy: false,
            start_reader_ctx,
        };
        let mut read_errors = 0;
        let mut exhausted = false;
        'read: while chunk.inputs.len() < size && !exhausted {
            let want = u32::try_from(size - chunk.inputs.len()).unwrap_or(u32::MAX);
            let batch = p.reader.read_batch(want).await.map_err(|e| {
                failure(
                    "reader",
                    &self.chunk.reader,
                    format!("failed reading item {}", st.read_outcomes + 1),
                    &e,
                )
            })?;
            let got_any = !batch.outcomes.is_empty();
            for outcome in batch.outcomes {
                st.read_outcomes += 1;
                chunk.reads += 1;
                let position = st.read_outcomes;
                match outcome {
                    Ok(item) => {
                        c.read_count += 1;
                        chunk.inputs.push(Input {
                            item,
                            position,
                            reads: chunk.reads,
                        });
                    }
                    Err(e) => match ft.skip.should_skip(&e, step_skips(step, c)) {
                        Ok(true) => {
                            c.read_skip_count += 1;
                            let number = chunk.number;
                            let item = SkippedItem {
                                phase: SkipPhase::Read,
                                kind: e.kind,
                                message: e.message,
                                payload: None,
                                position,
                                chunk: number,
                            };
                            note_skip(st, &mut chunk, item);
                            read_errors += 1;
                            if read_errors >= max_read_skips {
                                break 'read;
                            }
                        }
                        Err(limit) => {
                            return Err(StepFailure::Plugin(format!(
                                "{limit}: reader {} failed reading item {position}: {}: {}",
                                self.chunk.reader.label(),
                                e.kind,
                                e.message
                            )));
                        }
                        Ok(false) if ft.rollback.rolls_back(&e) => {
                            return Err(StepFailure::Plugin(format!(
                                "non-skippable error during read: reader {} failed reading item {position}: {}: {}",
                                self.chunk.reader.label(),
                                e.kind,
                                e.message
                            )));
                        }
                        // No-rollback and not skippable: Spring ignores it; the item is gone.
                        Ok(false) => {
                            debug!(kind = %e.kind, position, "no-rollback read error ignored")
                        }
                    },
                }
            }
            exhausted = batch.end || !got_any;
        }
        chunk.end = exhausted && chunk.inputs.len() < size;
        Ok(chunk)
    }

    /// Processes the chunk's remaining inputs (only the first one while scanning) and writes.
    async fn process_and_write(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        ft: &FaultTolerance,
        st: &mut FtState,
        c: &mut StepContribution,
        chunk: &mut Chunk,
    ) -> Result<TxEnd, StepFailure> {
        if chunk.inputs.is_empty() && !chunk.busy {
            return Ok(TxEnd::Commit { done: false });
        }
        if chunk.scanning {
            chunk.filter_count = 0;
        }
        let outputs = match self.transform(p, step, ft, st, c, chunk).await? {
            Ok(outputs) => outputs,
            Err(rollback) => return Ok(TxEnd::Rollback(rollback)),
        };
        c.filter_count += chunk.filter_count;
        self.write(p, step, ft, st, c, chunk, outputs).await
    }

    /// The processor phase. `Ok(Err(e))` asks for a rollback.
    async fn transform(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        ft: &FaultTolerance,
        st: &mut FtState,
        c: &mut StepContribution,
        chunk: &mut Chunk,
    ) -> Result<Result<Vec<(i64, Vec<u8>)>, ItemError>, StepFailure> {
        let Some(plan) = self.chunk.processor.as_ref() else {
            return Ok(Ok(chunk
                .inputs
                .iter()
                .map(|i| (i.position, i.item.clone()))
                .collect()));
        };
        let mut outputs = Vec::with_capacity(chunk.inputs.len());
        let mut i = 0;
        while i < chunk.inputs.len() {
            if chunk.scanning && i > 0 {
                break;
            }
            let input = chunk.inputs[i].clone();
            let ctx = st.process_ctx.get(&input.item).cloned().unwrap_or_default();
            if let Some(last) = ctx
                .last
                .as_ref()
                .filter(|l| !ft.retry.can_retry(Some(l), ctx.attempts))
            {
                // Recovery: the processor is not called again.
                st.process_ctx.remove(&input.item);
                match ft.skip.should_skip(last, step_skips(step, c)) {
                    Ok(true) => {
                        c.process_skip_count += 1;
                        self.record_skip(st, chunk, SkipPhase::Process, last, &input);
                        chunk.inputs.remove(i);
                    }
                    Err(limit) => {
                        return Err(StepFailure::Plugin(format!(
                            "{limit}: processor {} failed on item {}: {}: {}",
                            plan.label, input.position, last.kind, last.message
                        )));
                    }
                    Ok(false) if ft.rollback.rolls_back(last) => {
                        return Err(StepFailure::Plugin(format!(
                            "processor {} failed on item {} after {} attempt(s) and the error is not skippable: {}: {}",
                            plan.label, input.position, ctx.attempts, last.kind, last.message
                        )));
                    }
                    Ok(false) => {
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
            let result = self.process_one(p, &input.item).await?;
            match result {
                Ok(Some(out)) => {
                    st.process_ctx.remove(&input.item);
                    if ft.processor_non_transactional && !chunk.scanning {
                        chunk.cache.insert(input.position, out.clone());
                    }
                    outputs.push((input.position, out));
                    i += 1;
                }
                Ok(None) => {
                    st.process_ctx.remove(&input.item);
                    chunk.filter_count += 1;
                    chunk.inputs.remove(i);
                }
                Err(e) => {
                    let entry = st.process_ctx.entry(input.item.clone()).or_default();
                    entry.attempts += 1;
                    entry.last = Some(e.clone());
                    if ft.rollback.rolls_back(&e) {
                        return Ok(Err(e));
                    }
                    match ft.skip.should_skip(&e, step_skips(step, c)) {
                        Ok(true) => {
                            st.process_ctx.remove(&input.item);
                            c.process_skip_count += 1;
                            self.record_skip(st, chunk, SkipPhase::Process, &e, &input);
                            chunk.inputs.remove(i);
                        }
                        Err(limit) => {
                            return Err(StepFailure::Plugin(format!(
                                "{limit}: processor {} failed on item {}: {}: {}",
                                plan.label, input.position, e.kind, e.message
                            )));
                        }
                        Ok(false) => {
                            let wrapped = ItemError::new(
                                NON_SKIPPABLE_PROCESS,
                                format!("{}: {}", e.kind, e.message),
                            );
                            if let Some(entry) = st.process_ctx.get_mut(&input.item) {
                                entry.last = Some(wrapped.clone());
                            }
                            return Ok(Err(wrapped));
                        }
                    }
                }
            }
        }
        Ok(Ok(outputs))
    }

    /// Calls the processor for one item; a trap becomes a `wasm.trap` error and the processor
    /// is replaced by a fresh instance (a trapped store cannot be entered again).
    async fn process_one(
        &self,
        p: &mut Plugins,
        item: &Vec<u8>,
    ) -> Result<Result<Option<Vec<u8>>, ItemError>, StepFailure> {
        let Some(proc_) = p.processor.as_mut() else {
            return Ok(Ok(Some(item.clone())));
        };
        match proc_.process(item).await {
            Ok(out) => Ok(Ok(out)),
            Err(PluginError::Failed(e)) => Ok(Err(e)),
            Err(trap @ PluginError::Trap(..)) => {
                self.restart_processor(p).await?;
                Ok(Err(trap.to_item_error()))
            }
            Err(PluginError::Interrupted) => Err(StepFailure::Interrupted),
        }
    }

    fn record_skip(
        &self,
        st: &mut FtState,
        chunk: &mut Chunk,
        phase: SkipPhase,
        e: &ItemError,
        input: &Input,
    ) {
        let number = chunk.number;
        let item = SkippedItem {
            phase,
            kind: e.kind.clone(),
            message: e.message.clone(),
            payload: Some(input.item.clone()),
            position: input.position,
            chunk: number,
        };
        note_skip(st, chunk, item);
    }

    /// Calls the writer; a trap becomes `wasm.trap` and the writer is replaced.
    async fn write_items(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        items: &[Vec<u8>],
    ) -> Result<Result<(), ItemError>, StepFailure> {
        match p.writer.write(items).await {
            Ok(()) => Ok(Ok(())),
            Err(PluginError::Failed(e)) => Ok(Err(e)),
            Err(trap @ PluginError::Trap(..)) => {
                self.restart_writer(p, step).await?;
                Ok(Err(trap.to_item_error()))
            }
            Err(PluginError::Interrupted) => Err(StepFailure::Interrupted),
        }
    }

    /// The writer phase: whole-chunk writes with retry, then item-by-item scanning to find the
    /// item to skip.
    #[allow(
        clippy::too_many_arguments,
        reason = "the loop's state, passed explicitly"
    )]
    async fn write(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        ft: &FaultTolerance,
        st: &mut FtState,
        c: &mut StepContribution,
        chunk: &mut Chunk,
        outputs: Vec<(i64, Vec<u8>)>,
    ) -> Result<TxEnd, StepFailure> {
        let key = (
            chunk.inputs.iter().map(|i| i.position).collect::<Vec<_>>(),
            chunk.busy,
        );
        let ctx = st.write_ctx.get(&key).cloned().unwrap_or_default();
        let exhausted = ctx
            .last
            .as_ref()
            .is_some_and(|l| !write_can_retry(ft, l, ctx.attempts));
        if !chunk.scanning && !exhausted {
            if outputs.is_empty() {
                st.write_ctx.remove(&key);
                chunk.inputs.clear();
                return Ok(TxEnd::Commit { done: false });
            }
            let items: Vec<Vec<u8>> = outputs.into_iter().map(|(_, o)| o).collect();
            return match self.write_items(p, step, &items).await? {
                Ok(()) => {
                    c.write_count += items.len() as i64;
                    st.write_ctx.remove(&key);
                    chunk.inputs.clear();
                    Ok(TxEnd::Commit { done: false })
                }
                Err(e) => {
                    let entry = st.write_ctx.entry(key).or_default();
                    entry.attempts += 1;
                    entry.last = Some(e.clone());
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
            st.write_ctx.remove(&key);
            let last = ctx
                .last
                .clone()
                .unwrap_or_else(|| ItemError::new("unknown", ""));
            let skippable = ft.skip.is_skippable(&last) || !ft.rollback.rolls_back(&last);
            if !skippable {
                return Err(StepFailure::Plugin(format!(
                    "writer {} failed on chunk {} after {} attempt(s) and the error is not skippable: {}: {}",
                    self.chunk.writer.label(),
                    chunk.number,
                    ctx.attempts,
                    last.kind,
                    last.message
                )));
            }
            chunk.busy = true;
            chunk.scanning = true;
        }
        self.scan(p, step, ft, st, c, chunk, outputs, in_recovery)
            .await
    }

    /// One scan step: write the first remaining item on its own.
    #[allow(
        clippy::too_many_arguments,
        reason = "the loop's state, passed explicitly"
    )]
    async fn scan(
        &self,
        p: &mut Plugins,
        step: &StepExecution,
        ft: &FaultTolerance,
        st: &mut FtState,
        c: &mut StepContribution,
        chunk: &mut Chunk,
        outputs: Vec<(i64, Vec<u8>)>,
        in_recovery: bool,
    ) -> Result<TxEnd, StepFailure> {
        let Some((position, item)) = outputs
            .into_iter()
            .next()
            .filter(|_| !chunk.inputs.is_empty())
        else {
            chunk.scanning = false;
            chunk.busy = false;
            return Ok(TxEnd::Commit { done: false });
        };
        let finish = |chunk: &mut Chunk| {
            if chunk.inputs.is_empty() {
                chunk.scanning = false;
                chunk.busy = false;
            }
        };
        let input_index = chunk
            .inputs
            .iter()
            .position(|i| i.position == position)
            .unwrap_or(0);
        match self
            .write_items(p, step, std::slice::from_ref(&item))
            .await?
        {
            Ok(()) => {
                c.write_count += 1;
                chunk.inputs.remove(input_index);
                finish(chunk);
                Ok(TxEnd::Commit { done: false })
            }
            Err(e) => {
                let input = chunk.inputs[input_index].clone();
                let rolls_back = ft.rollback.rolls_back(&e);
                if !ft.skip.is_skippable(&e) && !rolls_back {
                    // Not skippable but no-rollback: dropped silently, its partial write committed.
                    chunk.inputs.remove(input_index);
                    finish(chunk);
                    return Ok(TxEnd::Commit { done: false });
                }
                match ft.skip.should_skip(&e, step_skips(step, c)) {
                    Ok(true) => {
                        c.write_skip_count += 1;
                        let input = Input {
                            item: item.clone(),
                            ..input
                        };
                        self.record_skip(st, chunk, SkipPhase::Write, &e, &input);
                        chunk.inputs.remove(input_index);
                    }
                    Err(limit) => {
                        return Err(StepFailure::Plugin(format!(
                            "{limit}: writer {} failed on item {position}: {}: {}",
                            self.chunk.writer.label(),
                            e.kind,
                            e.message
                        )));
                    }
                    Ok(false) if in_recovery => {
                        return Err(StepFailure::Plugin(format!(
                            "writer {} failed on item {position} and the error is not skippable: {}: {}",
                            self.chunk.writer.label(),
                            e.kind,
                            e.message
                        )));
                    }
                    Ok(false) => {}
                }
                if rolls_back {
                    let key = (
                        chunk.inputs.iter().map(|i| i.position).collect::<Vec<_>>(),
                        chunk.busy,
                    );
                    let entry = st.write_ctx.entry(key).or_default();
                    entry.attempts += 1;
                    entry.last = Some(e.clone());
                    Ok(TxEnd::Rollback(e))
                } else {
                    finish(chunk);
                    Ok(TxEnd::Commit { done: false })
                }
            }
        }
    }
}
