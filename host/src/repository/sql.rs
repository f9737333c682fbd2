//! [`JobRepository`] over sqlx for SQLite and PostgreSQL.
//!
//! Both backends run the same SQL text (sqlx-sqlite accepts `$N` placeholders); the `on_db!`
//! macro instantiates each method body once per backend, so every query is type-checked against
//! both drivers. What differs lives in [`Dialect`]: how a write transaction begins (SQLite takes
//! the write lock up front with `BEGIN IMMEDIATE`), how ids are drawn from Spring's `*_SEQ`
//! incrementers, and how a JobInstance row is locked.

use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDateTime;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, Row, Transaction};

use super::{
    ExecutionFilter, JobRepository, PluginRecord, Recovery, RepositoryError, StoredArtifact,
    error_kind, exit_code, exit_message, param_rows, split_context,
};
use crate::domain::{
    BatchStatus, ExecutionContext, ExitStatus, Id, JobExecution, JobInstance, JobParameter,
    JobParameters, ParamType, SkipPhase, SkippedItem, StepExecution, TableRow, Timestamp, now,
};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The SQL job repository. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub struct SqlRepository {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is compiled once per backend.
macro_rules! on_db {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

/// Spring's id incrementers.
#[derive(Clone, Copy)]
enum Seq {
    Job,
    JobExecution,
    StepExecution,
}

impl Seq {
    fn name(self) -> &'static str {
        match self {
            Seq::Job => "BATCH_JOB_SEQ",
            Seq::JobExecution => "BATCH_JOB_EXECUTION_SEQ",
            Seq::StepExecution => "BATCH_STEP_EXECUTION_SEQ",
        }
    }
}

/// What the two SQL dialects do differently.
trait Dialect {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

/// Per-connection dialect operations.
trait DialectConn {
    /// The next value of a Spring Batch id sequence.
    async fn next_id(&mut self, seq: Seq) -> Result<Id, sqlx::Error>;
    /// Locks a JobInstance row until the transaction ends.
    async fn lock_instance(&mut self, id: Id) -> Result<(), sqlx::Error>;
}

impl Dialect for Pool<Sqlite> {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl Dialect for Pool<Postgres> {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

impl DialectConn for SqliteConnection {
    /// Spring's `SqliteMaxValueIncrementer`: insert a row, take its rowid, trim the table.
    async fn next_id(&mut self, seq: Seq) -> Result<Id, sqlx::Error> {
        let table = seq.name();
        let insert = sqlx::AssertSqlSafe(format!("INSERT INTO {table} VALUES (NULL)"));
        let id: i64 = sqlx::query(insert)
            .execute(&mut *self)
            .await?
            .last_insert_rowid();
        let trim = sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE ID < $1"));
        sqlx::query(trim).bind(id).execute(&mut *self).await?;
        Ok(id)
    }

    async fn lock_instance(&mut self, _id: Id) -> Result<(), sqlx::Error> {
        Ok(()) // BEGIN IMMEDIATE already holds SQLite's single write lock.
    }
}

impl DialectConn for PgConnection {
    async fn next_id(&mut self, seq: Seq) -> Result<Id, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT nextval('{}')", seq.name()));
        sqlx::query_scalar(sql).fetch_one(&mut *self).await
    }

    async fn lock_instance(&mut self, id: Id) -> Result<(), sqlx::Error> {
        sqlx::query(
            "SELECT JOB_INSTANCE_ID FROM BATCH_JOB_INSTANCE WHERE JOB_INSTANCE_ID = $1 FOR UPDATE",
        )
        .bind(id)
        .execute(&mut *self)
        .await
        .map(|_| ())
    }
}

fn ts(t: Timestamp) -> NaiveDateTime {
    t.naive_utc()
}

fn from_ts(t: NaiveDateTime) -> Timestamp {
    t.and_utc()
}

fn status(s: Option<String>) -> Result<BatchStatus, RepositoryError> {
    let s = s.unwrap_or_else(|| "UNKNOWN".into());
    BatchStatus::from_str(&s).map_err(|_| RepositoryError::BadStatus(s))
}

fn context(
    short: String,
    long: Option<String>,
    what: &'static str,
    id: Id,
) -> Result<ExecutionContext, RepositoryError> {
    ExecutionContext::from_jackson_json(long.as_deref().unwrap_or(&short))
        .map_err(|source| RepositoryError::CorruptContext { what, id, source })
}

const JOB_EXECUTION_COLUMNS: &str = "E.JOB_EXECUTION_ID, E.VERSION, E.CREATE_TIME, E.START_TIME, E.END_TIME, E.STATUS, E.EXIT_CODE, E.EXIT_MESSAGE, E.LAST_UPDATED, C.SHORT_CONTEXT, C.SERIALIZED_CONTEXT";

const STEP_COLUMNS: &str = "S.STEP_EXECUTION_ID, S.JOB_EXECUTION_ID, S.STEP_NAME, S.VERSION, S.STATUS, S.EXIT_CODE, S.EXIT_MESSAGE, S.READ_COUNT, S.WRITE_COUNT, S.FILTER_COUNT, S.COMMIT_COUNT, S.ROLLBACK_COUNT, S.READ_SKIP_COUNT, S.PROCESS_SKIP_COUNT, S.WRITE_SKIP_COUNT, S.CREATE_TIME, S.START_TIME, S.END_TIME, S.LAST_UPDATED, C.SHORT_CONTEXT, C.SERIALIZED_CONTEXT";

/// Maps a row selected with [`STEP_COLUMNS`] (works for both backends' row types).
macro_rules! step_from_row {
    ($row:expr) => {{
        let row = $row;
        let id: i64 = row.try_get(0)?;
        let short: Option<String> = row.try_get(19)?;
        StepExecution {
            id,
            job_execution_id: row.try_get(1)?,
            step_name: row.try_get(2)?,
            version: row.try_get(3)?,
            status: status(row.try_get(4)?)?,
            exit_status: ExitStatus {
                code: row.try_get::<Option<String>, _>(5)?.unwrap_or_default(),
                description: row.try_get::<Option<String>, _>(6)?.unwrap_or_default(),
            },
            read_count: row.try_get::<Option<i64>, _>(7)?.unwrap_or(0),
            write_count: row.try_get::<Option<i64>, _>(8)?.unwrap_or(0),
            filter_count: row.try_get::<Option<i64>, _>(9)?.unwrap_or(0),
            commit_count: row.try_get::<Option<i64>, _>(10)?.unwrap_or(0),
            rollback_count: row.try_get::<Option<i64>, _>(11)?.unwrap_or(0),
            read_skip_count: row.try_get::<Option<i64>, _>(12)?.unwrap_or(0),
            process_skip_count: row.try_get::<Option<i64>, _>(13)?.unwrap_or(0),
            write_skip_count: row.try_get::<Option<i64>, _>(14)?.unwrap_or(0),
            create_time: from_ts(row.try_get(15)?),
            start_time: row.try_get::<Option<NaiveDateTime>, _>(16)?.map(from_ts),
            end_time: row.try_get::<Option<NaiveDateTime>, _>(17)?.map(from_ts),
            last_updated: row.try_get::<Option<NaiveDateTime>, _>(18)?.map(from_ts),
            context: context(
                short.unwrap_or_default(),
                row.try_get(20)?,
                "step execution",
                id,
            )?,
            plugins: Vec::new(),
        }
    }};
}

/// The components a step execution ran, by role.
macro_rules! step_plugins {
    ($pool:expr, $id:expr) => {{
        let rows = sqlx::query("SELECT ROLE, LABEL, DIGEST FROM BH_STEP_PLUGIN WHERE STEP_EXECUTION_ID = $1 ORDER BY ROLE")
            .bind($id)
            .fetch_all($pool)
            .await?;
        let mut plugins = Vec::with_capacity(rows.len());
        for r in &rows {
            plugins.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
        plugins
    }};
}

macro_rules! plugin_from_row {
    ($row:expr) => {{
        let row = $row;
        PluginRecord {
            name: row.try_get(0)?,
            version: row.try_get(1)?,
            digest: row.try_get(2)?,
            world: row.try_get(3)?,
            registered_at: from_ts(row.try_get(4)?),
            size: row.try_get(5)?,
        }
    }};
}

const PLUGIN_COLUMNS: &str = "P.NAME, P.VERSION, P.DIGEST, P.WORLD, P.REGISTERED_AT, B.SIZE_BYTES FROM BH_PLUGIN P JOIN BH_PLUGIN_BLOB B ON B.DIGEST = P.DIGEST";

/// The SQLite file of `tenant` next to the default tenant's `file`: `x.db` → `x.tenant-acme.db`.
fn tenant_sqlite_file(file: &str, tenant: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(file);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.tenant-{tenant}.{}", ext.to_string_lossy()),
        None => format!("{stem}.tenant-{tenant}"),
    };
    path.with_file_name(name)
}

/// The PostgreSQL schema of `tenant`.
fn tenant_schema(tenant: &str) -> String {
    format!("bh_tenant_{}", tenant.replace('-', "_"))
}

fn q(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

impl SqlRepository {
    /// Connects to `url` (`sqlite:PATH`, `sqlite::memory:` or `postgres://…`) and applies the
    /// migrations. A SQLite file is created if missing and runs in WAL mode.
    pub async fn connect(url: &str) -> Result<Self, RepositoryError> {
        let backend = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(RepositoryError::BadUrl(url.into()));
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await?;
            SQLITE_MIGRATOR.run(&pool).await?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(Self::pg_pool(PgConnectOptions::from_str(url)?).await?)
        } else {
            return Err(RepositoryError::BadUrl(url.into()));
        };
        Ok(SqlRepository { backend })
    }

    async fn pg_pool(opts: PgConnectOptions) -> Result<PgPool, RepositoryError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        POSTGRES_MIGRATOR.run(&pool).await?;
        Ok(pool)
    }

    /// Connects to `tenant`'s repository at `url`. The default tenant uses `url` as it is; any
    /// other tenant gets its own SQLite file next to it (`batch-host.db` →
    /// `batch-host.tenant-acme.db`) or its own PostgreSQL schema (`bh_tenant_acme`), each with the
    /// full schema, so nothing of one tenant is visible to another.
    pub async fn connect_tenant(url: &str, tenant: &str) -> Result<Self, RepositoryError> {
        if tenant == crate::config::DEFAULT_TENANT {
            return Self::connect(url).await;
        }
        if !crate::config::valid_tenant(tenant) {
            return Err(RepositoryError::BadUrl(format!(
                "{url} (tenant `{tenant}` is not a valid name)"
            )));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (file, query) = match rest.split_once('?') {
                Some((f, q)) => (f, format!("?{q}")),
                None => (rest, String::new()),
            };
            let tenant_file = tenant_sqlite_file(file, tenant);
            return Self::connect(&format!("sqlite:{}{query}", tenant_file.display())).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let schema = tenant_schema(tenant);
            let opts = PgConnectOptions::from_str(url)?;
            {
                use sqlx::Connection as _;
                let mut conn = PgConnection::connect_with(&opts).await?;
                // Two processes creating the same schema at once can race; the loser's error
                // is harmless because the schema then exists.
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .execute(&mut conn)
                .await;
                conn.close().await?;
            }
            let pool = Self::pg_pool(opts.options([("search_path", schema.as_str())])).await?;
            return Ok(SqlRepository {
                backend: Backend::Postgres(pool),
            });
        }
        Err(RepositoryError::BadUrl(url.into()))
    }

    /// The repository of `tenant` if it has been created already (`None` otherwise): how the
    /// host looks for the shared plugin catalogue without creating it.
    pub async fn connect_existing_tenant(
        url: &str,
        tenant: &str,
    ) -> Result<Option<Self>, RepositoryError> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let file = rest.split_once('?').map(|(f, _)| f).unwrap_or(rest);
            if !tenant_sqlite_file(file, tenant).exists() {
                return Ok(None);
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            use sqlx::Connection as _;
            let opts = PgConnectOptions::from_str(url)?;
            let mut conn = PgConnection::connect_with(&opts).await?;
            let schema = tenant_schema(tenant);
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1")
                    .bind(&schema)
                    .fetch_optional(&mut conn)
                    .await?;
            conn.close().await?;
            if exists.is_none() {
                return Ok(None);
            }
        }
        Self::connect_tenant(url, tenant).await.map(Some)
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

impl JobRepository for SqlRepository {
    async fn create_job_execution(
        &self,
        job_name: &str,
        params: &JobParameters,
        restartable: bool,
    ) -> Result<JobExecution, RepositoryError> {
        let job_key = params.job_key();
        let created = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let new_id = tx.next_id(Seq::Job).await?;
            sqlx::query("INSERT INTO BATCH_JOB_INSTANCE (JOB_INSTANCE_ID, VERSION, JOB_NAME, JOB_KEY) VALUES ($1, 0, $2, $3) ON CONFLICT (JOB_NAME, JOB_KEY) DO NOTHING")
                .bind(new_id).bind(job_name).bind(&job_key)
                .execute(&mut *tx).await?;
            let instance_id: i64 = sqlx::query_scalar("SELECT JOB_INSTANCE_ID FROM BATCH_JOB_INSTANCE WHERE JOB_NAME = $1 AND JOB_KEY = $2")
                .bind(job_name).bind(&job_key)
                .fetch_one(&mut *tx).await?;
            tx.lock_instance(instance_id).await?;
            let instance = JobInstance { id: instance_id, job_name: job_name.to_owned(), job_key: job_key.clone() };

            // Spring's restart rules, checked under the instance lock.
            let previous = sqlx::query("SELECT JOB_EXECUTION_ID, STATUS FROM BATCH_JOB_EXECUTION WHERE JOB_INSTANCE_ID = $1 ORDER BY JOB_EXECUTION_ID DESC")
                .bind(instance_id)
                .fetch_all(&mut *tx).await?;
            if !restartable && !previous.is_empty() {
                return Err(RepositoryError::NotRestartable { job_name: job_name.into(), instance_id });
            }
            let identifying = params.iter().any(|(_, p)| p.identifying);
            for row in &previous {
                let execution_id: i64 = row.try_get(0)?;
                let st = status(row.try_get(1)?)?;
                if st.is_running() {
                    return Err(RepositoryError::ExecutionRunning { job_name: job_name.into(), execution_id });
                }
                if identifying && matches!(st, BatchStatus::Completed | BatchStatus::Abandoned) {
                    return Err(RepositoryError::InstanceComplete {
                        job_name: job_name.into(), instance_id, execution_id, status: st.to_string(),
                    });
                }
            }
            // The new execution inherits the job ExecutionContext of the last one.
            let inherited = match previous.first() {
                None => ExecutionContext::new(),
                Some(row) => {
                    let last: i64 = row.try_get(0)?;
                    let ctx = sqlx::query("SELECT SHORT_CONTEXT, SERIALIZED_CONTEXT FROM BATCH_JOB_EXECUTION_CONTEXT WHERE JOB_EXECUTION_ID = $1")
                        .bind(last).fetch_optional(&mut *tx).await?;
                    match ctx {
                        Some(r) => context(r.try_get(0)?, r.try_get(1)?, "job execution", last)?,
                        None => ExecutionContext::new(),
                    }
                }
            };

            let id = tx.next_id(Seq::JobExecution).await?;
            sqlx::query("INSERT INTO BATCH_JOB_EXECUTION (JOB_EXECUTION_ID, JOB_INSTANCE_ID, VERSION, CREATE_TIME, START_TIME, END_TIME, STATUS, EXIT_CODE, EXIT_MESSAGE, LAST_UPDATED) VALUES ($1, $2, 0, $3, NULL, NULL, $4, $5, '', $3)")
                .bind(id).bind(instance_id).bind(ts(created))
                .bind(BatchStatus::Starting.as_str()).bind(ExitStatus::unknown().code)
                .execute(&mut *tx).await?;
            for (name, kind, value, ident) in param_rows(params) {
                sqlx::query("INSERT INTO BATCH_JOB_EXECUTION_PARAMS (JOB_EXECUTION_ID, PARAMETER_NAME, PARAMETER_TYPE, PARAMETER_VALUE, IDENTIFYING) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id).bind(name).bind(kind).bind(value).bind(ident)
                    .execute(&mut *tx).await?;
            }
            let (short, long) = split_context(inherited.to_jackson_json());
            sqlx::query("INSERT INTO BATCH_JOB_EXECUTION_CONTEXT (JOB_EXECUTION_ID, SHORT_CONTEXT, SERIALIZED_CONTEXT) VALUES ($1, $2, $3)")
                .bind(id).bind(short).bind(long)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(JobExecution {
                id,
                instance,
                version: 0,
                parameters: params.clone(),
                status: BatchStatus::Starting,
                exit_status: ExitStatus::unknown(),
                create_time: created,
                start_time: None,
                end_time: None,
                last_updated: Some(created),
                context: inherited,
            })
        })
    }

    async fn job_executions(
        &self,
        instance: &JobInstance,
    ) -> Result<Vec<JobExecution>, RepositoryError> {
        self.find_executions(&ExecutionFilter {
            instance_id: Some(instance.id),
            ..Default::default()
        })
        .await
    }

    async fn find_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<JobExecution>, RepositoryError> {
        let sql = q(format!(
            "SELECT {JOB_EXECUTION_COLUMNS}, I.JOB_INSTANCE_ID, I.JOB_NAME, I.JOB_KEY FROM BATCH_JOB_EXECUTION E JOIN BATCH_JOB_INSTANCE I ON I.JOB_INSTANCE_ID = E.JOB_INSTANCE_ID LEFT JOIN BATCH_JOB_EXECUTION_CONTEXT C ON C.JOB_EXECUTION_ID = E.JOB_EXECUTION_ID WHERE ($1 IS NULL OR E.JOB_INSTANCE_ID = $1) AND ($2 IS NULL OR E.JOB_EXECUTION_ID = $2) AND ($3 IS NULL OR I.JOB_NAME = $3) AND ($4 IS NULL OR E.STATUS = $4) ORDER BY E.JOB_EXECUTION_ID DESC LIMIT $5"
        ));
        let limit = filter.limit.unwrap_or(i64::MAX);
        on_db!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(filter.instance_id).bind(filter.execution_id)
                .bind(filter.job_name.as_deref()).bind(filter.status.as_deref()).bind(limit)
                .fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let id: i64 = row.try_get(0)?;
                let mut parameters = JobParameters::new();
                let prows = sqlx::query("SELECT PARAMETER_NAME, PARAMETER_TYPE, PARAMETER_VALUE, IDENTIFYING FROM BATCH_JOB_EXECUTION_PARAMS WHERE JOB_EXECUTION_ID = $1")
                    .bind(id).fetch_all(pool).await?;
                for p in prows {
                    let kind: String = p.try_get(1)?;
                    let ident: String = p.try_get(3)?;
                    parameters.insert(p.try_get::<String, _>(0)?, JobParameter {
                        kind: ParamType::parse(&kind).unwrap_or(ParamType::String),
                        value: p.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                        identifying: ident.eq_ignore_ascii_case("Y"),
                    });
                }
                let short: Option<String> = row.try_get(9)?;
                out.push(JobExecution {
                    id,
                    instance: JobInstance { id: row.try_get(11)?, job_name: row.try_get(12)?, job_key: row.try_get(13)? },
                    version: row.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
                    parameters,
                    status: status(row.try_get(5)?)?,
                    exit_status: ExitStatus {
                        code: row.try_get::<Option<String>, _>(6)?.unwrap_or_default(),
                        description: row.try_get::<Option<String>, _>(7)?.unwrap_or_default(),
                    },
                    create_time: from_ts(row.try_get(2)?),
                    start_time: row.try_get::<Option<NaiveDateTime>, _>(3)?.map(from_ts),
                    end_time: row.try_get::<Option<NaiveDateTime>, _>(4)?.map(from_ts),
                    last_updated: row.try_get::<Option<NaiveDateTime>, _>(8)?.map(from_ts),
                    context: context(short.unwrap_or_default(), row.try_get(10)?, "job execution", id)?,
                });
            }
            Ok(out)
        })
    }

    async fn update_job_execution(
        &self,
        execution: &mut JobExecution,
    ) -> Result<(), RepositoryError> {
        let updated = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE BATCH_JOB_EXECUTION SET START_TIME = $1, END_TIME = $2, STATUS = $3, EXIT_CODE = $4, EXIT_MESSAGE = $5, LAST_UPDATED = $6, VERSION = VERSION + 1 WHERE JOB_EXECUTION_ID = $7 AND VERSION = $8")
                .bind(execution.start_time.map(ts)).bind(execution.end_time.map(ts))
                .bind(execution.status.as_str()).bind(exit_code(&execution.exit_status.code))
                .bind(exit_message(&execution.exit_status.description)).bind(ts(updated))
                .bind(execution.id).bind(execution.version)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(RepositoryError::StaleVersion { what: "job execution", id: execution.id, version: execution.version });
            }
            let (short, long) = split_context(execution.context.to_jackson_json());
            sqlx::query("UPDATE BATCH_JOB_EXECUTION_CONTEXT SET SHORT_CONTEXT = $1, SERIALIZED_CONTEXT = $2 WHERE JOB_EXECUTION_ID = $3")
                .bind(short).bind(long).bind(execution.id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            execution.version += 1;
            execution.last_updated = Some(updated);
            Ok(())
        })
    }

    async fn step_executions(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<StepExecution>, RepositoryError> {
        let sql = q(format!(
            "SELECT {STEP_COLUMNS} FROM BATCH_STEP_EXECUTION S LEFT JOIN BATCH_STEP_EXECUTION_CONTEXT C ON C.STEP_EXECUTION_ID = S.STEP_EXECUTION_ID WHERE S.JOB_EXECUTION_ID = $1 ORDER BY S.STEP_EXECUTION_ID"
        ));
        on_db!(self, pool => {
            let rows = sqlx::query(sql).bind(job_execution_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut step = step_from_row!(row);
                step.plugins = step_plugins!(pool, step.id);
                out.push(step);
            }
            Ok(out)
        })
    }

    async fn last_step_execution(
        &self,
        instance: &JobInstance,
        step_name: &str,
    ) -> Result<Option<StepExecution>, RepositoryError> {
        let sql = q(format!(
            "SELECT {STEP_COLUMNS} FROM BATCH_STEP_EXECUTION S JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = S.JOB_EXECUTION_ID LEFT JOIN BATCH_STEP_EXECUTION_CONTEXT C ON C.STEP_EXECUTION_ID = S.STEP_EXECUTION_ID WHERE E.JOB_INSTANCE_ID = $1 AND S.STEP_NAME = $2 ORDER BY S.STEP_EXECUTION_ID DESC LIMIT 1"
        ));
        on_db!(self, pool => {
            let row = sqlx::query(sql).bind(instance.id).bind(step_name).fetch_optional(pool).await?;
            match row {
                Some(row) => {
                    let mut step = step_from_row!(&row);
                    step.plugins = step_plugins!(pool, step.id);
                    Ok(Some(step))
                }
                None => Ok(None),
            }
        })
    }

    async fn request_stop(&self, execution_id: Id) -> Result<bool, RepositoryError> {
        on_db!(self, pool => {
            let n = sqlx::query("UPDATE BATCH_JOB_EXECUTION SET STATUS = 'STOPPING', LAST_UPDATED = $1 WHERE JOB_EXECUTION_ID = $2 AND STATUS IN ('STARTING', 'STARTED')")
                .bind(ts(now())).bind(execution_id).execute(pool).await?.rows_affected();
            Ok(n > 0)
        })
    }

    async fn abandon(&self, execution_id: Id) -> Result<bool, RepositoryError> {
        on_db!(self, pool => {
            let n = sqlx::query("UPDATE BATCH_JOB_EXECUTION SET STATUS = 'ABANDONED', VERSION = VERSION + 1, LAST_UPDATED = $1 WHERE JOB_EXECUTION_ID = $2 AND STATUS IN ('FAILED', 'STOPPED', 'UNKNOWN')")
                .bind(ts(now())).bind(execution_id).execute(pool).await?.rows_affected();
            Ok(n > 0)
        })
    }

    async fn record_job_source(
        &self,
        execution_id: Id,
        job_file: &str,
        workdir: &str,
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("INSERT INTO BH_JOB_SOURCE (JOB_EXECUTION_ID, JOB_FILE, WORKDIR) VALUES ($1, $2, $3) ON CONFLICT (JOB_EXECUTION_ID) DO NOTHING")
                .bind(execution_id).bind(job_file).bind(workdir).execute(pool).await?;
            Ok(())
        })
    }

    async fn job_source(
        &self,
        execution_id: Id,
    ) -> Result<Option<(String, String)>, RepositoryError> {
        on_db!(self, pool => {
            let row = sqlx::query("SELECT JOB_FILE, WORKDIR FROM BH_JOB_SOURCE WHERE JOB_EXECUTION_ID = $1")
                .bind(execution_id).fetch_optional(pool).await?;
            match row {
                Some(r) => Ok(Some((r.try_get(0)?, r.try_get(1)?))),
                None => Ok(None),
            }
        })
    }

    async fn heartbeat(&self, execution_id: Id) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("UPDATE BATCH_JOB_EXECUTION SET LAST_UPDATED = $1 WHERE JOB_EXECUTION_ID = $2")
                .bind(ts(now())).bind(execution_id).execute(pool).await?;
            Ok(())
        })
    }

    async fn recover(
        &self,
        execution_id: Id,
        stale_after: std::time::Duration,
    ) -> Result<Recovery, RepositoryError> {
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query("SELECT STATUS, LAST_UPDATED FROM BATCH_JOB_EXECUTION WHERE JOB_EXECUTION_ID = $1")
                .bind(execution_id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else { return Ok(Recovery::Missing) };
            let st = status(row.try_get(0)?)?;
            if !st.is_running() {
                return Ok(Recovery::NotRunning(st));
            }
            let last: Option<NaiveDateTime> = row.try_get(1)?;
            let age = last.map(|l| (at - from_ts(l)).num_milliseconds()).unwrap_or(i64::MAX);
            if age < stale_after.as_millis() as i64 {
                return Ok(Recovery::Alive { seconds_ago: age / 1000 });
            }
            let message = format!("recovered: the process running it stopped heartbeating {}s before {}", age / 1000, at.format("%Y-%m-%d %H:%M:%S"));
            sqlx::query("UPDATE BATCH_JOB_EXECUTION SET STATUS = 'FAILED', EXIT_CODE = 'FAILED', EXIT_MESSAGE = $1, END_TIME = $2, LAST_UPDATED = $2, VERSION = VERSION + 1 WHERE JOB_EXECUTION_ID = $3")
                .bind(&message).bind(ts(at)).bind(execution_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE BATCH_STEP_EXECUTION SET STATUS = 'FAILED', EXIT_CODE = 'FAILED', EXIT_MESSAGE = $1, END_TIME = $2, LAST_UPDATED = $2, VERSION = VERSION + 1 WHERE JOB_EXECUTION_ID = $3 AND STATUS IN ('STARTING', 'STARTED', 'STOPPING')")
                .bind(&message).bind(ts(at)).bind(execution_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Recovery::Recovered)
        })
    }

    async fn execution_status(
        &self,
        execution_id: Id,
    ) -> Result<Option<BatchStatus>, RepositoryError> {
        on_db!(self, pool => {
            let s: Option<Option<String>> = sqlx::query_scalar("SELECT STATUS FROM BATCH_JOB_EXECUTION WHERE JOB_EXECUTION_ID = $1")
                .bind(execution_id).fetch_optional(pool).await?;
            match s {
                Some(s) => Ok(Some(status(s)?)),
                None => Ok(None),
            }
        })
    }

    async fn step_execution_count(
        &self,
        instance: &JobInstance,
        step_name: &str,
    ) -> Result<i64, RepositoryError> {
        on_db!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM BATCH_STEP_EXECUTION S JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = S.JOB_EXECUTION_ID WHERE E.JOB_INSTANCE_ID = $1 AND S.STEP_NAME = $2")
                .bind(instance.id).bind(step_name).fetch_one(pool).await?)
        })
    }

    async fn add_step_execution(&self, step: &mut StepExecution) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id = tx.next_id(Seq::StepExecution).await?;
            sqlx::query("INSERT INTO BATCH_STEP_EXECUTION (STEP_EXECUTION_ID, VERSION, STEP_NAME, JOB_EXECUTION_ID, CREATE_TIME, START_TIME, END_TIME, STATUS, COMMIT_COUNT, READ_COUNT, FILTER_COUNT, WRITE_COUNT, READ_SKIP_COUNT, WRITE_SKIP_COUNT, PROCESS_SKIP_COUNT, ROLLBACK_COUNT, EXIT_CODE, EXIT_MESSAGE, LAST_UPDATED) VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
                .bind(id).bind(&step.step_name).bind(step.job_execution_id)
                .bind(ts(step.create_time)).bind(step.start_time.map(ts)).bind(step.end_time.map(ts))
                .bind(step.status.as_str())
                .bind(step.commit_count).bind(step.read_count).bind(step.filter_count).bind(step.write_count)
                .bind(step.read_skip_count).bind(step.write_skip_count).bind(step.process_skip_count).bind(step.rollback_count)
                .bind(exit_code(&step.exit_status.code)).bind(exit_message(&step.exit_status.description))
                .bind(step.last_updated.map(ts))
                .execute(&mut *tx).await?;
            let (short, long) = split_context(step.context.to_jackson_json());
            sqlx::query("INSERT INTO BATCH_STEP_EXECUTION_CONTEXT (STEP_EXECUTION_ID, SHORT_CONTEXT, SERIALIZED_CONTEXT) VALUES ($1, $2, $3)")
                .bind(id).bind(short).bind(long)
                .execute(&mut *tx).await?;
            for (role, label, digest) in &step.plugins {
                sqlx::query("INSERT INTO BH_STEP_PLUGIN (STEP_EXECUTION_ID, ROLE, LABEL, DIGEST) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(role).bind(label).bind(digest)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            step.id = id;
            step.version = 0;
            Ok(())
        })
    }

    async fn update_step_execution(&self, step: &mut StepExecution) -> Result<(), RepositoryError> {
        self.commit_chunk(step, &[], &[]).await
    }

    async fn commit_chunk(
        &self,
        step: &mut StepExecution,
        skipped: &[SkippedItem],
        rows: &[TableRow],
    ) -> Result<(), RepositoryError> {
        let updated = now();
        let (short, long) = split_context(step.context.to_jackson_json());
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE BATCH_STEP_EXECUTION SET START_TIME = $1, END_TIME = $2, STATUS = $3, COMMIT_COUNT = $4, READ_COUNT = $5, FILTER_COUNT = $6, WRITE_COUNT = $7, READ_SKIP_COUNT = $8, WRITE_SKIP_COUNT = $9, PROCESS_SKIP_COUNT = $10, ROLLBACK_COUNT = $11, EXIT_CODE = $12, EXIT_MESSAGE = $13, LAST_UPDATED = $14, VERSION = VERSION + 1 WHERE STEP_EXECUTION_ID = $15 AND VERSION = $16")
                .bind(step.start_time.map(ts)).bind(step.end_time.map(ts)).bind(step.status.as_str())
                .bind(step.commit_count).bind(step.read_count).bind(step.filter_count).bind(step.write_count)
                .bind(step.read_skip_count).bind(step.write_skip_count).bind(step.process_skip_count).bind(step.rollback_count)
                .bind(exit_code(&step.exit_status.code)).bind(exit_message(&step.exit_status.description))
                .bind(ts(updated)).bind(step.id).bind(step.version)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(RepositoryError::StaleVersion { what: "step execution", id: step.id, version: step.version });
            }
            sqlx::query("UPDATE BATCH_STEP_EXECUTION_CONTEXT SET SHORT_CONTEXT = $1, SERIALIZED_CONTEXT = $2 WHERE STEP_EXECUTION_ID = $3")
                .bind(&short).bind(&long).bind(step.id)
                .execute(&mut *tx).await?;
            for item in skipped {
                sqlx::query("INSERT INTO BH_SKIPPED_ITEM (JOB_EXECUTION_ID, STEP_EXECUTION_ID, STEP_NAME, PHASE, KIND, MESSAGE, PAYLOAD, ITEM_POSITION, CHUNK_NUMBER, CREATED_AT) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                    .bind(step.job_execution_id).bind(step.id).bind(&step.step_name)
                    .bind(item.phase.as_str()).bind(error_kind(&item.kind)).bind(exit_message(&item.message))
                    .bind(item.payload.as_deref()).bind(item.position).bind(item.chunk).bind(ts(updated))
                    .execute(&mut *tx).await?;
            }
            for row in rows {
                sqlx::query("INSERT INTO BH_TABLE_ROW (TABLE_NAME, ROW_NUMBER, STEP_EXECUTION_ID, PAYLOAD) VALUES ($1, $2, $3, $4)")
                    .bind(&row.table).bind(row.row_number).bind(step.id).bind(&row.payload)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            step.version += 1;
            step.last_updated = Some(updated);
            Ok(())
        })
    }

    async fn skipped_items(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<(String, SkippedItem)>, RepositoryError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT STEP_NAME, PHASE, KIND, MESSAGE, PAYLOAD, ITEM_POSITION, CHUNK_NUMBER FROM BH_SKIPPED_ITEM WHERE JOB_EXECUTION_ID = $1 ORDER BY ID")
                .bind(job_execution_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let phase: String = r.try_get(1)?;
                out.push((r.try_get(0)?, SkippedItem {
                    phase: SkipPhase::parse(&phase).ok_or(RepositoryError::BadStatus(phase))?,
                    kind: r.try_get(2)?,
                    message: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    position: r.try_get(5)?,
                    chunk: r.try_get(6)?,
                }));
            }
            Ok(out)
        })
    }

    async fn register_plugin(
        &self,
        record: &PluginRecord,
        wasm: &[u8],
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO BH_PLUGIN_BLOB (DIGEST, WASM, SIZE_BYTES) VALUES ($1, $2, $3) ON CONFLICT (DIGEST) DO NOTHING")
                .bind(&record.digest).bind(wasm).bind(wasm.len() as i64)
                .execute(&mut *tx).await?;
            sqlx::query("INSERT INTO BH_PLUGIN (NAME, VERSION, DIGEST, WORLD, REGISTERED_AT) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (NAME, VERSION) DO UPDATE SET DIGEST = excluded.DIGEST, WORLD = excluded.WORLD, REGISTERED_AT = excluded.REGISTERED_AT")
                .bind(&record.name).bind(&record.version).bind(&record.digest).bind(&record.world).bind(ts(record.registered_at))
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn find_plugin(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<PluginRecord>, RepositoryError> {
        let sql = q(format!(
            "SELECT {PLUGIN_COLUMNS} WHERE P.NAME = $1 AND ($2 IS NULL OR P.VERSION = $2) ORDER BY P.REGISTERED_AT DESC LIMIT 1"
        ));
        on_db!(self, pool => {
            let row = sqlx::query(sql).bind(name).bind(version).fetch_optional(pool).await?;
            match row {
                Some(row) => Ok(Some(plugin_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    async fn list_plugins(&self) -> Result<Vec<PluginRecord>, RepositoryError> {
        let sql = q(format!(
            "SELECT {PLUGIN_COLUMNS} ORDER BY P.NAME, P.REGISTERED_AT"
        ));
        on_db!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(plugin_from_row!(row));
            }
            Ok(out)
        })
    }

    async fn remove_plugin(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<u64, RepositoryError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let removed = sqlx::query("DELETE FROM BH_PLUGIN WHERE NAME = $1 AND ($2 IS NULL OR VERSION = $2)")
                .bind(name).bind(version)
                .execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM BH_PLUGIN_ARTIFACT WHERE DIGEST NOT IN (SELECT DIGEST FROM BH_PLUGIN)")
                .execute(&mut *tx).await?;
            sqlx::query("DELETE FROM BH_PLUGIN_BLOB WHERE DIGEST NOT IN (SELECT DIGEST FROM BH_PLUGIN)")
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(removed)
        })
    }

    async fn plugin_wasm(&self, digest: &str) -> Result<Option<Vec<u8>>, RepositoryError> {
        on_db!(self, pool => {
            Ok(sqlx::query_scalar("SELECT WASM FROM BH_PLUGIN_BLOB WHERE DIGEST = $1")
                .bind(digest).fetch_optional(pool).await?)
        })
    }

    async fn plugin_artifact(
        &self,
        digest: &str,
        engine: &str,
    ) -> Result<Option<StoredArtifact>, RepositoryError> {
        on_db!(self, pool => {
            let row = sqlx::query("SELECT ARTIFACT, WORLD, SEAL FROM BH_PLUGIN_ARTIFACT WHERE DIGEST = $1 AND ENGINE = $2")
                .bind(digest).bind(engine).fetch_optional(pool).await?;
            match row {
                Some(r) => Ok(Some(StoredArtifact {
                    artifact: r.try_get(0)?,
                    world: r.try_get(1)?,
                    seal: r.try_get(2)?,
                })),
                None => Ok(None),
            }
        })
    }

    async fn put_plugin_artifact(
        &self,
        digest: &str,
        engine: &str,
        a: &StoredArtifact,
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("INSERT INTO BH_PLUGIN_ARTIFACT (DIGEST, ENGINE, WORLD, ARTIFACT, CREATED_AT, SEAL) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (DIGEST, ENGINE) DO UPDATE SET WORLD = excluded.WORLD, ARTIFACT = excluded.ARTIFACT, CREATED_AT = excluded.CREATED_AT, SEAL = excluded.SEAL")
                .bind(digest).bind(engine).bind(&a.world).bind(&a.artifact).bind(ts(now())).bind(&a.seal)
                .execute(pool).await?;
            Ok(())
        })
    }
}
