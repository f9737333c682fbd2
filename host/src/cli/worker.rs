//! `cli` → `worker`: `batch-host worker` claims partitions of `workers: remote` steps from the
//! shared PostgreSQL repository and runs them, `--concurrency` at a time, until it is stopped
//! (Ctrl-C or SIGTERM: the running partitions stop at their next chunk boundary, restartably).

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;

use super::run::{JobArgs, watch_signals};
use super::{CliError, CliResult, GlobalArgs, connect, exit};
use crate::engine::{
    ClaimedPartition, RunListener, StopFlag, WorkerError, claimed_execution, refuse_partition,
    run_claimed_partition,
};
use crate::repository::{JobExplorer as _, PartitionClaim, PartitionQueue as _, SqlRepository};

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration such as 30s: {e}"))
}

/// `batch-host worker`: run partitions that `batch-host run` offers through the repository.
#[derive(Debug, Args)]
pub(super) struct WorkerCommand {
    /// How many partitions this worker runs at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// How long a claim holds without being renewed; after that another worker takes the
    /// partition over from its last committed chunk. Renewed every third of it.
    #[arg(long, default_value = "30s", value_parser = duration)]
    lease: Duration,
    /// How often an idle worker looks for partitions.
    #[arg(long, default_value = "1s", value_parser = duration)]
    poll: Duration,
    /// Exit once no partition has come for this long (default: run until stopped).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    exit_when_idle: Option<Duration>,
}

/// A worker prints one line per partition, nothing per chunk.
struct Quiet;
impl RunListener for Quiet {}

impl WorkerCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        let repo = connect(global).await?;
        if repo.backend_name() != "postgres" {
            return Err(CliError::invalid(
                "`batch-host worker` claims partitions from a shared PostgreSQL repository; pass `--repository postgres://USER@HOST/DB` (the one `batch-host run` uses)",
            ));
        }
        if self.lease < Duration::from_secs(1) {
            return Err(CliError::invalid("`--lease` must be at least 1s"));
        }
        let stop = StopFlag::default();
        watch_signals(stop.clone());
        let slots = self.concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let me = crate::engine::worker_name();
        eprintln!(
            "worker {me}: tenant `{}`, {} partition(s) at a time; waiting for partitions (Ctrl-C stops)",
            global.tenant, slots
        );
        let handle = tokio::runtime::Handle::current();
        let this = &self;
        let failures = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let loops: Vec<_> = (0..slots.max(1))
                    .map(|slot| {
                        let owner = format!("{me}:{slot}");
                        let (handle, repo, stop) = (&handle, &repo, &stop);
                        s.spawn(move || handle.block_on(this.serve(global, repo, stop, &owner)))
                    })
                    .collect();
                loops
                    .into_iter()
                    .map(|l| l.join().unwrap_or(1))
                    .sum::<u32>()
            })
        });
        eprintln!("worker {me}: stopped");
        if failures > 0 {
            return Err(CliError::new(
                exit::JOB_FAILED,
                format!("worker {me}: {failures} partition(s) did not complete"),
            ));
        }
        Ok(exit::OK)
    }

    /// One slot's loop: claim, run, repeat; the number of partitions that did not complete.
    async fn serve(
        &self,
        global: &GlobalArgs,
        repo: &SqlRepository,
        stop: &StopFlag,
        owner: &str,
    ) -> u32 {
        let mut failures = 0;
        let mut idle_since = Instant::now();
        while !stop.is_requested() {
            let claim = match repo.claim_partition(owner, self.lease).await {
                Ok(Some(claim)) => claim,
                Ok(None) => {
                    if self
                        .exit_when_idle
                        .is_some_and(|d| idle_since.elapsed() >= d)
                    {
                        break;
                    }
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
                Err(e) => {
                    eprintln!("worker {owner}: cannot claim a partition: {e}; retrying");
                    tokio::time::sleep(self.poll.max(Duration::from_secs(1))).await;
                    continue;
                }
            };
            let claimed = ClaimedPartition {
                claim: &claim,
                owner,
                lease: self.lease,
            };
            match self.work(global, repo, stop, &claimed).await {
                Ok(status) => {
                    println!(
                        "partition {} of job execution {}: {status}",
                        claim.step_name, claim.job_execution_id
                    );
                    if status != crate::domain::BatchStatus::Completed {
                        failures += 1;
                    }
                }
                Err(message) => {
                    failures += 1;
                    if let Err(e) = refuse_partition(repo, &claimed, &message).await {
                        eprintln!("worker {owner}: cannot record the failure: {e}");
                    }
                    eprintln!(
                        "partition {} of job execution {}: FAILED: {message}",
                        claim.step_name, claim.job_execution_id
                    );
                }
            }
            idle_since = Instant::now();
        }
        failures
    }

    /// Plans the claimed partition's job as the manager recorded it and runs the partition.
    async fn work(
        &self,
        global: &GlobalArgs,
        repo: &SqlRepository,
        stop: &StopFlag,
        claimed: &ClaimedPartition<'_>,
    ) -> Result<crate::domain::BatchStatus, String> {
        let claim: &PartitionClaim = claimed.claim;
        let execution = claimed_execution(repo, claim)
            .await
            .map_err(|e| e.to_string())?;
        let source = repo
            .job_source(claim.job_execution_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the repository has no job file recorded for this execution")?;
        if !Path::new(&source.workdir).is_dir() {
            return Err(format!(
                "the work directory `{}` does not exist on this machine; remote workers need the same path on shared storage (mount it there)",
                source.workdir
            ));
        }
        if !Path::new(&source.file).is_file() && source.text.is_none() {
            return Err(format!(
                "the job file `{}` does not exist on this machine and the repository has no copy of it; keep it on the shared storage, at the same path",
                source.file
            ));
        }
        let job = JobArgs::recorded(&source, &execution.parameters);
        let (plan, runtime) = job
            .plan(global, repo)
            .await
            .map_err(|e| format!("the job does not plan here: {}", e.errors.join("; ")))?;
        let report = run_claimed_partition(&plan, repo, &runtime, &Quiet, stop, claimed)
            .await
            .map_err(|e: WorkerError| e.to_string())?;
        Ok(report.execution.status)
    }
}
