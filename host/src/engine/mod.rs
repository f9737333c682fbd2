//! `engine`: runs a [`JobPlan`](crate::plan::JobPlan) against the repository.
//!
//! [`launch`] is Spring Batch's job launcher: it asks the repository for a new JobExecution of
//! the JobInstance (refusing running and completed instances), runs the steps in order, skips
//! steps that already COMPLETED in an earlier execution of the same instance (restart), and
//! records the job's final status. Each step runs in [`step`]: fresh plugin instances, opened
//! with the step's last committed ExecutionContext, then the chunk loop in [`chunk`].

mod chunk;
mod launcher;
mod step;

pub use launcher::{JobReport, LaunchError, RunListener, StepReport, launch};
