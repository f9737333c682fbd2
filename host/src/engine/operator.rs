//! `engine` → operator: Spring's `JobOperator`, the one entry point for controlling jobs —
//! start, start the next instance, restart an execution, stop, abandon and recover. The CLI
//! (and any other front end) only calls it and renders its answers.

use std::time::Duration;

use super::launcher::launch_with;
use super::owner::{Liveness, liveness};
use super::report::{JobReport, RunListener};
use super::{Clock, LaunchError, StopFlag};
use crate::domain::{BatchStatus, Id, JobParameter, JobParameters, ParamType};
use crate::plan::JobPlan;
use crate::plugin::PluginRuntime;
use crate::repository::{ExecutionFilter, JobRepository, JobSource, Recovery, RepositoryError};

/// The parameter Spring's `RunIdIncrementer` increments.
pub const RUN_ID: &str = "run.id";

/// Why an operator request was refused or failed. Each message names the next command to type.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No execution has this id.
    #[error("no job execution {0}")]
    NoSuchExecution(Id),
    /// `stop`: the execution is not running.
    #[error("job execution {id} is not running (status {status})")]
    NotRunning {
        /// The execution.
        id: Id,
        /// Its status.
        status: BatchStatus,
    },
    /// `recover`: the execution is not running, so there is nothing to recover.
    #[error("job execution {id} is not running (status {status}); nothing to recover")]
    NothingToRecover {
        /// The execution.
        id: Id,
        /// Its status.
        status: BatchStatus,
    },
    /// `recover`: the execution's process is alive.
    #[error(
        "job execution {id} is alive (heartbeat {seconds_ago}s ago); stop it with `batch-host stop {id}`"
    )]
    Alive {
        /// The execution.
        id: Id,
        /// Seconds since its last heartbeat.
        seconds_ago: i64,
    },
    /// `recover`: the execution's process runs on this host.
    #[error(
        "job execution {id} is running as process {pid} on this host; stop it with `batch-host stop {id}` (or wait for it to end)"
    )]
    Running {
        /// The execution.
        id: Id,
        /// Its process id.
        pid: u32,
    },
    /// `stop`: the execution is marked running, but its process on this host is gone.
    #[error(
        "job execution {id} is marked {status}, but its process ({pid} on this host) is gone, so nothing can stop it; run `batch-host recover {id}`, then `batch-host restart {id}`"
    )]
    OwnerGone {
        /// The execution.
        id: Id,
        /// Its status.
        status: BatchStatus,
        /// Its process id.
        pid: u32,
    },
    /// `abandon`: only FAILED or STOPPED executions can be abandoned.
    #[error(
        "job execution {id} is {status}; only FAILED or STOPPED executions can be abandoned (stop a running one first)"
    )]
    NotAbandonable {
        /// The execution.
        id: Id,
        /// Its status.
        status: BatchStatus,
    },
    /// `restart`: only FAILED or STOPPED executions can be restarted.
    #[error("job execution {id} is {status}; only FAILED or STOPPED executions can be restarted")]
    NotRestartable {
        /// The execution.
        id: Id,
        /// Its status.
        status: BatchStatus,
    },
    /// `restart`: the execution recorded no job file.
    #[error("job execution {0} has no recorded job file; run its job.yaml again instead")]
    NoJobSource(Id),
    /// The repository failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl OperatorError {
    /// True when the request named something that does not exist (bad input), rather than
    /// something in the wrong state.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            OperatorError::NoSuchExecution(_) | OperatorError::NoJobSource(_)
        )
    }
}

/// What a restart runs again: the job file and work directory the execution recorded, and its
/// parameters.
#[derive(Debug, Clone)]
pub struct RestartSource {
    /// The job file, work directory and job text recorded at launch.
    pub job: JobSource,
    /// The execution's parameters.
    pub params: JobParameters,
}

/// Spring's `JobOperator` over one repository.
#[derive(Debug)]
pub struct JobOperator<'a, R> {
    repo: &'a R,
}

impl<'a, R: JobRepository> JobOperator<'a, R> {
    /// An operator of the jobs in `repo`.
    pub fn new(repo: &'a R) -> Self {
        JobOperator { repo }
    }

    /// Starts (or restarts, when its instance FAILED or STOPPED) the planned job and runs it to
    /// its end. The launcher heartbeats the execution while it runs.
    pub async fn start(
        &self,
        plan: &JobPlan,
        runtime: &PluginRuntime,
        listener: &dyn RunListener,
        clock: &dyn Clock,
        stop: &StopFlag,
    ) -> Result<JobReport, LaunchError> {
        launch_with(plan, self.repo, runtime, listener, clock, stop).await
    }

    /// Makes `plan` the next instance of its job (Spring's `RunIdIncrementer`): `run.id` = the
    /// last execution's `run.id` + 1.
    pub async fn next_instance(&self, plan: &mut JobPlan) -> Result<(), OperatorError> {
        let filter = ExecutionFilter {
            job_name: Some(plan.name.clone()),
            limit: Some(1),
            ..Default::default()
        };
        let last = self.repo.find_executions(&filter).await?;
        let previous = last
            .first()
            .and_then(|e| e.parameters.get(RUN_ID))
            .and_then(|p| p.value.parse::<i64>().ok())
            .unwrap_or(0);
        plan.params.insert(
            RUN_ID,
            JobParameter {
                kind: ParamType::Long,
                value: (previous + 1).to_string(),
                identifying: true,
            },
        );
        Ok(())
    }

    /// What restarting execution `id` runs: it must be FAILED or STOPPED and have a recorded job
    /// file. Plan the source again and [`start`](Self::start) it.
    pub async fn restart_source(&self, id: Id) -> Result<RestartSource, OperatorError> {
        let filter = ExecutionFilter {
            execution_id: Some(id),
            ..Default::default()
        };
        let Some(execution) = self.repo.find_executions(&filter).await?.into_iter().next() else {
            return Err(OperatorError::NoSuchExecution(id));
        };
        if !matches!(execution.status, BatchStatus::Failed | BatchStatus::Stopped) {
            return Err(OperatorError::NotRestartable {
                id,
                status: execution.status,
            });
        }
        let job = self
            .repo
            .job_source(id)
            .await?
            .ok_or(OperatorError::NoJobSource(id))?;
        Ok(RestartSource {
            job,
            params: execution.parameters,
        })
    }

    /// Asks a running execution to stop after its current chunk (STOPPING). Refused when its
    /// process on this host is gone (`recover` it instead).
    pub async fn stop(&self, id: Id) -> Result<(), OperatorError> {
        if let Some(status) = self.repo.execution_status(id).await?
            && status.is_running()
            && let Some(pid) = self.gone_owner(id).await?
        {
            return Err(OperatorError::OwnerGone { id, status, pid });
        }
        if self.repo.request_stop(id).await? {
            return Ok(());
        }
        Err(match self.repo.execution_status(id).await? {
            None => OperatorError::NoSuchExecution(id),
            Some(status) => OperatorError::NotRunning { id, status },
        })
    }

    /// Marks a FAILED or STOPPED execution ABANDONED: its instance is never restarted.
    pub async fn abandon(&self, id: Id) -> Result<(), OperatorError> {
        if self.repo.abandon(id).await? {
            return Ok(());
        }
        Err(match self.repo.execution_status(id).await? {
            None => OperatorError::NoSuchExecution(id),
            Some(status) => OperatorError::NotAbandonable { id, status },
        })
    }

    /// The process id of `id`'s recorded owner when it ran on this host and is gone.
    async fn gone_owner(&self, id: Id) -> Result<Option<u32>, OperatorError> {
        Ok(match self.repo.execution_owner(id).await? {
            Some(owner) if liveness(&owner) == Liveness::Gone => Some(owner.pid),
            _ => None,
        })
    }

    /// Marks an execution whose process died FAILED, so it can be restarted. On the host that
    /// ran it the answer is immediate: recovered when its process is gone, refused while it
    /// lives. From another host (or without an owner record) the heartbeat decides: recovered
    /// once it is older than `stale_after`.
    pub async fn recover(&self, id: Id, stale_after: Duration) -> Result<(), OperatorError> {
        let owner = self.repo.execution_owner(id).await?;
        let running = self
            .repo
            .execution_status(id)
            .await?
            .is_some_and(|s| s.is_running());
        let gone = match &owner {
            Some(o) if running => match liveness(o) {
                Liveness::Alive => return Err(OperatorError::Running { id, pid: o.pid }),
                Liveness::Gone => Some(format!(
                    "its process ({} on {}) is gone",
                    o.pid,
                    crate::domain::fit(&o.host, 64)
                )),
                Liveness::Elsewhere => None,
            },
            _ => None,
        };
        match self.repo.recover(id, stale_after, gone.as_deref()).await? {
            Recovery::Recovered => Ok(()),
            Recovery::Alive { seconds_ago } => Err(OperatorError::Alive { id, seconds_ago }),
            Recovery::NotRunning(status) => Err(OperatorError::NothingToRecover { id, status }),
            Recovery::Missing => Err(OperatorError::NoSuchExecution(id)),
        }
    }
}
