//! `engine`: runs a [`JobPlan`](crate::plan::JobPlan) against the repository.
//!
//! [`launch`] is Spring Batch's job launcher: it asks the repository for a new JobExecution of
//! the JobInstance (refusing running and completed instances), runs the steps in order, skips
//! steps that already COMPLETED in an earlier execution of the same instance (restart), and
//! records the job's final status. Each step runs in [`step`]: fresh plugin instances, opened
//! with the step's last committed ExecutionContext, then the chunk loop in [`chunk`].

mod chunk;
mod flow;
mod ft;
mod launcher;
mod reader;
mod step;
mod tasklet;
mod writer;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use launcher::{JobReport, LaunchError, RunListener, StepReport, launch, launch_with};

/// The collaborators of one job run, passed as one value to the flow runner, the step runner,
/// the chunk loop and the tasklet loop.
pub(crate) struct Run<'a, R> {
    pub(crate) plan: &'a crate::plan::JobPlan,
    pub(crate) repo: &'a R,
    pub(crate) runtime: &'a crate::plugin::PluginRuntime,
    pub(crate) listener: &'a dyn RunListener,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) stop: &'a StopFlag,
}

impl<R> Clone for Run<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Run<'_, R> {}

/// A stop request from this process (Ctrl-C, SIGTERM). Other processes ask through the
/// repository (`batch-host stop`); the engine checks both at every chunk boundary. An
/// [`interrupt`](Self::interrupt) (the second signal) also cuts the plugin call in progress.
#[derive(Debug, Clone, Default)]
pub struct StopFlag {
    requested: std::sync::Arc<std::sync::atomic::AtomicBool>,
    interrupt: crate::plugin::Interrupt,
}

impl StopFlag {
    /// Asks the running job to stop after the current chunk.
    pub fn request(&self) {
        self.requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True once a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.requested.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops now: the plugin call in progress is cut, its chunk rolls back, and the step ends
    /// STOPPED (restartable from its last committed chunk). No plugin code runs afterwards.
    pub fn interrupt(&self) {
        self.request();
        self.interrupt.trigger();
    }

    /// True once [`interrupt`](Self::interrupt) was called.
    pub fn is_interrupted(&self) -> bool {
        self.interrupt.is_triggered()
    }

    pub(crate) fn interrupt_handle(&self) -> &crate::plugin::Interrupt {
        &self.interrupt
    }
}

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
