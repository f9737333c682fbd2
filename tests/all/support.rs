//! Test harness: temporary work directories, repositories on both backends, running the binary.

#![allow(dead_code, reason = "each test module uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use batch_host::repository::SqlRepository;
use sqlx::Row;

/// Where `make plugins` puts the components.
pub fn component(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/components")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make plugins` (or `make test`) first",
        path.display()
    );
    path
}

/// A repository backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's world, laid out as the documented workflow lays it: a work directory (`work/`,
/// what plugins see), the host's home (`home/`: artifact key) and, on SQLite, the repository
/// (`repo/repo.db`) beside it, outside every grant.
pub struct Env {
    pub dir: tempfile::TempDir,
    work: PathBuf,
    pub url: String,
    pub backend: Backend,
    pg_admin: Option<(String, String)>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Env {
    /// A fresh environment, or `None` when the backend is not available here.
    /// A fresh environment on `backend`; `None` when PostgreSQL is not configured (outside CI
    /// only: see [`skip_postgres`]).
    pub async fn new(backend: Backend) -> Option<Env> {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        for sub in ["work", "repo"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("test folders");
        }
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite:{}", dir.path().join("repo/repo.db").display());
                Some(Env {
                    dir,
                    work,
                    url,
                    backend,
                    pg_admin: None,
                })
            }
            Backend::Postgres => {
                let Ok(admin) = std::env::var("BATCH_HOST_TEST_PG") else {
                    skip_postgres();
                    return None;
                };
                let db = format!(
                    "bh_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    chrono::Utc::now().timestamp_micros()
                );
                let pool = sqlx::PgPool::connect(&admin)
                    .await
                    .expect("connect to BATCH_HOST_TEST_PG");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                let url = format!("{base}/{db}");
                Some(Env {
                    dir,
                    work,
                    url,
                    backend,
                    pg_admin: Some((admin, db)),
                })
            }
        }
    }

    /// The work directory: job files, inputs and outputs (what plugins see).
    pub fn path(&self) -> &Path {
        &self.work
    }

    /// The folder of the SQLite repository files (every tenant's).
    pub fn repo_dir(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The host's home directory (`BATCH_HOST_HOME`): the artifact key.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The binary, set up to run in the work directory against this repository and home.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_batch-host"));
        cmd.current_dir(self.path())
            .env("BATCH_HOST_REPOSITORY", &self.url)
            .env("BATCH_HOST_HOME", self.home())
            .env_remove("BATCH_HOST_LOG")
            .env_remove("BATCH_HOST_CONFIG")
            .env_remove("BATCH_HOST_TENANT");
        cmd
    }

    /// Runs the binary in the work directory against this repository.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run batch-host")
    }

    /// Starts the binary in the background (stdout and stderr captured).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn batch-host")
    }

    /// Waits for a spawned run, but at most `limit`: a hung host is killed and the test fails
    /// (a bound on the harness, not a timing assertion).
    pub fn wait_bounded(
        &self,
        mut child: std::process::Child,
        limit: std::time::Duration,
    ) -> Output {
        let started = std::time::Instant::now();
        loop {
            if child.try_wait().expect("poll child").is_some() {
                return child.wait_with_output().expect("collect output");
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect output");
                panic!(
                    "batch-host did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Creates `tenant`'s repository (`batch-host --tenant T tenant create`): commands refuse a
    /// tenant that does not exist.
    pub fn create_tenant(&self, tenant: &str) {
        assert_success(&self.run(&["--tenant", tenant, "tenant", "create"]));
    }

    /// Registers the named components from target/components.
    pub fn register(&self, names: &[&str]) {
        for n in names {
            let path = component(n);
            let out = self.run(&["plugin", "register", path.to_str().unwrap()]);
            assert_success(&out);
        }
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes an operator's file (a host configuration) beside the work directory, where no
    /// plugin can reach it.
    pub fn write_outside(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The text of a file the job must have written: a missing file fails the test (an empty
    /// expectation must not pass because nothing ran).
    pub fn read(&self, rel: &str) -> String {
        let path = self.path().join(rel);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; the job did not write it", path.display()))
    }

    /// The text of a file that may legitimately not exist, `None` then.
    pub fn read_if_exists(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path().join(rel)).ok()
    }

    /// A repository handle for reading rows back.
    pub async fn repo(&self) -> SqlRepository {
        SqlRepository::connect(&self.url).await.expect("connect")
    }

    /// Runs a query and returns every row as strings (NULL as "NULL").
    pub async fn rows(&self, sql: &'static str) -> Vec<Vec<String>> {
        fn cell<'r, R: Row>(row: &'r R, i: usize) -> String
        where
            usize: sqlx::ColumnIndex<R>,
            Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                return v.map_or("NULL".into(), |v| v.to_string());
            }
            row.try_get::<Option<String>, _>(i)
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .unwrap_or_else(|_| "?".into())
        }
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                let out = rows
                    .iter()
                    .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
                    .collect();
                pool.close().await;
                out
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                let out = rows
                    .iter()
                    .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
                    .collect();
                pool.close().await;
                out
            }
        }
    }

    /// Drops the PostgreSQL test database.
    pub async fn cleanup(self) {
        if let Some((admin, db)) = &self.pg_admin
            && let Ok(pool) = sqlx::PgPool::connect(admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&pool)
            .await;
            pool.close().await;
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn assert_success(o: &Output) {
    assert!(
        o.status.success(),
        "command failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// The `id` of every member in a JSON-lines output file of the work directory, in order.
pub fn jsonl_ids(env: &Env, file: &str) -> Vec<u64> {
    env.read(file)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            v["id"]
                .as_str()
                .expect("an id")
                .parse()
                .expect("a numeric id")
        })
        .collect()
}

/// `rows` members `id,name,email`; `line(i)` may replace row `i`'s text.
pub fn members(rows: usize, line: impl Fn(usize) -> Option<String>) -> String {
    let mut s = String::from("id,name,email\n");
    for i in 1..=rows {
        match line(i) {
            Some(l) => s.push_str(&l),
            None => s.push_str(&format!("{i},Member {i},member{i}@example.com")),
        }
        s.push('\n');
    }
    s
}

/// A members CSV with `rows` rows; rows listed in `invalid` get a broken email.
pub fn members_csv(rows: usize, invalid: &[usize]) -> String {
    let mut s = String::from("id,first_name,last_name,email,country,joined\n");
    for i in 1..=rows {
        let email = if invalid.contains(&i) {
            format!("user{i}@@example.com")
        } else if i % 7 == 0 {
            format!("  User{i}@Example.COM ")
        } else {
            format!("user{i}@example.com")
        };
        s.push_str(&format!(
            "{i}, ann{i} ,LEE,{email},de,2020-01-{:02}\n",
            i % 28 + 1
        ));
    }
    s
}

/// A member-migration job.yaml; `processor` is the processor plugin reference line content.
pub fn job_yaml(name: &str, size: usize, processor: &str) -> String {
    format!(
        "name: {name}\nsteps:\n  - name: migrate\n    chunk:\n      size: {size}\n      reader: {{ plugin: csv-reader, config: {{ path: members.csv }} }}\n      processor: {processor}\n      writer: {{ plugin: jsonl-writer, config: {{ path: out/members.jsonl }} }}\n"
    )
}

/// Generates a test function per backend from one async body taking a `Backend`.
macro_rules! both_backends {
    ($(#[$m:meta])* $name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(crate::support::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(crate::support::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use both_backends;

/// A PostgreSQL variant without `BATCH_HOST_TEST_PG`. Under `CI=true` that is a failure (CI
/// machines have PostgreSQL; a variant that silently does nothing would count as passed).
/// Elsewhere the variant is skipped and recorded in `BATCH_HOST_TEST_SKIPS` (set by `make test`),
/// so the summary reports it as skipped, not passed.
pub fn skip_postgres() {
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL test")
        .to_owned();
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: CI=true but BATCH_HOST_TEST_PG is not set; PostgreSQL must be reachable at 127.0.0.1:5432 (run `make test`, which sets it)"
        );
    }
    if let Ok(file) = std::env::var("BATCH_HOST_TEST_SKIPS") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = writeln!(f, "{test}: skipped, PostgreSQL not configured");
        }
    }
}

/// The SHA-256 of a file in hex, by coreutils' `sha256sum`: an expectation independent of the
/// host's own digest code.
pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("coreutils sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}
