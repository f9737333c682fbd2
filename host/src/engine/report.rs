//! `engine` → every layer: what a run tells its observer ([`RunListener`]) and the reports it
//! returns ([`JobReport`], [`StepReport`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::{JobExecution, SkipPhase, StepExecution};

/// Observes a run, for progress displays. Every method has an empty default.
pub trait RunListener: Send + Sync {
    /// A job execution was created.
    fn job_started(&self, _execution: &JobExecution, _restart: bool) {}
    /// A step starts.
    fn step_started(&self, _step: &str) {}
    /// A chunk committed; `step` holds the running totals.
    fn chunk_committed(&self, _step: &StepExecution) {}
    /// A chunk rolled back and will be retried after `delay`.
    fn retry_backoff(&self, _step: &str, _delay: Duration) {}
    /// A step ended (or was skipped because it already completed).
    fn step_finished(&self, _report: &StepReport) {}
}

/// How one step of the job went.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step execution (for a skipped step: the earlier, completed one).
    pub execution: StepExecution,
    /// True when the step was not run because it completed in an earlier execution.
    pub already_complete: bool,
    /// Wall-clock time of this run of the step.
    pub duration: Duration,
    /// Items skipped in this run, by phase and error kind.
    pub skips: BTreeMap<(SkipPhase, String), i64>,
    /// Why the step was not started at all (its start limit): Spring's
    /// `StartLimitExceededException`, thrown before a step execution exists, fails the job.
    pub refused: Option<String>,
}

impl StepReport {
    /// Items read per second in this run.
    pub fn items_per_second(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 && !self.already_complete {
            self.execution.read_count as f64 / secs
        } else {
            0.0
        }
    }
}

/// How the job went.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The finished job execution.
    pub execution: JobExecution,
    /// The steps in order.
    pub steps: Vec<StepReport>,
    /// True when this execution restarted a FAILED or STOPPED instance.
    pub restart: bool,
    /// Wall-clock time.
    pub duration: Duration,
    /// The flow transitions taken (`load COMPLETED WITH SKIPS → error-report`), in order.
    pub route: Vec<String>,
}
