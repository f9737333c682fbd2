//! `engine`: runs a [`JobPlan`](crate::plan::JobPlan) against the repository.
//!
//! The pipeline, top to bottom (each file imports only the ones below it):
//! [`operator`] (Spring's JobOperator: start, next instance, restart, stop, abandon, recover) →
//! [`launcher`] (the JobExecution, its heartbeat, its final status) → [`flow`] (which step runs
//! next: transitions, deciders, splits; [`partition`] runs a partitioned step's workers,
//! split by a [`partitioner`]) → [`step`] (one StepExecution: already complete, start
//! limit, restart context) → [`chunk`] or [`tasklet`] (the transaction loops) → [`plugins`]
//! (setup, grant, sandbox, instances; [`concurrency`] spreads a chunk over processor instances)
//! with the role wrappers [`reader`], [`processor`],
//! [`writer`] over components or host-side [`items`] → [`failure`] and [`report`]. [`worker`]
//! runs one partition a `batch-host worker` claimed, through the same step runner.

mod builtin;
mod chunk;
mod concurrency;
mod failure;
mod flow;
mod items;
mod launcher;
mod operator;
mod owner;
mod partition;
mod partitioner;
mod plugins;
mod processor;
mod read_ahead;
mod reader;
mod report;
mod step;
mod tasklet;
mod worker;
mod writer;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use launcher::{LaunchError, launch, launch_with, running_executions};
pub use operator::{JobOperator, OperatorError, RUN_ID, RestartSource};
pub use report::{JobReport, RunListener, StepReport};
/// This process as a `batch-host worker` names itself in the repository: `host:pid`.
pub fn worker_name() -> String {
    let me = owner::this_process();
    format!("{}:{}", me.host, me.pid)
}

pub use worker::{
    ClaimedPartition, WorkerError, claimed_execution, refuse_partition, run_claimed_partition,
};

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
    /// When the repository was last asked whether another process requested a stop.
    last_poll: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// How often, at most, chunk boundaries ask the repository for a stop requested by another
/// process: a stop is noticed within this time plus one chunk, without a query per chunk.
pub const STOP_POLL_INTERVAL: Duration = Duration::from_millis(250);

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

    /// True when the repository should be asked again (at most every [`STOP_POLL_INTERVAL`]);
    /// records the poll.
    pub(crate) fn poll_due(&self) -> bool {
        let mut last = self
            .last_poll
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < STOP_POLL_INTERVAL => false,
            _ => {
                *last = Some(now);
                true
            }
        }
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

/// Runs `work` while heartbeating `execution_id` every [`HEARTBEAT_INTERVAL`], on the same task
/// (plugin calls yield at every epoch tick, so the heartbeat keeps its pace during long calls).
pub(crate) async fn beating<R: crate::repository::JobRepository, T>(
    repo: &R,
    execution_id: i64,
    work: impl std::future::Future<Output = T>,
) -> T {
    let heartbeat = async {
        loop {
            tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            if let Err(e) = repo.heartbeat(execution_id).await {
                tracing::warn!(error = %e, "heartbeat failed");
            }
        }
    };
    tokio::select! {
        out = work => out,
        _ = heartbeat => unreachable!("the heartbeat loop never ends"),
    }
}

/// How often a running execution records that its process is alive (`batch-host recover`
/// treats an execution without a recent heartbeat as dead).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
