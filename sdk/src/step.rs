//! What every role can learn about, and say about, its step.

/// A step's exit status, set by the plugin (Spring Batch's `ExitStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    /// The code `next` transitions match on, such as `COMPLETED WITH SKIPS`.
    pub code: String,
    /// Free text, recorded as the step's `EXIT_MESSAGE`.
    pub description: String,
}

impl ExitStatus {
    /// An exit status with `code` and an empty description.
    pub fn new(code: impl Into<String>) -> Self {
        ExitStatus {
            code: code.into(),
            description: String::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// A step execution as a plugin sees it: a decider gets the one before it, a reader or writer
/// its own in `after_step`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSummary {
    /// The step name.
    pub name: String,
    /// The BatchStatus: `COMPLETED`, `FAILED`, `STOPPED`, `ABANDONED`.
    pub status: String,
    /// The exit code, such as `COMPLETED WITH SKIPS`.
    pub exit_code: String,
    /// The exit description.
    pub exit_description: String,
    /// Items read.
    pub read_count: i64,
    /// Items written.
    pub write_count: i64,
    /// Items filtered by the processor.
    pub filter_count: i64,
    /// Items skipped in read, process and write.
    pub skip_count: i64,
    /// Committed chunks.
    pub commit_count: i64,
    /// Rolled-back chunks.
    pub rollback_count: i64,
}

#[allow(dead_code, reason = "used by the wasm glue of some roles only")]
pub(crate) mod wire {
    use super::{ExitStatus, StepSummary};
    use crate::bindings::platform::batch::plugin::types as wit;

    pub(crate) fn summary(s: wit::StepSummary) -> StepSummary {
        StepSummary {
            name: s.name,
            status: s.status,
            exit_code: s.exit_status.code,
            exit_description: s.exit_status.description,
            read_count: s.read_count,
            write_count: s.write_count,
            filter_count: s.filter_count,
            skip_count: s.skip_count,
            commit_count: s.commit_count,
            rollback_count: s.rollback_count,
        }
    }

    pub(crate) fn exit_status(e: ExitStatus) -> wit::ExitStatus {
        wit::ExitStatus {
            code: e.code,
            description: e.description,
        }
    }
}
