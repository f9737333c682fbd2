//! `engine` → flow → partition: a partitioned step (Spring's `PartitionStep`). The manager's
//! step execution computes the partitions once (kept in its context, so a restart gets the same
//! ones), runs the worker step once per partition as `worker:partitionN` — `concurrency` of them
//! at a time, each on a thread of its own — and ends with its workers' summed counters and
//! their most severe status. A restart runs only the partitions that did not complete, each from
//! its own last committed context.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};
use tracing::{info, warn};

use super::Run;
use super::failure::StepFailure;
use super::partitioner::partitions;
use super::plugins::open_grant;
use super::report::StepReport;
use super::step::{Seed, run_step_as};
use crate::domain::{BatchStatus, ExecutionContext, ExitStatus, JobExecution, StepExecution, now};
use crate::plan::{PartitionPlan, StepPlan};
use crate::repository::{JobRepository, RepositoryError};

/// The manager's context key holding every partition's context, in partition order.
const PARTITIONS: &str = "batch.partitions";

/// The name of partition `index`'s worker step execution, as Spring names it.
pub(crate) fn worker_name(worker: &str, index: usize) -> String {
    format!("{worker}:partition{index}")
}

/// Runs the partitioned step `manager` of `execution`.
pub(super) async fn run_partitioned<R: JobRepository>(
    run: Run<'_, R>,
    manager: &StepPlan,
    partition: &PartitionPlan,
    execution: &JobExecution,
    job_context: &ExecutionContext,
) -> Result<StepReport, RepositoryError> {
    let started_at = Instant::now();
    let repo = run.repo;
    let previous = repo
        .last_step_execution(&execution.instance, &manager.name)
        .await?
        .filter(|p| p.job_execution_id != execution.id);
    if let Some(prev) = &previous
        && (prev.status == BatchStatus::Abandoned
            || (prev.status == BatchStatus::Completed && !manager.allow_start_if_complete))
    {
        info!(step = %manager.name, "step already complete; not running it again");
        return Ok(StepReport {
            execution: prev.clone(),
            already_complete: true,
            duration: started_at.elapsed(),
            skips: Default::default(),
            refused: None,
        });
    }
    let mut step = StepExecution::new(execution.id, &manager.name, now());
    // A restart keeps the partitions the failed execution computed.
    let stored = previous
        .filter(|p| p.status != BatchStatus::Completed)
        .and_then(|p| stored_partitions(&p.context).map(|parts| (p.context, parts)));
    let parts = match stored {
        Some((ctx, parts)) => {
            step.context = ctx;
            Ok(parts)
        }
        None => match open_grant(run.plan, manager) {
            Err(StepFailure::Setup(m)) => Err(m),
            Err(_) => Err("the step's directory cannot be opened".to_owned()),
            Ok(grant) => {
                let p = &partition.partitioner;
                partitions(&run, manager, p, &grant, partition.grid_size, job_context).await
            }
        },
    };
    step.context.put(
        "batch.stepType",
        json!("org.springframework.batch.core.partition.support.PartitionStep"),
    );
    step.status = BatchStatus::Started;
    step.start_time = Some(now());
    if let Ok(parts) = &parts {
        let all: Vec<Value> = parts
            .iter()
            .map(|c| {
                let map = c.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
                Value::Object(map)
            })
            .collect();
        step.context.put(PARTITIONS, Value::Array(all));
    }
    repo.add_step_execution(&mut step).await?;
    run.listener.step_started(&manager.name);
    let parts = match parts {
        Ok(parts) => parts,
        Err(message) => {
            warn!(step = %manager.name, reason = %message, "the partitioner failed");
            step.status = BatchStatus::Failed;
            step.exit_status = ExitStatus::failed().with_description(message);
            step.end_time = Some(now());
            repo.update_step_execution(&mut step).await?;
            return Ok(report(step, started_at));
        }
    };
    let worker = &run.plan.steps[partition.worker];
    info!(step = %manager.name, partitions = parts.len(), concurrency = partition.concurrency, "partitions started");
    let names: Vec<String> = (0..parts.len())
        .map(|i| worker_name(&worker.name, i))
        .collect();
    let jobs = Jobs {
        run,
        worker,
        names: &names,
        parts: &parts,
        execution,
        job_context,
    };
    let reports = if partition.remote {
        jobs.offer_and_wait(manager).await?
    } else {
        jobs.run_all(partition.concurrency as usize).await
    };

    // Spring's StepExecutionAggregator: the manager sums the workers this execution ran; its
    // status is theirs at its most severe.
    let mut status = BatchStatus::Completed;
    let mut problems = Vec::new();
    for (i, r) in reports.into_iter().enumerate() {
        let Some(r) = r else {
            problems.push(format!("{}: not started (stop requested)", names[i]));
            status = status.upgrade_to(BatchStatus::Stopped);
            continue;
        };
        let r = r?;
        if r.already_complete {
            continue;
        }
        let w = &r.execution;
        step.aggregate(w);
        if w.status != BatchStatus::Completed {
            problems.push(format!("{}: {}", names[i], w.exit_status.description));
        }
        status = status.upgrade_to(w.status);
    }
    step.status = status;
    step.exit_status = match status {
        BatchStatus::Completed => {
            super::chunk::completed_exit(manager.exit_status_on_skips.as_deref(), &step)
        }
        BatchStatus::Stopped => ExitStatus::stopped().with_description(format!(
            "partitions stopped; run the same command to restart them: {}",
            problems.join("; ")
        )),
        _ => ExitStatus::failed().with_description(format!(
            "{} of {} partitions did not complete (a restart runs only those): {}",
            problems.len(),
            parts.len(),
            problems.join("; ")
        )),
    };
    step.end_time = Some(now());
    repo.update_step_execution(&mut step).await?;
    info!(step = %manager.name, status = %step.status, read = step.read_count, written = step.write_count, "partitions ended");
    Ok(report(step, started_at))
}

fn report(execution: StepExecution, started_at: Instant) -> StepReport {
    StepReport {
        execution,
        already_complete: false,
        duration: started_at.elapsed(),
        skips: Default::default(),
        refused: None,
    }
}

/// The partitions a manager's context holds, if it holds them.
fn stored_partitions(ctx: &ExecutionContext) -> Option<Vec<ExecutionContext>> {
    let all = ctx.get(PARTITIONS)?.as_array()?;
    all.iter()
        .map(|v| {
            let mut c = ExecutionContext::new();
            for (k, v) in v.as_object()? {
                c.put(k.clone(), v.clone());
            }
            Some(c)
        })
        .collect()
}

/// The worker step executions of one manager execution.
struct Jobs<'a, 'r, R> {
    run: Run<'r, R>,
    worker: &'a StepPlan,
    names: &'a [String],
    parts: &'a [ExecutionContext],
    execution: &'a JobExecution,
    job_context: &'a ExecutionContext,
}

impl<R: JobRepository> Jobs<'_, '_, R> {
    /// `workers: remote`: offers the partitions that did not complete before to `batch-host
    /// worker` processes through the repository, waits until every one is done (a stop request
    /// from Ctrl-C here is passed on as STOPPING, which the workers honour at their next chunk
    /// boundary and which keeps unclaimed partitions unclaimed), and reads back their step
    /// executions.
    async fn offer_and_wait(
        &self,
        manager: &StepPlan,
    ) -> Result<Vec<Option<Result<StepReport, RepositoryError>>>, RepositoryError> {
        let repo = self.run.repo;
        let id = self.execution.id;
        let mut offered = Vec::new();
        let mut reports: Vec<Option<Result<StepReport, RepositoryError>>> = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let last = repo
                .last_step_execution(&self.execution.instance, name)
                .await?;
            match last {
                Some(done)
                    if done.status == BatchStatus::Completed
                        && done.job_execution_id != id
                        && !self.worker.allow_start_if_complete =>
                {
                    reports.push(Some(Ok(StepReport {
                        execution: done,
                        already_complete: true,
                        duration: Default::default(),
                        skips: Default::default(),
                        refused: None,
                    })));
                }
                _ => {
                    offered.push((name.clone(), self.parts[i].clone()));
                    reports.push(None);
                }
            }
        }
        repo.offer_partitions(id, &self.worker.name, &offered)
            .await?;
        info!(step = %manager.name, offered = offered.len(), "partitions offered to `batch-host worker` processes");
        let started = Instant::now();
        let mut told = Instant::now();
        let mut stop_passed_on = false;
        loop {
            let states = repo.partition_states(id).await?;
            let claimed = states.iter().filter(|s| s.1 == "CLAIMED").count();
            let waiting = states.iter().filter(|s| s.1 == "READY").count();
            let stopping = self.run.stop.is_requested()
                || repo.execution_status(id).await? == Some(BatchStatus::Stopping);
            if stopping && !stop_passed_on && self.run.stop.is_requested() {
                repo.request_stop(id).await?;
                stop_passed_on = true;
            }
            if claimed == 0 && (waiting == 0 || stopping) {
                break;
            }
            if told.elapsed() >= std::time::Duration::from_secs(30) {
                info!(
                    step = %manager.name,
                    waiting, running = claimed,
                    seconds = started.elapsed().as_secs(),
                    "waiting for workers; start them with `batch-host worker` against this repository"
                );
                told = Instant::now();
            }
            self.run
                .clock
                .sleep(std::time::Duration::from_millis(250))
                .await;
        }
        // What each offered partition's worker recorded in this execution.
        let ran = repo.step_executions(id).await?;
        for (i, name) in self.names.iter().enumerate() {
            if reports[i].is_some() {
                continue;
            }
            if let Some(e) = ran.iter().rev().find(|e| &e.step_name == name) {
                reports[i] = Some(Ok(StepReport {
                    execution: e.clone(),
                    already_complete: false,
                    duration: Default::default(),
                    skips: Default::default(),
                    refused: None,
                }));
            }
        }
        Ok(reports)
    }

    /// Partition `i`'s worker step execution.
    async fn one(&self, i: usize) -> Result<StepReport, RepositoryError> {
        run_step_as(
            self.run,
            self.worker,
            &self.names[i],
            Seed::Fresh(&self.parts[i]),
            self.execution,
            self.job_context,
        )
        .await
    }

    /// Every partition, `concurrency` at a time; the reports in partition order, `None` for a
    /// partition not started because a stop was requested. On a multi-threaded runtime each
    /// runs on a thread of its own (so on its own core) while this task keeps the execution's
    /// heartbeat; elsewhere (unit tests) they interleave on this task.
    async fn run_all(
        &self,
        concurrency: usize,
    ) -> Vec<Option<Result<StepReport, RepositoryError>>> {
        let n = self.names.len();
        let handle = tokio::runtime::Handle::current();
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            let all = futures::future::join_all((0..n).map(|i| Box::pin(self.one(i)))).await;
            return all.into_iter().map(Some).collect();
        }
        let queue = Mutex::new((0..n).collect::<VecDeque<usize>>());
        let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut reports: Vec<Option<Result<StepReport, RepositoryError>>> =
            (0..n).map(|_| None).collect();
        tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                for t in 0..concurrency.clamp(1, n.max(1)) {
                    let tx = tx.clone();
                    let handle = handle.clone();
                    let next = &next;
                    std::thread::Builder::new()
                        .name(format!("partition-runner-{t}"))
                        .spawn_scoped(s, move || {
                            while let Some(i) = next() {
                                if self.run.stop.is_requested() {
                                    continue; // a stop keeps the partitions not started yet
                                }
                                let r = handle.block_on(self.one(i));
                                if tx.send((i, r)).is_err() {
                                    break;
                                }
                            }
                        })
                        .expect("a thread for partitions");
                }
                drop(tx);
                // This thread waits for the reports and keeps the execution's heartbeat.
                handle.block_on(super::beating(self.run.repo, self.execution.id, async {
                    while let Some((i, r)) = rx.recv().await {
                        reports[i] = Some(r);
                    }
                }));
            });
        });
        reports
    }
}
