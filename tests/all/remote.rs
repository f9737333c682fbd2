//! Remote workers through the real binary on PostgreSQL: `batch-host run` offers a `workers:
//! remote` step's partitions through the repository, three `batch-host worker` processes claim
//! them, one is killed with SIGKILL mid-partition, another takes its partition over from the
//! last committed chunk — every row exactly once — and a worker serves only its own tenant.

use std::time::{Duration, Instant};

use crate::support::*;

/// A manager offering four byte ranges of `in/members.csv` to remote workers; the worker step
/// commits every two rows, so a partition takes long enough to be killed in the middle.
const JOB: &str = "name: remote\nsteps:\n  - name: migrate\n    partition:\n      partitioner: { builtin: file-ranges, config: { path: in/members.csv } }\n      grid-size: 4\n      workers: remote\n      step: migrate-worker\n  - name: migrate-worker\n    chunk:\n      size: 2\n      reader: { builtin: csv, config: { path: in/members.csv, range: \"${partition.range}\" } }\n      processor: { plugin: member-processor }\n      writer: { builtin: jsonl, config: { path: \"out/members-${partition.index}.jsonl\" } }\n";

const ROWS: usize = 3000;

fn worker(env: &Env, tenant: &str) -> std::process::Child {
    env.spawn(&[
        "--tenant",
        tenant,
        "worker",
        "--concurrency",
        "1",
        "--lease",
        "2s",
        "--poll",
        "100ms",
        "--exit-when-idle",
        "20s",
    ])
}

/// Polls `sql` until it returns a row, at most a minute (a bound on the harness).
async fn first_row(env: &Env, sql: &'static str, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(row) = env.rows(sql).await.into_iter().next() {
            return row;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM, then waits: the worker stops at its next chunk boundary (it is idle here).
fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_partition_is_taken_over_and_every_row_lands_once() {
    let Some(env) = Env::new(Backend::Postgres).await else {
        return skip_postgres();
    };
    env.register(&["member-processor"]);
    env.write("in/members.csv", &members(ROWS, |_| None));
    env.write("job.yaml", JOB);
    let manager = env.spawn(&["run", "job.yaml", "--no-progress"]);
    let mut workers: Vec<_> = (0..3).map(|_| worker(&env, "default")).collect();

    // A worker that is in the middle of its partition: kill it without warning.
    let held = first_row(
        &env,
        "SELECT W.CLAIMED_BY, W.STEP_NAME FROM BH_PARTITION_WORK W JOIN BATCH_STEP_EXECUTION S ON S.JOB_EXECUTION_ID = W.JOB_EXECUTION_ID AND S.STEP_NAME = W.STEP_NAME WHERE W.STATUS = 'CLAIMED' AND S.STATUS = 'STARTED' AND S.COMMIT_COUNT >= 5",
        "a partition in progress",
    )
    .await;
    let pid: i32 = held[0].split(':').nth(1).unwrap().parse().unwrap();
    let victim = workers
        .iter()
        .position(|w| w.id() as i32 == pid)
        .expect("the claim names one of our workers");
    let mut killed = workers.remove(victim);
    killed.kill().unwrap();
    killed.wait().unwrap();

    let out = env.wait_bounded(manager, Duration::from_secs(120));
    assert_success(&out);
    for w in workers {
        stop(w);
    }
    let ids: Vec<u64> = (0..4)
        .flat_map(|p| jsonl_ids(&env, &format!("out/members-{p}.jsonl")))
        .collect();
    assert!(
        ids == (1..=ROWS as u64).collect::<Vec<_>>(),
        "every row exactly once, in order ({} ids)",
        ids.len()
    );
    let taken = env
        .rows("SELECT STEP_NAME, ATTEMPTS, STATUS FROM BH_PARTITION_WORK ORDER BY STEP_NAME")
        .await;
    let row = taken.iter().find(|r| r[0] == held[1]).unwrap();
    assert_eq!(row[1..], ["2", "DONE"], "claimed twice: {taken:?}");
    let runs = env
        .rows("SELECT STEP_NAME, STATUS, EXIT_MESSAGE FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    let of_victim: Vec<_> = runs.iter().filter(|r| r[0] == held[1]).collect();
    assert_eq!(of_victim.len(), 2, "{runs:?}");
    assert_eq!(of_victim[0][1], "FAILED");
    assert!(
        of_victim[0][2].contains("stopped renewing its lease"),
        "{runs:?}"
    );
    assert_eq!(of_victim[1][1], "COMPLETED");
    let manager = runs.iter().find(|r| r[0] == "migrate").unwrap();
    assert_eq!(manager[1], "COMPLETED");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_only_its_own_tenant() {
    let Some(env) = Env::new(Backend::Postgres).await else {
        return skip_postgres();
    };
    for tenant in ["acme", "globex"] {
        env.create_tenant(tenant);
        let out = env.run(&[
            "--tenant",
            tenant,
            "plugin",
            "register",
            component("member-processor").to_str().unwrap(),
        ]);
        assert_success(&out);
    }
    env.write("in/members.csv", &members(200, |_| None));
    env.write("job.yaml", JOB);
    let globex = worker(&env, "globex");
    let manager = env.spawn(&["--tenant", "acme", "run", "job.yaml", "--no-progress"]);
    // acme's partitions are offered, and globex's worker leaves them alone.
    first_row(
        &env,
        "SELECT COUNT(*) FROM bh_tenant_acme.BH_PARTITION_WORK HAVING COUNT(*) = 4",
        "the offer",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let states = env
        .rows("SELECT STATUS, COUNT(*) FROM bh_tenant_acme.BH_PARTITION_WORK GROUP BY STATUS")
        .await;
    assert_eq!(
        states,
        [["READY", "4"]],
        "no other tenant's worker claims them"
    );
    let acme = worker(&env, "acme");
    let out = env.wait_bounded(manager, Duration::from_secs(120));
    assert_success(&out);
    stop(acme);
    stop(globex);
    let owners = env
        .rows("SELECT DISTINCT CLAIMED_BY FROM bh_tenant_acme.BH_PARTITION_WORK")
        .await;
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(
        jsonl_ids(&env, "out/members-0.jsonl")
            .into_iter()
            .chain((1..4).flat_map(|p| jsonl_ids(&env, &format!("out/members-{p}.jsonl"))))
            .count(),
        200
    );
    env.cleanup().await;
}

/// A worker that cannot see the work directory at the recorded path refuses the partitions with
/// a message saying so; the manager fails naming them; once the directory is back, the restart
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_the_shared_storage_says_so() {
    let Some(env) = Env::new(Backend::Postgres).await else {
        return skip_postgres();
    };
    env.register(&["member-processor"]);
    env.write("in/members.csv", &members(100, |_| None));
    env.write("job.yaml", JOB);
    let manager = env.spawn(&["run", "job.yaml", "--no-progress"]);
    first_row(
        &env,
        "SELECT COUNT(*) FROM BH_PARTITION_WORK HAVING COUNT(*) = 4",
        "the offer",
    )
    .await;
    let moved = env.dir.path().join("elsewhere");
    std::fs::rename(env.path(), &moved).unwrap();
    let spawn_worker = |idle: &str| {
        env.command()
            .current_dir(env.dir.path())
            .args([
                "worker",
                "--lease",
                "2s",
                "--poll",
                "100ms",
                "--exit-when-idle",
                idle,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let lost = spawn_worker("3s");
    let out = env.wait_bounded(manager, Duration::from_secs(120));
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains(
            "does not exist on this machine; remote workers need the same path on shared storage"
        ),
        "{text}"
    );
    let worker_out = env.wait_bounded(lost, Duration::from_secs(60));
    assert_exit(&worker_out, 1);
    std::fs::rename(&moved, env.path()).unwrap();
    let back = spawn_worker("20s");
    let restart = env.spawn(&["restart", "1", "--no-progress"]);
    assert_success(&env.wait_bounded(restart, Duration::from_secs(120)));
    stop(back);
    let ids: Vec<u64> = (0..4)
        .flat_map(|p| jsonl_ids(&env, &format!("out/members-{p}.jsonl")))
        .collect();
    assert!(ids == (1..=100).collect::<Vec<u64>>(), "{ids:?}");
    env.cleanup().await;
}
