//! `repository` → sql: [`JobRepository`], [`JobExplorer`] and [`PluginStore`] over sqlx for
//! SQLite and PostgreSQL. This file holds the connection and the dialects; `rows.rs` maps rows,
//! `job.rs`, `explore.rs` and `registry.rs` implement one trait each.
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
    ExecutionFilter, JobExplorer, JobRepository, JobSource, MAX_JOB_TEXT, PluginRecord,
    PluginStore, ProgressSample, Recovery, RepositoryError, StoredArtifact, TokenRecord,
    TokenStore, error_kind, exit_code, exit_message, param_rows, split_context,
};
use crate::domain::{
    BatchStatus, Durability, ExecutionContext, ExitStatus, Id, JobExecution, JobInstance,
    JobParameter, JobParameters, ParamType, SkipPhase, SkippedItem, StepExecution, TableRow,
    Timestamp, now,
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

/// How long connecting to PostgreSQL may take before the repository reports it unreachable.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool of a SQLite repository: a few connections to a local file, which cannot go stale
/// the way a network connection can, so a connection is not pinged each time it is taken from
/// the pool (that ping was a round trip to sqlx's worker thread, and two thread switches, per
/// chunk commit).
fn sqlite_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
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
            let file = std::path::Path::new(path.split_once('?').map_or(path, |(f, _)| f));
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
                && path != ":memory:"
                && !dir.is_dir()
            {
                return Err(RepositoryError::Unavailable(format!(
                    "the folder `{}` of the SQLite repository does not exist; create it (`mkdir -p {}`) or pass another --repository",
                    dir.display(),
                    dir.display()
                )));
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // A killed process loses nothing committed in WAL mode with NORMAL; a power loss
                // may lose the last commits (see `with_durability`).
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let pool = sqlite_pool().connect_with(opts).await?;
            SQLITE_MIGRATOR.run(&pool).await?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(Self::pg_pool(PgConnectOptions::from_str(url)?).await?)
        } else {
            return Err(RepositoryError::BadUrl(url.into()));
        };
        Ok(SqlRepository { backend })
    }

    /// Makes every later commit survive what `durability` names. On SQLite, `power-loss`
    /// reopens the pool with `synchronous=FULL` (SQLite refuses to change it inside a
    /// transaction, and a pool's connections cannot all be reached); a PostgreSQL commit is
    /// durable in both cases (the server's `synchronous_commit` decides).
    pub async fn with_durability(self, durability: Durability) -> Result<Self, RepositoryError> {
        match (&self.backend, durability) {
            (Backend::Sqlite(pool), Durability::PowerLoss) => {
                let opts = (*pool.connect_options())
                    .clone()
                    .synchronous(SqliteSynchronous::Full);
                let full = sqlite_pool().connect_with(opts).await?;
                pool.close().await;
                Ok(SqlRepository {
                    backend: Backend::Sqlite(full),
                })
            }
            _ => Ok(self),
        }
    }

    /// The SQLite `synchronous` level of a connection (0 off, 1 normal, 2 full, 3 extra).
    pub async fn sqlite_synchronous(&self) -> Option<i64> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .ok(),
            Backend::Postgres(_) => None,
        }
    }

    /// One connection to the server `opts` names, within [`PG_CONNECT_TIMEOUT`], with what
    /// went wrong in the operator's words: nothing listening, no answer, no such database, a
    /// refused login.
    async fn pg_connect(opts: &PgConnectOptions) -> Result<PgConnection, RepositoryError> {
        use sqlx::Connection as _;
        let at = format!("{}:{}", opts.get_host(), opts.get_port());
        let database = opts
            .get_database()
            .unwrap_or(opts.get_username())
            .to_owned();
        let unavailable = |m: String| RepositoryError::Unavailable(m);
        match tokio::time::timeout(PG_CONNECT_TIMEOUT, PgConnection::connect_with(opts)).await {
            Err(_) => Err(unavailable(format!(
                "PostgreSQL at {at} did not answer within {}s; check the host and port in --repository and that the server is up",
                PG_CONNECT_TIMEOUT.as_secs()
            ))),
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(sqlx::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err(unavailable(format!(
                    "connection refused at {at}: no PostgreSQL server listens there; start it, or fix the host and port in --repository"
                )))
            }
            Ok(Err(sqlx::Error::Io(e))) => {
                Err(unavailable(format!("cannot reach PostgreSQL at {at}: {e}")))
            }
            Ok(Err(sqlx::Error::Database(e))) => {
                let code = e.code().unwrap_or_default().into_owned();
                Err(unavailable(match code.as_str() {
                    "3D000" => format!(
                        "database `{database}` does not exist at {at}; create it (`createdb -h {} -p {} {database}`) or fix the database name in --repository",
                        opts.get_host(),
                        opts.get_port()
                    ),
                    "28P01" | "28000" => format!(
                        "PostgreSQL at {at} refused the login of `{}`: {}",
                        opts.get_username(),
                        e.message()
                    ),
                    _ => format!("PostgreSQL at {at}: {}", e.message()),
                }))
            }
            Ok(Err(e)) => Err(e.into()),
        }
    }

    async fn pg_pool(opts: PgConnectOptions) -> Result<PgPool, RepositoryError> {
        use sqlx::Connection as _;
        Self::pg_connect(&opts).await?.close().await?;
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
            let mut conn = Self::pg_connect(&opts).await?;
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

#[macro_use]
mod rows;
mod explore;
mod job;
mod queue;
mod registry;
mod tokens;
