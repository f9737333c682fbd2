//! Repository trouble through the real binary: a PostgreSQL port nobody listens on, a database
//! that does not exist and a SQLite folder that does not exist each get a message that says what
//! is wrong and what to do; a PostgreSQL connection cut in the middle of a job fails the run with
//! a message naming the next command, loses nothing, and the restart completes exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// Runs `jobs` against `url`; its exit code and stderr.
fn jobs(env: &Env, url: &str) -> (i32, String) {
    let out = env
        .command()
        .env("BATCH_HOST_REPOSITORY", url)
        .arg("jobs")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), stderr(&out))
}

#[tokio::test]
async fn unreachable_repositories_say_what_is_wrong() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, text) = jobs(&env, &format!("postgres://postgres@127.0.0.1:{port}/test"));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(&format!(
            "connection refused at 127.0.0.1:{port}: no PostgreSQL server listens there"
        )),
        "{text}"
    );

    let missing = env.dir.path().join("no/such/folder/repo.db");
    let (code, text) = jobs(&env, &format!("sqlite:{}", missing.display()));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(&format!(
            "the folder `{}` of the SQLite repository does not exist; create it (`mkdir -p",
            missing.parent().unwrap().display()
        )),
        "{text}"
    );
    assert!(!missing.parent().unwrap().exists(), "nothing was created");

    if let Ok(admin) = std::env::var("BATCH_HOST_TEST_PG") {
        let base = admin.rsplit_once('/').unwrap().0;
        let (code, text) = jobs(&env, &format!("{base}/bh_no_such_database"));
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains("database `bh_no_such_database` does not exist at 127.0.0.1:5432; create it (`createdb -h 127.0.0.1 -p 5432 bh_no_such_database`)"),
            "{text}"
        );
        assert!(!text.contains("at line"), "no server source lines: {text}");
    } else {
        skip_postgres();
    }
}

/// A TCP proxy to PostgreSQL whose connections the test can cut.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    /// Armed: the next `COMMIT` is passed to the server, its answer is swallowed, and then
    /// the database goes down — a commit whose outcome the client cannot know.
    lose_commit_answer: Arc<AtomicBool>,
}

/// Relays one connection; when `lose` is armed and the client sends `COMMIT`, forwards it, drops
/// whatever the server answers, waits for the server to have committed, and returns true (the
/// caller then cuts everything).
async fn relay(client: TcpStream, server: TcpStream, lose: Arc<AtomicBool>) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let held = Arc::new(AtomicBool::new(false));
    let held2 = held.clone();
    let answers = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = sr.read(&mut buf).await {
            if held2.load(Ordering::SeqCst) {
                continue; // the answer to the COMMIT never arrives
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut lost = false;
    while let Ok(n @ 1..) = cr.read(&mut buf).await {
        // A COMMIT statement ends with its NUL (COMMIT_COUNT columns do not match).
        let commit = buf[..n].windows(7).any(|w| w == b"COMMIT\0");
        if commit && lose.swap(false, Ordering::SeqCst) {
            held.store(true, Ordering::SeqCst);
            let _ = sw.write_all(&buf[..n]).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            lost = true;
            break;
        }
        if sw.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    answers.abort();
    lost
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(std::sync::Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let lose_commit_answer = Arc::new(AtomicBool::new(false));
        let (up2, conns2, lose2) = (up.clone(), conns.clone(), lose_commit_answer.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client); // the database is "down": refuse at once
                    continue;
                }
                let upstream = upstream.clone();
                let (lose, up3, conns3) = (lose2.clone(), up2.clone(), conns2.clone());
                let task = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await
                        && relay(client, server, lose).await
                    {
                        // After a swallowed COMMIT answer the database is gone.
                        up3.store(false, Ordering::SeqCst);
                        for c in conns3.lock().unwrap().drain(..) {
                            c.abort();
                        }
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy {
            port,
            up,
            conns,
            lose_commit_answer,
        }
    }

    /// Cuts every open connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// How the database goes away in the middle of the job.
#[derive(Clone, Copy, PartialEq)]
enum Outage {
    /// Every connection is cut at some moment.
    Cut,
    /// A chunk's COMMIT reaches the database, which commits it, but the answer is lost and the
    /// database goes down: the host cannot know the chunk is committed.
    LostCommitAnswer,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_job_loses_nothing_and_the_restart_completes() {
    outage(Outage::Cut).await;
}

/// The host must not cut a file back to the previous checkpoint when a commit's outcome is
/// unknown: the repository may hold the new one, and the restart would find the output shorter
/// than its checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_loses_nothing_and_the_restart_completes() {
    outage(Outage::LostCommitAnswer).await;
}

async fn outage(how: Outage) {
    let Some(env) = Env::new(Backend::Postgres).await else {
        return skip_postgres();
    };
    let (admin_base, db) = env.url.rsplit_once('/').unwrap();
    let host = admin_base.rsplit_once('@').unwrap().1;
    let proxy = Proxy::start(host.to_owned()).await;
    let via_proxy = format!(
        "{}@127.0.0.1:{}/{db}",
        admin_base.rsplit_once('@').unwrap().0,
        proxy.port
    );
    env.write("in/members.csv", &members(3000, |_| None));
    env.write(
        "job.yaml",
        "name: outage\nsteps:\n  - name: copy\n    chunk:\n      size: 5\n      reader: { builtin: csv, config: { path: in/members.csv } }\n      writer: { builtin: jsonl, config: { path: out/members.jsonl } }\n",
    );
    let run = |args: &[&str]| {
        env.command()
            .env("BATCH_HOST_REPOSITORY", &via_proxy)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    assert_success(&env.run(&["jobs"])); // the schema, so the loop below can read it
    let child = run(&["run", "job.yaml", "--no-progress"]);
    // Cut the database off once the job has committed a few chunks.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = env
            .rows("SELECT COALESCE(MAX(COMMIT_COUNT), 0) FROM BATCH_STEP_EXECUTION")
            .await;
        if rows[0][0].parse::<i64>().unwrap_or(0) >= 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the job never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match how {
        Outage::Cut => proxy.cut(),
        Outage::LostCommitAnswer => proxy.lose_commit_answer.store(true, Ordering::SeqCst),
    }
    let out = env.wait_bounded(child, Duration::from_secs(120));
    if how == Outage::LostCommitAnswer {
        assert!(
            !proxy.lose_commit_answer.load(Ordering::SeqCst),
            "a COMMIT went through the proxy and its answer was swallowed"
        );
    }
    assert!(
        !out.status.success(),
        "the run cannot succeed without its database"
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("the repository failed during execution 1")
            && text.contains("`batch-host recover 1`"),
        "the message names the next command: {text}"
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "exit code 4: internal trouble, not the job's fault"
    );
    proxy.restore();

    // The documented sequence: the dead run is recovered at once on this host, then run again.
    let recover = env.wait_bounded(run(&["recover", "1"]), Duration::from_secs(60));
    assert_success(&recover);
    let again = env.wait_bounded(
        run(&["run", "job.yaml", "--no-progress"]),
        Duration::from_secs(120),
    );
    assert_success(&again);
    assert!(
        jsonl_ids(&env, "out/members.jsonl") == (1..=3000).collect::<Vec<u64>>(),
        "every row exactly once after the outage"
    );
    env.cleanup().await;
}
