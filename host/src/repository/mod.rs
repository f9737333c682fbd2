//! The job repository: Spring Batch's `BATCH_*` metadata tables plus batch-host's plugin registry.
//!
//! [`JobRepository`] speaks Spring Batch's vocabulary; [`SqlRepository`] implements it with sqlx
//! for two backends, SQLite (the default, a file) and PostgreSQL (for several hosts sharing one
//! repository). This is the only module that touches SQL. Migrations run automatically on
//! connect: `0001` is the Spring Batch 5 schema, `0002` batch-host's own tables.

mod sql;

pub use sql::SqlRepository;

use crate::domain::{
    BatchStatus, Id, JobExecution, JobInstance, JobParameters, SkippedItem, StepExecution,
    TableRow, Timestamp,
};

/// Where an execution's job came from: its job file and work directory, and the job text it
/// launched with (`None` for executions recorded before the text was kept, or over 1 MiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSource {
    /// The job file's absolute path.
    pub file: String,
    /// The work directory.
    pub workdir: String,
    /// The job.yaml text.
    pub text: Option<String>,
}

/// The largest job text the repository keeps.
pub const MAX_JOB_TEXT: usize = 1024 * 1024;

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The repository URL is not one we understand.
    #[error("unsupported repository URL `{0}`: use `sqlite:PATH` or `postgres://USER@HOST/DB`")]
    BadUrl(String),
    /// The repository cannot be used as given: a folder or database that does not exist, a
    /// server that does not answer (the message says which, and what to do).
    #[error("{0}")]
    Unavailable(String),
    /// The database could not be reached or a statement failed.
    #[error("repository database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migrations failed.
    #[error("repository migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Someone else updated the row since we read it (Spring's optimistic locking).
    #[error("{what} {id} was modified concurrently (version {version} is stale)")]
    StaleVersion {
        /// `job execution` or `step execution`.
        what: &'static str,
        /// The row id.
        id: Id,
        /// The version we held.
        version: i64,
    },
    /// Another execution of the same JobInstance is still running.
    #[error(
        "job `{job_name}` is already running as execution {execution_id}; wait for it to finish, stop it (`batch-host stop {execution_id}`), or, if its process died, `batch-host recover {execution_id}`"
    )]
    ExecutionRunning {
        /// The job.
        job_name: String,
        /// The running execution.
        execution_id: Id,
    },
    /// The JobInstance already completed (or was abandoned) and cannot run again.
    #[error(
        "job `{job_name}` with these identifying parameters already completed (instance {instance_id}, execution {execution_id}, {status}); pass `--next` or new identifying parameters to start a new instance"
    )]
    InstanceComplete {
        /// The job.
        job_name: String,
        /// The instance.
        instance_id: Id,
        /// The completed execution.
        execution_id: Id,
        /// COMPLETED or ABANDONED.
        status: String,
    },
    /// The job is not restartable and this instance already ran.
    #[error(
        "job `{job_name}` is not restartable (restartable: false) and instance {instance_id} already ran; run it with new parameters"
    )]
    NotRestartable {
        /// The job.
        job_name: String,
        /// The instance.
        instance_id: Id,
    },
    /// A stored status value is unknown.
    #[error("stored status `{0}` is not a Spring Batch status")]
    BadStatus(String),
    /// A stored ExecutionContext is not valid JSON.
    #[error("stored execution context of {what} {id} is corrupt: {source}")]
    CorruptContext {
        /// `job execution` or `step execution`.
        what: &'static str,
        /// The row id.
        id: Id,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// The outcome of [`JobRepository::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The execution was marked FAILED.
    Recovered,
    /// The execution is not running (its status).
    NotRunning(BatchStatus),
    /// The execution's process heartbeated recently: it is alive.
    Alive {
        /// Seconds since the last heartbeat.
        seconds_ago: i64,
    },
    /// No such execution.
    Missing,
}

/// Which job executions to find (every field optional; all given ones must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Executions of this JobInstance.
    pub instance_id: Option<Id>,
    /// This execution.
    pub execution_id: Option<Id>,
    /// Executions of this job.
    pub job_name: Option<String>,
    /// Executions in this status (`FAILED`, …).
    pub status: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<i64>,
    /// Leave out this many of the newest first (paging).
    pub offset: Option<i64>,
}

/// A registered plugin: a name and version that point at a component digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRecord {
    /// The registry name, such as `csv-reader`.
    pub name: String,
    /// The version label.
    pub version: String,
    /// sha256 of the component bytes, hex.
    pub digest: String,
    /// The world the component exports: `reader`, `processor` or `writer`.
    pub world: String,
    /// Size of the component in bytes.
    pub size: i64,
    /// When it was registered.
    pub registered_at: Timestamp,
}

/// Spring Batch's `JobExplorer`: the read side of the job metadata.
#[allow(
    async_fn_in_trait,
    reason = "used generically, never as a trait object"
)]
pub trait JobExplorer: Sync {
    /// The process recorded as running an execution.
    async fn execution_owner(
        &self,
        execution_id: Id,
    ) -> Result<Option<crate::domain::ExecutionOwner>, RepositoryError>;

    /// The job file, work directory and job text recorded for an execution.
    async fn job_source(&self, execution_id: Id) -> Result<Option<JobSource>, RepositoryError>;

    /// The current status of an execution.
    async fn execution_status(
        &self,
        execution_id: Id,
    ) -> Result<Option<BatchStatus>, RepositoryError>;

    /// How many executions of `step_name` the instance has had (for `start-limit`).
    async fn step_execution_count(
        &self,
        instance: &JobInstance,
        step_name: &str,
    ) -> Result<i64, RepositoryError>;

    /// Executions matching `filter`, newest first, with their parameters and contexts.
    async fn find_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<JobExecution>, RepositoryError>;

    /// All executions of an instance, newest first, with their parameters and contexts.
    async fn job_executions(
        &self,
        instance: &JobInstance,
    ) -> Result<Vec<JobExecution>, RepositoryError>;

    /// The step executions of one job execution, oldest first, with their contexts.
    async fn step_executions(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<StepExecution>, RepositoryError>;

    /// The most recent execution of `step_name` within any execution of `instance`.
    async fn last_step_execution(
        &self,
        instance: &JobInstance,
        step_name: &str,
    ) -> Result<Option<StepExecution>, RepositoryError>;

    /// The rows of the `sql-table` table `table` numbered `min..=max`, in row order, at most
    /// `limit` of them: (row number, payload).
    async fn table_rows(
        &self,
        table: &str,
        min: i64,
        max: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, RepositoryError>;

    /// The lowest and highest row number of the `sql-table` table `table`, if it has rows.
    async fn table_bounds(&self, table: &str) -> Result<Option<(i64, i64)>, RepositoryError>;

    /// The skipped items of a job execution, with their step names, in the order recorded.
    async fn skipped_items(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<(String, SkippedItem)>, RepositoryError>;

    /// The throughput samples of a job execution's steps (taken at chunk commits, about one a
    /// second), by step execution then time.
    async fn step_progress(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<ProgressSample>, RepositoryError>;
}

/// A step's counters at one chunk commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressSample {
    /// The step execution.
    pub step_execution_id: Id,
    /// Its name.
    pub step_name: String,
    /// When the chunk committed.
    pub at: Timestamp,
    /// Chunks committed so far.
    pub commits: i64,
    /// Items read so far.
    pub read: i64,
    /// Items written so far.
    pub write: i64,
    /// Items skipped so far (every phase).
    pub skip: i64,
}

/// Spring Batch's `JobRepository`: creates and updates job and step executions. Every
/// repository can also be explored.
#[allow(
    async_fn_in_trait,
    reason = "used generically, never as a trait object"
)]
pub trait JobRepository: JobExplorer + PartitionQueue {
    /// Spring Batch's `createJobExecution`, in one transaction: finds or creates the
    /// JobInstance of `job_name` with the identifying `params`, refuses to start while another
    /// execution of it is running or after it completed, and inserts a new JobExecution in
    /// status STARTING with its parameters and the job ExecutionContext of the previous execution.
    async fn create_job_execution(
        &self,
        job_name: &str,
        params: &JobParameters,
        restartable: bool,
    ) -> Result<JobExecution, RepositoryError>;

    /// Asks a running execution to stop: STARTING/STARTED → STOPPING. The running host sees it
    /// at its next chunk boundary. Returns false when the execution is not running.
    async fn request_stop(&self, execution_id: Id) -> Result<bool, RepositoryError>;

    /// Marks a FAILED or STOPPED execution ABANDONED (its instance is never restarted). Returns
    /// false when the execution is running or already COMPLETED.
    async fn abandon(&self, execution_id: Id) -> Result<bool, RepositoryError>;

    /// Records the execution's job file, work directory and job text (for `restart <id>` and
    /// remote workers).
    async fn record_job_source(
        &self,
        execution_id: Id,
        source: &JobSource,
    ) -> Result<(), RepositoryError>;

    /// Records that the process running an execution is alive (`LAST_UPDATED` = now).
    async fn heartbeat(&self, execution_id: Id) -> Result<(), RepositoryError>;

    /// Records the process that runs an execution.
    async fn record_owner(
        &self,
        execution_id: Id,
        owner: &crate::domain::ExecutionOwner,
    ) -> Result<(), RepositoryError>;

    /// Marks a running execution FAILED (with its running step executions), so it can be
    /// restarted: at once when `gone` says why its process is known to be gone, otherwise only
    /// when its heartbeat is older than `stale_after`.
    async fn recover(
        &self,
        execution_id: Id,
        stale_after: std::time::Duration,
        gone: Option<&str>,
    ) -> Result<Recovery, RepositoryError>;

    /// Writes status, times and exit status (optimistic locking on `VERSION`).
    async fn update_job_execution(
        &self,
        execution: &mut JobExecution,
    ) -> Result<(), RepositoryError>;

    /// Inserts a step execution and its (possibly inherited) context. Sets `step.id`.
    async fn add_step_execution(&self, step: &mut StepExecution) -> Result<(), RepositoryError>;

    /// Writes status, counters, exit status and the step's ExecutionContext in one transaction
    /// (optimistic locking on `VERSION`). This is the chunk commit: the counters and the
    /// ItemStream state of one chunk become durable together, or not at all.
    async fn update_step_execution(&self, step: &mut StepExecution) -> Result<(), RepositoryError>;

    /// [`update_step_execution`](Self::update_step_execution) plus the chunk's skipped items
    /// (the dead letters) and the rows of the built-in `sql-table` writer, all in one transaction.
    async fn commit_chunk(
        &self,
        step: &mut StepExecution,
        skipped: &[SkippedItem],
        rows: &[TableRow],
    ) -> Result<(), RepositoryError>;
}

/// The plugin registry's storage: registrations, component bytes and sealed artifacts.
#[allow(
    async_fn_in_trait,
    reason = "used generically, never as a trait object"
)]
pub trait PluginStore {
    /// Stores component bytes (idempotent) and records `record` in the registry.
    async fn register_plugin(
        &self,
        record: &PluginRecord,
        wasm: &[u8],
    ) -> Result<(), RepositoryError>;

    /// The registered plugin `name`: the given version, or the most recently registered one.
    async fn find_plugin(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<PluginRecord>, RepositoryError>;

    /// All registered plugins, by name then registration time.
    async fn list_plugins(&self) -> Result<Vec<PluginRecord>, RepositoryError>;

    /// Removes `name` (one version, or all); component bytes and artifacts no other registration
    /// uses go too. Returns how many registrations were removed.
    async fn remove_plugin(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<u64, RepositoryError>;

    /// The component bytes for `digest`.
    async fn plugin_wasm(&self, digest: &str) -> Result<Option<Vec<u8>>, RepositoryError>;

    /// The precompiled artifact for `digest` built by an engine (and artifact key) `engine`.
    async fn plugin_artifact(
        &self,
        digest: &str,
        engine: &str,
    ) -> Result<Option<StoredArtifact>, RepositoryError>;

    /// Stores a precompiled artifact, replacing one of the same digest and engine (whose seal
    /// did not verify, or the same bytes again).
    async fn put_plugin_artifact(
        &self,
        digest: &str,
        engine: &str,
        artifact: &StoredArtifact,
    ) -> Result<(), RepositoryError>;
}

/// One bearer token of `batch-host serve`, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The public part of the token (`bh_<id>_<secret>`), 16 hex digits.
    pub id: String,
    /// The tenant it acts for; `None` for an admin token.
    pub tenant: Option<String>,
    /// What the operator called it (`--name`).
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<Timestamp>,
}

/// The hashed bearer tokens of `batch-host serve` (kept in the `shared` tenant's repository).
#[allow(
    async_fn_in_trait,
    reason = "used generically, never as a trait object"
)]
pub trait TokenStore {
    /// Stores a new token with the SHA-256 (hex) of its secret; the secret itself is never
    /// stored.
    async fn add_token(
        &self,
        token: &TokenRecord,
        secret_sha256: &str,
    ) -> Result<(), RepositoryError>;

    /// The token `id` and the SHA-256 of its secret.
    async fn token_secret(
        &self,
        id: &str,
    ) -> Result<Option<(TokenRecord, String)>, RepositoryError>;

    /// Every token, oldest first (revoked ones included).
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, RepositoryError>;

    /// Revokes token `id`; false when there is no such live token.
    async fn revoke_token(&self, id: &str) -> Result<bool, RepositoryError>;
}

/// The database file of a `sqlite:` repository URL (`None` for PostgreSQL and `:memory:`).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let file = rest.split_once('?').map_or(rest, |(f, _)| f);
    (!file.is_empty() && file != ":memory:").then(|| std::path::PathBuf::from(file))
}

/// A precompiled artifact as the repository keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// Native code.
    pub artifact: Vec<u8>,
    /// The world the component exports.
    pub world: String,
    /// The host's seal over digest, engine, world and code (hex HMAC-SHA256).
    pub seal: String,
}

/// Splits a serialized context the way Spring Batch's `JdbcExecutionContextDao` does: up to
/// 2500 characters in `SHORT_CONTEXT`; longer ones get a truncated preview there and the full
/// text in `SERIALIZED_CONTEXT`.
pub(crate) fn split_context(serialized: String) -> (String, Option<String>) {
    const SHORT: usize = 2500;
    if serialized.chars().count() <= SHORT {
        (serialized, None)
    } else {
        let preview: String = serialized.chars().take(SHORT - 8).collect();
        (format!("{preview} ..."), Some(serialized))
    }
}

/// Truncates an exit message to the 2500 characters the column holds.
pub(crate) fn exit_message(message: &str) -> String {
    crate::domain::fit(message, crate::domain::MESSAGE_CHARS)
}

/// An exit code cut to the width the host allows (the code a plugin sets is bounded already;
/// this keeps every write within the column whatever its source).
pub(crate) fn exit_code(code: &str) -> String {
    crate::domain::fit(code, crate::domain::EXIT_CODE_CHARS)
}

/// An error kind cut to the dead-letter table's `KIND` column.
pub(crate) fn error_kind(kind: &str) -> String {
    crate::domain::fit(kind, crate::domain::KIND_CHARS)
}

/// Which job parameters to record: the type, value and identifying flag of each.
pub(crate) fn param_rows(params: &JobParameters) -> Vec<(String, String, String, String)> {
    params
        .iter()
        .map(|(name, p)| {
            (
                name.to_owned(),
                p.kind.java_class().to_owned(),
                p.value.clone(),
                if p.identifying { "Y" } else { "N" }.to_owned(),
            )
        })
        .collect()
}

/// A partition a `batch-host worker` claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionClaim {
    /// The job execution it belongs to.
    pub job_execution_id: Id,
    /// Its worker step execution's name (`worker:partitionN`).
    pub step_name: String,
    /// The plan's worker step.
    pub worker_step: String,
    /// The partition's ExecutionContext.
    pub context: crate::domain::ExecutionContext,
    /// How many times it was claimed, this claim included (more than 1: taken over).
    pub attempts: i64,
}

/// The work queue of `workers: remote` partitions, in the job repository (Spring's remote
/// partitioning that polls the repository): the manager offers partitions, workers claim them
/// with a lease they renew, a lapsed lease lets another worker take over.
#[allow(
    async_fn_in_trait,
    reason = "used generically, never as a trait object"
)]
pub trait PartitionQueue {
    /// Offers the partitions `(step name, context)` of `job_execution_id`'s worker step.
    async fn offer_partitions(
        &self,
        job_execution_id: Id,
        worker_step: &str,
        partitions: &[(String, crate::domain::ExecutionContext)],
    ) -> Result<(), RepositoryError>;

    /// Claims the oldest partition that is offered, or whose lease lapsed, for `owner` for
    /// `lease`; partitions of an execution that is stopping are left alone.
    async fn claim_partition(
        &self,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Option<PartitionClaim>, RepositoryError>;

    /// Extends `owner`'s lease; `false` when the partition is no longer `owner`'s.
    async fn renew_partition(
        &self,
        job_execution_id: Id,
        step_name: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, RepositoryError>;

    /// Marks `owner`'s partition done (its step execution ended, whatever its status).
    async fn finish_partition(
        &self,
        job_execution_id: Id,
        step_name: &str,
        owner: &str,
    ) -> Result<(), RepositoryError>;

    /// Every offered partition of `job_execution_id`: (step name, status, owner).
    async fn partition_states(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<(String, String, Option<String>)>, RepositoryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_contexts_are_split_like_spring() {
        let (short, full) = split_context("x".repeat(2500));
        assert_eq!((short.len(), full), (2500, None));
        let (short, full) = split_context("y".repeat(3000));
        assert_eq!(short.len(), 2492 + 4);
        assert!(short.ends_with(" ..."));
        assert_eq!(full.unwrap().len(), 3000);
    }
}
