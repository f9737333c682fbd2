//! `engine`: runs a [`JobPlan`](crate::plan::JobPlan) against the repository.
//!
//! [`launch`] is Spring Batch's job launcher: it asks the repository for a new JobExecution of
//! the JobInstance (refusing running and completed instances), runs the steps in order, skips
//! steps that already COMPLETED in an earlier execution of the same instance (restart), and
//! records the job's final status. Each step runs in [`step`]: fresh plugin instances, opened
//! with the step's last committed ExecutionContext, then the chunk loop in [`chunk`].

mod chunk;
mod ft;
mod launcher;
mod reader;
mod step;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use launcher::{JobReport, LaunchError, RunListener, StepReport, launch, launch_with};

/// Waits between retry attempts. Tests inject one that records instead of sleeping.
pub trait Clock: Send + Sync {
    /// Waits for `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock: `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}
