//! `domain`: `JobInstance` (job name + identifying parameters) and `JobExecution`.

use super::{BatchStatus, ExecutionContext, ExitStatus, Id, JobParameters, Timestamp};

/// A logical run of a job: the job name plus its identifying parameters (`BATCH_JOB_INSTANCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInstance {
    /// `JOB_INSTANCE_ID`.
    pub id: Id,
    /// The job's name.
    pub job_name: String,
    /// The MD5 key of the identifying parameters (Spring Batch 5's `DefaultJobKeyGenerator`).
    pub job_key: String,
}

/// One attempt to run a JobInstance (`BATCH_JOB_EXECUTION`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobExecution {
    /// `JOB_EXECUTION_ID`.
    pub id: Id,
    /// The instance this execution runs.
    pub instance: JobInstance,
    /// Optimistic-locking version.
    pub version: i64,
    /// All parameters of this execution.
    pub parameters: JobParameters,
    /// Lifecycle status.
    pub status: BatchStatus,
    /// Exit code and message.
    pub exit_status: ExitStatus,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it started.
    pub start_time: Option<Timestamp>,
    /// When it ended.
    pub end_time: Option<Timestamp>,
    /// When it was last written.
    pub last_updated: Option<Timestamp>,
    /// The job-level ExecutionContext.
    pub context: ExecutionContext,
}
