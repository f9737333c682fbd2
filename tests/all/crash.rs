//! Crash safety: a run killed with SIGKILL leaves its execution STARTED; `recover` marks it
//! FAILED — at once on the same host once the recorded process is gone, by the heartbeat lease
//! for an owner on another host, never while it is alive — and `run` restarts it until it completes — with every
//! input row exactly once, in order, both in a file (`jsonl-writer`) and in the repository
//! database (the built-in `sql-table` writer, committed with the chunk).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn spawn_run(env: &Env) -> std::process::Child {
    env.command()
        .args(["run", "job.yaml", "--param", "run.id=1,long"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn last_execution(env: &Env) -> (String, String) {
    let rows = env.rows("SELECT JOB_EXECUTION_ID, STATUS FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID DESC").await;
    (rows[0][0].clone(), rows[0][1].clone())
}

/// Executions with their owner recorded (the launcher records it right after creating one).
async fn executions(env: &Env) -> usize {
    env.rows("SELECT JOB_EXECUTION_ID FROM BH_EXECUTION_OWNER")
        .await
        .len()
}

async fn commits(env: &Env) -> i64 {
    let rows = env
        .rows("SELECT CAST(COALESCE(SUM(COMMIT_COUNT), 0) AS BIGINT) FROM BATCH_STEP_EXECUTION")
        .await;
    rows[0][0].parse().unwrap_or(0)
}

async fn kill_loop(backend: Backend) {
    kill_loop_with(backend, false).await;
}

/// The same loop through the host's built-in csv reader and jsonl writer.
async fn kill_loop_builtins(backend: Backend) {
    kill_loop_with(backend, true).await;
}

async fn kill_loop_with(backend: Backend, builtins: bool) {
    let Some(env) = Env::new(backend).await else {
        return skip_postgres();
    };
    env.register(&["csv-reader", "member-processor", "jsonl-writer"]);
    // SQLite: the full-size loop (200k rows, 20 kills). PostgreSQL commits are slower here, so
    // it runs the same loop on 30k rows with 5 kills.
    let (rows, kill_count) = match backend {
        Backend::Sqlite => (200_000_usize, 20_usize),
        Backend::Postgres => (30_000, 5),
    };
    env.write("members.csv", &members_csv(rows, &[]));
    let reader = if builtins {
        "{ builtin: csv, config: { path: members.csv } }"
    } else {
        "{ plugin: csv-reader, config: { path: members.csv } }"
    };
    let mut job = job_yaml("crashy", 100, "{ plugin: member-processor }");
    if builtins {
        job = job
            .replace(
                "{ plugin: csv-reader, config: { path: members.csv } }",
                reader,
            )
            .replace(
                "{ plugin: jsonl-writer, config: { path: out/members.jsonl } }",
                "{ builtin: jsonl, config: { path: out/members.jsonl } }",
            );
        assert!(
            job.contains("builtin: jsonl") && job.contains("builtin: csv"),
            "{job}"
        );
    }
    job.push_str(&format!(
        "  - name: load\n    chunk:\n      size: 100\n      reader: {reader}\n      processor: {{ plugin: member-processor }}\n      writer: {{ builtin: sql-table, config: {{ table: members }} }}\n"
    ));
    env.write("job.yaml", &job);

    // Kill points: pseudo-random but reproducible, spread over both steps' commits.
    let total_commits = 2 * (rows as i64 / 100 + 1);
    let mut seed: u64 = 0x5eed_2026_1122;
    let mut targets: Vec<i64> = (0..kill_count)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            1 + (seed >> 33) as i64 % (total_commits - 2)
        })
        .collect();
    targets.sort_unstable();
    targets.dedup();

    let mut kills = 0;
    for target in targets {
        let before = executions(&env).await;
        let mut child = spawn_run(&env);
        // No fixed deadline (a loaded machine is slow, not broken): the run fails the test only
        // when it stops making progress — no new commit for two minutes.
        let mut progress = (-1, Instant::now());
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            // Kill only this run's process, once it has its own execution and the commit target.
            let done = commits(&env).await;
            if executions(&env).await > before && done >= target {
                break None;
            }
            if done != progress.0 {
                progress = (done, Instant::now());
            } else if progress.1.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no commit for 120 s (stuck at {done} of target {target})");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if finished.is_some() {
            break;
        }
        let (id, _) = last_execution(&env).await;
        if kills == 0 {
            // While its process lives, `recover` refuses and names it.
            let out = env.run(&["recover", &id]);
            assert_exit(&out, 3);
            let pid = child.id().to_string();
            assert!(
                stderr(&out).contains(&format!("is running as process {pid} on this host")),
                "{}",
                stderr(&out)
            );
        }
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
        kills += 1;
        let (id, status) = last_execution(&env).await;
        let why = env
            .rows("SELECT EXIT_MESSAGE FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID DESC")
            .await;
        // Killed before or after the launcher marked it STARTED: either way it looks running.
        assert!(
            status == "STARTED" || status == "STARTING",
            "a killed run leaves its execution running, not {status} ({why:?})"
        );
        if kills % 2 == 1 {
            // On the host that ran it, the dead process is known at once: `run` and `stop`
            // say so and name `recover`, which frees the execution without waiting.
            let out = env.run(&["run", "job.yaml", "--param", "run.id=1,long"]);
            assert_exit(&out, 3);
            assert!(
                stderr(&out).contains("on this host) is gone; run `batch-host recover"),
                "{}",
                stderr(&out)
            );
            let out = env.run(&["stop", &id]);
            assert_exit(&out, 3);
            assert!(
                stderr(&out).contains(&format!("run `batch-host recover {id}`")),
                "{}",
                stderr(&out)
            );
            let out = env.run(&["recover", &id]);
            assert_success(&out);
        } else {
            // An owner on another host: only its heartbeat can tell, so the lease decides.
            env.rows("UPDATE BH_EXECUTION_OWNER SET HOST_NAME = 'another-host'")
                .await;
            let out = env.run(&["run", "job.yaml", "--param", "run.id=1,long"]);
            assert_exit(&out, 3);
            assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
            let out = env.run(&["recover", &id]);
            assert_exit(&out, 3);
            assert!(stderr(&out).contains("is alive"), "{}", stderr(&out));
            // Durations take humantime's spans: 1m30s is read, and the heartbeat is younger.
            let out = env.run(&["recover", &id, "--stale-after", "1m30s"]);
            assert_exit(&out, 3);
            assert!(stderr(&out).contains("is alive"), "{}", stderr(&out));
            // Once its heartbeat is stale (here: immediately) it is recovered as FAILED.
            let out = env.run(&["recover", &id, "--stale-after", "0s"]);
            assert_success(&out);
        }
        assert_eq!(last_execution(&env).await.1, "FAILED");
    }
    assert!(
        kills >= 3,
        "the job finished too fast to be killed: {kills} kills"
    );
    let out = env.run(&["run", "job.yaml", "--param", "run.id=1,long"]);
    assert_success(&out);

    let ids = jsonl_ids(&env, "out/members.jsonl");
    assert_eq!(ids.len(), rows, "every row exactly once in the file");
    assert!(ids.iter().copied().eq(1..=rows as u64), "in order");

    let db = env
        .rows("SELECT ROW_NUMBER, PAYLOAD FROM BH_TABLE_ROW WHERE TABLE_NAME = 'members' ORDER BY ROW_NUMBER")
        .await;
    assert_eq!(db.len(), rows, "every row exactly once in the database");
    for (i, row) in db.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(row[0], n.to_string());
        let v: serde_json::Value = serde_json::from_str(&row[1]).unwrap();
        assert_eq!(v["id"], n.to_string(), "row {n} holds member {n}");
    }
}
both_backends!(
    sigkill_recover_restart_loop_loses_and_duplicates_nothing,
    kill_loop
);
both_backends!(
    sigkill_loop_through_the_built_in_csv_reader_and_jsonl_writer,
    kill_loop_builtins
);
