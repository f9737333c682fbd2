//! `server` → runs: the server's bounded pool of job executions — launches (with the tenant's
//! quota checked and the execution created under one lock per tenant, so two simultaneous
//! launches cannot both pass a quota of one), the stop flags of what runs here, recovery of what
//! a previous server process left running, and a graceful shutdown that stops everything
//! restartably.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::{info, warn};

use super::error::ApiError;
use crate::domain::{JobExecution, StepExecution};
use crate::engine::{JobOperator, LaunchError, RunListener, StepReport, StopFlag, SystemClock};
use crate::plan::{JobPlan, Reservation};
use crate::plugin::PluginRuntime;
use crate::repository::SqlRepository;
use crate::spec::show_size;
use crate::telemetry::MetricsListener;

/// What a launch turned into: the new execution, or why it never started.
pub(super) type Launched = Result<JobExecution, ApiError>;

/// The executions this server runs.
#[derive(Debug)]
pub(super) struct Runs {
    /// One permit per execution that may run at once.
    pool: Arc<Semaphore>,
    workers: usize,
    /// tenant → the lock held from the quota check until the execution exists.
    quota_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// (tenant, execution id) → its stop flag, while it runs here.
    running: Arc<Mutex<HashMap<(String, i64), StopFlag>>>,
    /// The tasks running executions (awaited at shutdown).
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// tenant → what its executions running here hold together (memory, guest calls).
    held: Arc<Mutex<HashMap<String, Reservation>>>,
}

/// What one launch holds of its tenant's `max-memory` and `max-cpus`, given back when dropped.
struct Reserved {
    held: Arc<Mutex<HashMap<String, Reservation>>>,
    tenant: String,
    reservation: Reservation,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.get_mut(&self.tenant) {
            h.memory = h.memory.saturating_sub(self.reservation.memory);
            h.cpus = h.cpus.saturating_sub(self.reservation.cpus);
        }
    }
}

/// Reports the execution id to the launch request once the execution exists, and feeds the
/// metrics.
struct ServerListener {
    started: Mutex<Option<oneshot::Sender<JobExecution>>>,
    running: Arc<Mutex<HashMap<(String, i64), StopFlag>>>,
    tenant: String,
    stop: StopFlag,
    metrics: MetricsListener,
}

impl RunListener for ServerListener {
    fn job_started(&self, execution: &JobExecution, restart: bool) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((self.tenant.clone(), execution.id), self.stop.clone());
        if let Some(tx) = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = tx.send(execution.clone());
        }
        self.metrics.job_started(execution, restart);
    }
    fn step_started(&self, step: &str) {
        self.metrics.step_started(step);
    }
    fn chunk_committed(&self, step: &StepExecution) {
        self.metrics.chunk_committed(step);
    }
    fn step_finished(&self, report: &StepReport) {
        self.metrics.step_finished(report);
    }
}

impl Runs {
    /// A pool running at most `workers` executions at once.
    pub(super) fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        Runs {
            pool: Arc::new(Semaphore::new(workers)),
            workers,
            quota_locks: Mutex::new(HashMap::new()),
            running: Arc::new(Mutex::new(HashMap::new())),
            tasks: Mutex::new(Vec::new()),
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Reserves what `plan` holds for `tenant`, or refuses when that would pass the tenant's
    /// `max-memory` or `max-cpus` (called under the tenant's quota lock).
    fn reserve(&self, tenant: &str, plan: &JobPlan) -> Result<Reserved, ApiError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let now = held.get(tenant).copied().unwrap_or_default();
        let (want, quota) = (plan.reservation, plan.quota);
        let refuse = |what: String| {
            Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                format!("{what}; wait for one of the tenant's executions to end"),
            ))
        };
        if let Some(max) = quota
            .memory
            .filter(|max| now.memory.saturating_add(want.memory) > *max)
        {
            return refuse(format!(
                "tenant `{tenant}`'s running executions hold {} of its max-memory of {}, and this job may reserve {}",
                show_size(now.memory),
                show_size(max),
                show_size(want.memory)
            ));
        }
        if let Some(max) = quota
            .cpus
            .filter(|max| now.cpus.saturating_add(want.cpus) > *max)
        {
            return refuse(format!(
                "tenant `{tenant}`'s running executions make up to {} guest calls at once of its max-cpus of {max}, and this job may make {}",
                now.cpus, want.cpus
            ));
        }
        held.insert(
            tenant.to_owned(),
            Reservation {
                memory: now.memory.saturating_add(want.memory),
                cpus: now.cpus.saturating_add(want.cpus),
            },
        );
        Ok(Reserved {
            held: self.held.clone(),
            tenant: tenant.to_owned(),
            reservation: want,
        })
    }

    /// How many executions run here now, and the pool's size.
    pub(super) fn load(&self) -> (usize, usize) {
        (self.workers - self.pool.available_permits(), self.workers)
    }

    fn quota_lock(&self, tenant: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.quota_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant.to_owned())
            .or_default()
            .clone()
    }

    /// The stop flag of execution `id` of `tenant` if it runs in this server.
    pub(super) fn stop_flag(&self, tenant: &str, id: i64) -> Option<StopFlag> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(tenant.to_owned(), id))
            .cloned()
    }

    /// Launches `plan` in the background and returns once its execution exists (or the launch
    /// was refused). The job then runs to its end in the pool.
    pub(super) async fn launch(
        &self,
        tenant: &str,
        repo: SqlRepository,
        plan: JobPlan,
        runtime: PluginRuntime,
    ) -> Launched {
        let permit: OwnedSemaphorePermit = self.pool.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "workers_busy",
                format!(
                    "all {} workers of this server are running executions; retry when one ends (GET /api/v1/executions?status=STARTED lists them)",
                    self.workers
                ),
            )
        })?;
        // Held until the execution exists, so the next launch's quota check counts it.
        let lock = self.quota_lock(tenant);
        let _quota = lock.lock().await;
        // Released when the execution ends, or at once if this launch goes no further (a
        // refusal, or the request cancelled by its client).
        let reserved = self.reserve(tenant, &plan)?;
        let repo = repo.with_durability(plan.durability).await?;
        let (tx, rx) = oneshot::channel();
        let stop = StopFlag::default();
        let listener = ServerListener {
            started: Mutex::new(Some(tx)),
            running: self.running.clone(),
            tenant: tenant.to_owned(),
            stop: stop.clone(),
            metrics: MetricsListener::new(tenant, &plan.name),
        };
        let (refused_tx, refused_rx) = oneshot::channel::<LaunchError>();
        let tenant = tenant.to_owned();
        let running = self.running.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let result = JobOperator::new(&repo)
                .start(&plan, &runtime, &listener, &SystemClock, &stop)
                .await;
            let execution = match result {
                Ok(report) => {
                    info!(tenant = %tenant, job = %plan.name, execution_id = report.execution.id, status = %report.execution.status, "job execution ended");
                    Some(report.execution)
                }
                Err(e) => {
                    let started = listener
                        .started
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_none();
                    if !started {
                        let _ = refused_tx.send(e);
                        None
                    } else {
                        warn!(tenant = %tenant, job = %plan.name, error = %e, "job execution failed to finish");
                        None
                    }
                }
            };
            if let Some(e) = &execution {
                running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(tenant.clone(), e.id));
            }
            listener
                .metrics
                .job_finished(execution.as_ref(), started.elapsed());
            drop(reserved);
            drop(permit);
        });
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| !t.is_finished());
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        match rx.await {
            Ok(execution) => Ok(execution),
            Err(_) => Err(refused_rx.await.map(ApiError::from).unwrap_or_else(|_| {
                ApiError::internal("the launch ended before its execution was created")
            })),
        }
    }

    /// Asks every execution running here to stop after its current chunk, waits up to `grace`
    /// for them to end STOPPED, then interrupts the plugin calls still running (their chunks
    /// roll back; everything stays restartable).
    pub(super) async fn shutdown(&self, grace: Duration) {
        let flags: Vec<_> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        if !flags.is_empty() {
            info!(executions = flags.len(), "stopping running executions");
        }
        for f in &flags {
            f.request();
        }
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let all = futures::future::join_all(tasks);
        tokio::pin!(all);
        if tokio::time::timeout(grace, &mut all).await.is_err() {
            warn!(
                ?grace,
                "executions still running after the grace period; interrupting them"
            );
            for f in &flags {
                f.interrupt();
            }
            let _ = all.await;
        }
    }
}

/// Marks FAILED the executions of `repo` that a previous server process (or any process on this
/// host that is gone) left running, so they can be restarted; returns their ids.
pub(super) async fn recover_orphans(repo: &SqlRepository, stale_after: Duration) -> Vec<i64> {
    let mut recovered = Vec::new();
    for e in crate::engine::running_executions(repo)
        .await
        .unwrap_or_default()
    {
        if JobOperator::new(repo)
            .recover(e.id, stale_after)
            .await
            .is_ok()
        {
            recovered.push(e.id);
        }
    }
    recovered
}
