//! `domain`: `StepExecution` with Spring Batch's counters, and the `StepContribution` one chunk
//! adds to them.

use super::{BatchStatus, ExecutionContext, ExitStatus, Id, Timestamp};

/// One run of one step within a JobExecution, with Spring Batch's counters
/// (the columns of `BATCH_STEP_EXECUTION`).
#[derive(Debug, Clone, PartialEq)]
pub struct StepExecution {
    /// `STEP_EXECUTION_ID`.
    pub id: Id,
    /// The owning `JOB_EXECUTION_ID`.
    pub job_execution_id: Id,
    /// The step's name from job.yaml.
    pub step_name: String,
    /// Optimistic-locking version (`VERSION`).
    pub version: i64,
    /// Lifecycle status.
    pub status: BatchStatus,
    /// Exit code and message.
    pub exit_status: ExitStatus,
    /// Items read.
    pub read_count: i64,
    /// Items written.
    pub write_count: i64,
    /// Items filtered out by the processor.
    pub filter_count: i64,
    /// Chunks committed.
    pub commit_count: i64,
    /// Chunks rolled back.
    pub rollback_count: i64,
    /// Items skipped while reading.
    pub read_skip_count: i64,
    /// Items skipped while processing.
    pub process_skip_count: i64,
    /// Items skipped while writing.
    pub write_skip_count: i64,
    /// When the execution was created.
    pub create_time: Timestamp,
    /// When it started.
    pub start_time: Option<Timestamp>,
    /// When it ended.
    pub end_time: Option<Timestamp>,
    /// When it was last written.
    pub last_updated: Option<Timestamp>,
    /// The step's ExecutionContext at the last commit.
    pub context: ExecutionContext,
    /// The plugins the step ran.
    pub plugins: Vec<super::StepPlugin>,
}

impl StepExecution {
    /// A new, not yet persisted step execution (id 0) in status STARTING.
    pub fn new(job_execution_id: Id, step_name: &str, now: Timestamp) -> Self {
        StepExecution {
            id: 0,
            job_execution_id,
            step_name: step_name.to_owned(),
            version: 0,
            status: BatchStatus::Starting,
            exit_status: ExitStatus::executing(),
            read_count: 0,
            write_count: 0,
            filter_count: 0,
            commit_count: 0,
            rollback_count: 0,
            read_skip_count: 0,
            process_skip_count: 0,
            write_skip_count: 0,
            create_time: now,
            start_time: None,
            end_time: None,
            last_updated: Some(now),
            context: ExecutionContext::new(),
            plugins: Vec::new(),
        }
    }

    /// All skips.
    pub fn skip_count(&self) -> i64 {
        self.read_skip_count + self.process_skip_count + self.write_skip_count
    }

    /// How far the reader is through its input, when it can tell: `(offset, size)` from its
    /// checkpoint's `offset` and `size` (the built-in file readers record bytes; a plugin reader
    /// may record any unit, the same for both).
    pub fn input_progress(&self) -> Option<(u64, u64)> {
        let get = |k: &str| self.context.get(k).and_then(|v| v.as_u64());
        let (offset, size) = (get("reader.offset")?, get("reader.size")?);
        (size > 0).then_some((offset.min(size), size))
    }

    /// Adds another step execution's counters, commits and rollbacks to these (Spring's
    /// `StepExecutionAggregator`, which sums a partitioned step's workers into its manager).
    pub fn aggregate(&mut self, worker: &StepExecution) {
        self.apply(&StepContribution {
            read_count: worker.read_count,
            write_count: worker.write_count,
            filter_count: worker.filter_count,
            read_skip_count: worker.read_skip_count,
            process_skip_count: worker.process_skip_count,
            write_skip_count: worker.write_skip_count,
        });
        self.commit_count += worker.commit_count;
        self.rollback_count += worker.rollback_count;
    }

    /// Adds one chunk's counter deltas (Spring's `StepExecution.apply(StepContribution)`).
    pub fn apply(&mut self, c: &StepContribution) {
        self.read_count += c.read_count;
        self.write_count += c.write_count;
        self.filter_count += c.filter_count;
        self.read_skip_count += c.read_skip_count;
        self.process_skip_count += c.process_skip_count;
        self.write_skip_count += c.write_skip_count;
    }
}

/// The counter deltas of one chunk, applied to the StepExecution when the chunk commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepContribution {
    /// Items read in this chunk.
    pub read_count: i64,
    /// Items written in this chunk.
    pub write_count: i64,
    /// Items filtered in this chunk.
    pub filter_count: i64,
    /// Read skips in this chunk.
    pub read_skip_count: i64,
    /// Process skips in this chunk.
    pub process_skip_count: i64,
    /// Write skips in this chunk.
    pub write_skip_count: i64,
}
