//! Graceful stop: `batch-host stop` from another process, and SIGTERM; both finish the current
//! chunk, mark the job STOPPED (exit code 5), and the same command restarts it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const ITEMS: usize = 3000;

fn slow_job(env: &Env) {
    let items: Vec<String> = (1..=ITEMS).map(|i| format!("\"{i}\"")).collect();
    env.write(
        "job.yaml",
        &format!(
            "name: long\nsteps:\n  - name: s\n    chunk:\n      size: 1\n      reader: {{ plugin: testkit-reader, config: {{ items: [{}] }} }}\n      writer: {{ plugin: testkit-writer, config: {{ output: out.txt }} }}\n",
            items.join(", ")
        ),
    );
}

/// Starts `run` in the background and waits until it has committed a few chunks.
#[allow(
    clippy::zombie_processes,
    reason = "returned to the caller, which waits for it"
)]
async fn start_run(env: &Env) -> std::process::Child {
    let mut child = env
        .command()
        .args(["run", "job.yaml", "--param", "run.id=1,long"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let commits = env
            .rows("SELECT COALESCE(MAX(COMMIT_COUNT), 0) FROM BATCH_STEP_EXECUTION")
            .await;
        if commits[0][0].parse::<i64>().unwrap_or(0) >= 5 {
            return child;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the job never got going");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn finish(child: std::process::Child) -> std::process::Output {
    child.wait_with_output().unwrap()
}

async fn assert_stopped_then_restarts(env: &Env, out: std::process::Output) {
    assert_exit(&out, 5);
    assert!(stdout(&out).contains("STOPPED"), "{}", stdout(&out));
    let rows = env
        .rows("SELECT STATUS, EXIT_CODE FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID")
        .await;
    assert_eq!(
        rows.last().unwrap(),
        &vec!["STOPPED".to_owned(), "STOPPED".to_owned()]
    );
    let written = env.read("out.txt").lines().count();
    assert!(
        written > 0 && written < ITEMS,
        "stopped part-way: {written}"
    );
    let out = env.run(&["run", "job.yaml", "--param", "run.id=1,long"]);
    assert_success(&out);
    let lines: Vec<String> = env.read("out.txt").lines().map(str::to_owned).collect();
    let expected: Vec<String> = (1..=ITEMS).map(|i| format!("\"{i}\"")).collect();
    assert_eq!(lines, expected, "every item exactly once after the restart");
}

async fn stop_command(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["testkit-reader", "testkit-writer"]);
    slow_job(&env);
    let child = start_run(&env).await;
    let out = env.run(&["stop", "1"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("will stop after its current chunk"),
        "{}",
        stdout(&out)
    );
    let out = finish(child);
    assert_stopped_then_restarts(&env, out).await;
    // A finished execution cannot be stopped; a stopped one can be abandoned, and then its
    // instance is never restarted.
    assert_exit(&env.run(&["stop", "2"]), 3);
    assert_success(&env.run(&["abandon", "1"]));
    assert_exit(&env.run(&["abandon", "2"]), 3);
    env.cleanup().await;
}
both_backends!(stop_command_from_another_process, stop_command);

async fn sigterm(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["testkit-reader", "testkit-writer"]);
    slow_job(&env);
    let child = start_run(&env).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = finish(child);
    assert!(stderr(&out).contains("stop requested"), "{}", stderr(&out));
    assert_stopped_then_restarts(&env, out).await;
    env.cleanup().await;
}
both_backends!(sigterm_stops_gracefully, sigterm);
