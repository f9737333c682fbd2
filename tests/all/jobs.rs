//! Whole jobs through `batch-host run`: output, exit codes and the rows Spring Batch's tables hold.

use md5::{Digest, Md5};
use serde_json::Value;

use crate::support::*;

const PLUGINS: &[&str] = &["csv-reader", "member-processor", "jsonl-writer"];

fn output_ids(env: &Env) -> Vec<u64> {
    jsonl_ids(env, "out/members.jsonl")
}

async fn full_job(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(PLUGINS);
    env.write("members.csv", &members_csv(2_345, &[]));
    env.write(
        "job.yaml",
        &job_yaml("member-migration", 500, "{ plugin: member-processor }"),
    );

    let out = env.run(&[
        "run",
        "job.yaml",
        "--param",
        "run.date=2026-11-21,date",
        "--param",
        "batch=7,long,false",
    ]);
    assert_success(&out);
    let summary = stdout(&out);
    assert!(
        summary.contains("Job `member-migration` COMPLETED"),
        "{summary}"
    );
    assert!(summary.contains("migrate"), "{summary}");

    // Every member, in order, normalised.
    assert_eq!(output_ids(&env), (1..=2_345).collect::<Vec<_>>());
    let lines = env.read("out/members.jsonl");
    let seventh: Value = serde_json::from_str(lines.lines().nth(6).unwrap()).unwrap();
    assert_eq!(seventh["email"], "user7@example.com");
    assert_eq!(seventh["first_name"], "Ann7");
    assert_eq!(seventh["last_name"], "Lee");
    assert_eq!(seventh["country"], "DE");

    // The JobInstance key is Spring Batch 5's MD5 over the identifying parameters only.
    let key_input =
        "run.date={value=2026-11-21, type=class java.time.LocalDate, identifying=true};";
    let expected_key = hex::encode(Md5::digest(key_input.as_bytes()));
    let instances = env
        .rows("SELECT JOB_INSTANCE_ID, JOB_NAME, JOB_KEY, VERSION FROM BATCH_JOB_INSTANCE")
        .await;
    assert_eq!(
        instances,
        vec![vec![
            "1".into(),
            "member-migration".into(),
            expected_key,
            "0".into()
        ]]
    );

    let executions = env
        .rows(
            "SELECT JOB_EXECUTION_ID, JOB_INSTANCE_ID, STATUS, EXIT_CODE FROM BATCH_JOB_EXECUTION",
        )
        .await;
    assert_eq!(executions, vec![vec!["1", "1", "COMPLETED", "COMPLETED"]]);
    let params = env
        .rows("SELECT PARAMETER_NAME, PARAMETER_TYPE, PARAMETER_VALUE, IDENTIFYING FROM BATCH_JOB_EXECUTION_PARAMS ORDER BY PARAMETER_NAME")
        .await;
    assert_eq!(
        params,
        vec![
            vec!["batch", "java.lang.Long", "7", "N"],
            vec!["run.date", "java.time.LocalDate", "2026-11-21", "Y"],
        ]
    );

    // Counters: 5 chunks of 500/345 items, plus Spring's final empty-read commit? No: 2345 is
    // not a multiple of 500, so the last chunk ends on the reader's end: 5 commits.
    let steps = env
        .rows("SELECT STEP_NAME, STATUS, EXIT_CODE, READ_COUNT, WRITE_COUNT, FILTER_COUNT, COMMIT_COUNT, ROLLBACK_COUNT, READ_SKIP_COUNT, PROCESS_SKIP_COUNT, WRITE_SKIP_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(
        steps,
        vec![vec![
            "migrate",
            "COMPLETED",
            "COMPLETED",
            "2345",
            "2345",
            "0",
            "5",
            "0",
            "0",
            "0",
            "0"
        ]]
    );

    // The step context holds the committed ItemStream state of reader and writer.
    let ctx = env
        .rows("SELECT SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT")
        .await;
    let ctx: Value = serde_json::from_str(&ctx[0][0]).unwrap();
    assert_eq!(ctx["@class"], "java.util.HashMap");
    assert_eq!(ctx["reader.rows"], 2345);
    let file_len = std::fs::metadata(env.path().join("out/members.jsonl"))
        .unwrap()
        .len();
    assert_eq!(ctx["writer.committed-bytes"], file_len);
    env.cleanup().await;
}
both_backends!(full_job_writes_every_item_and_spring_rows, full_job);

async fn fail_then_restart(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(PLUGINS);
    env.write("members.csv", &members_csv(1_000, &[733]));
    env.write(
        "job.yaml",
        &job_yaml("members", 100, "{ plugin: member-processor }"),
    );

    let run = ["run", "job.yaml", "--param", "run.id=1,long"];
    let out = env.run(&run);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("FAILED"), "{text}");
    assert!(
        text.contains("processor member-processor@0.1.0 failed on item 733: validation.email: member \"733\": invalid email `user733@@example.com`"),
        "{text}"
    );
    // Chunks 1-7 committed; the failing chunk rolled back.
    assert_eq!(output_ids(&env), (1..=700).collect::<Vec<_>>());
    let steps = env
        .rows("SELECT STATUS, READ_COUNT, WRITE_COUNT, COMMIT_COUNT, ROLLBACK_COUNT, EXIT_MESSAGE FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(steps[0][..5], ["FAILED", "800", "700", "7", "1"]);
    assert!(steps[0][5].contains("item 733"), "{:?}", steps[0]);
    let ctx = env
        .rows("SELECT SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT")
        .await;
    let ctx: Value = serde_json::from_str(&ctx[0][0]).unwrap();
    assert_eq!(
        ctx["reader.rows"], 700,
        "the context is the last committed chunk's"
    );

    // Fix the input and run the same command: same instance, new execution, resumes at 701.
    env.write("members.csv", &members_csv(1_000, &[]));
    let out = env.run(&run);
    assert_success(&out);
    assert!(stdout(&out).contains("(restart)"), "{}", stdout(&out));
    assert_eq!(
        output_ids(&env),
        (1..=1_000).collect::<Vec<_>>(),
        "every row exactly once, in order"
    );

    let executions = env.rows("SELECT JOB_EXECUTION_ID, JOB_INSTANCE_ID, STATUS FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID").await;
    assert_eq!(
        executions,
        vec![vec!["1", "1", "FAILED"], vec!["2", "1", "COMPLETED"]]
    );
    let steps = env
        .rows("SELECT JOB_EXECUTION_ID, STATUS, READ_COUNT, WRITE_COUNT, COMMIT_COUNT FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    // 300 more rows in chunks of 100: 3 commits plus the final empty-read commit.
    assert_eq!(steps[1], vec!["2", "COMPLETED", "300", "300", "4"]);

    // A completed instance (with identifying parameters) is not run again.
    let out = env.run(&run);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("already completed"),
        "{}",
        stderr(&out)
    );
    env.cleanup().await;
}
both_backends!(failed_run_restarts_from_last_commit, fail_then_restart);

async fn trap_fails_the_step(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["csv-reader", "panic-processor", "jsonl-writer"]);
    env.write("members.csv", &members_csv(50, &[]));
    env.write(
        "job.yaml",
        &job_yaml(
            "panics",
            10,
            "{ plugin: panic-processor, config: { panic-on: \"23\" } }",
        ),
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("processor panic-processor@0.1.0 failed on items 21-30: wasm.trap"),
        "{text}"
    );
    assert!(
        text.contains("boom on item 23"),
        "the guest's panic message is kept: {text}"
    );
    assert_eq!(output_ids(&env), (1..=20).collect::<Vec<_>>());
    env.cleanup().await;
}
both_backends!(
    guest_trap_fails_the_step_and_host_survives,
    trap_fails_the_step
);

#[tokio::test]
async fn plugins_see_only_the_work_directory() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(PLUGINS);
    std::fs::create_dir_all(env.path().join("work")).unwrap();
    env.write("secret.csv", &members_csv(3, &[]));
    env.write(
        "work/job.yaml",
        "name: escape\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: { plugin: csv-reader, config: { path: ../secret.csv } }\n      writer: { plugin: jsonl-writer, config: { path: out.jsonl } }\n",
    );
    let out = env.run(&["run", "work/job.yaml"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    // Our plugins refuse a path that climbs out before the sandbox would (the sandbox's own
    // containment is tested with hostile guests in sandbox.rs).
    assert!(
        text.contains(
            "reader csv-reader@0.1.0 failed in init: config: `path`: `../secret.csv` leaves the step's directory"
        ),
        "{text}"
    );

    // Absolute paths do not reach the host file system either.
    env.write(
        "work/job2.yaml",
        "name: escape2\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: { plugin: csv-reader, config: { path: /etc/passwd } }\n      writer: { plugin: jsonl-writer, config: { path: out.jsonl } }\n",
    );
    let out = env.run(&["run", "work/job2.yaml"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("`path`: `/etc/passwd` is absolute"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn job_without_processor_copies_items() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["csv-reader", "jsonl-writer"]);
    env.write("members.csv", &members_csv(10, &[4]));
    env.write(
        "job.yaml",
        "name: copy\nsteps:\n  - name: copy\n    chunk:\n      size: 5\n      reader: { plugin: csv-reader, config: { path: members.csv } }\n      writer: { plugin: jsonl-writer, config: { path: out/members.jsonl } }\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert_eq!(output_ids(&env), (1..=10).collect::<Vec<_>>());
    // Untouched by a processor: the raw CSV value, spaces and all.
    let first: Value =
        serde_json::from_str(env.read("out/members.jsonl").lines().next().unwrap()).unwrap();
    assert_eq!(first["first_name"], " ann1 ");
    // 10 items in chunks of 5: 2 full chunks, then the final empty-read commit.
    let steps = env
        .rows("SELECT READ_COUNT, WRITE_COUNT, COMMIT_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(steps, vec![vec!["10", "10", "3"]]);
}

#[tokio::test]
async fn no_identifying_parameters_reruns_the_same_instance_as_noop() {
    // Spring Batch 5: without identifying parameters a COMPLETED instance may be launched again;
    // every step is already complete, so the new execution does nothing and exits NOOP.
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(PLUGINS);
    env.write("members.csv", &members_csv(5, &[]));
    env.write(
        "job.yaml",
        &job_yaml("again", 10, "{ plugin: member-processor }"),
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("(exit code NOOP)"),
        "{}",
        stdout(&out)
    );
    let rows = env.rows("SELECT JOB_INSTANCE_ID, STATUS, EXIT_CODE FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID").await;
    assert_eq!(
        rows,
        vec![
            vec!["1", "COMPLETED", "COMPLETED"],
            vec!["1", "COMPLETED", "NOOP"]
        ]
    );
    assert_eq!(output_ids(&env).len(), 5);
}

async fn racing_runs(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(PLUGINS);
    env.register(&["testkit-tasklet"]);
    env.write("members.csv", &members_csv(3_000, &[]));
    // The job's first step holds the execution open until the test creates `go`, so the two
    // launches provably overlap: the loser is refused while the winner is still running.
    let hold = "  - name: hold\n    tasklet: { plugin: testkit-tasklet, config: { barrier: { mine: started, wait-for: go, timeout-ms: 120000 } } }\n";
    let job = job_yaml("race", 10, "{ plugin: member-processor }").replacen(
        "steps:\n",
        &format!("steps:\n{hold}"),
        1,
    );
    env.write("job.yaml", &job);
    // Two `run` commands for the same instance at the same moment: the database lets exactly
    // one of them create an execution; the other is refused as already running.
    let args = ["run", "job.yaml", "--param", "run.id=1,long"];
    let mut children = [env.spawn(&args), env.spawn(&args)];
    let started = std::time::Instant::now();
    let loser = loop {
        if let Some(i) = (0..2).find(|&i| children[i].try_wait().unwrap().is_some()) {
            break i;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "neither launch ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let winner = 1 - loser;
    assert!(
        children[winner].try_wait().unwrap().is_none(),
        "the winner is still running (held) when the loser is refused"
    );
    let [a, b] = children;
    let (loser_child, winner_child) = if loser == 0 { (a, b) } else { (b, a) };
    let lost = loser_child.wait_with_output().unwrap();
    assert_exit(&lost, 3);
    assert!(
        stderr(&lost).contains("already running as execution 1"),
        "{}",
        stderr(&lost)
    );
    env.write("go", "");
    let won = env.wait_bounded(winner_child, std::time::Duration::from_secs(120));
    assert_success(&won);
    let executions = env.rows("SELECT COUNT(*) FROM BATCH_JOB_EXECUTION").await;
    assert_eq!(executions, vec![vec!["1"]]);
    assert_eq!(output_ids(&env).len(), 3_000);
    env.cleanup().await;
}
both_backends!(two_racing_runs_start_one_execution, racing_runs);

/// `--log-format json`: stderr is JSON objects only — logs, progress notices and errors — each
/// with one `message` key, including the per-item skip records and guest log lines.
#[tokio::test]
async fn json_logs_are_one_object_per_line_with_unique_keys() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(PLUGINS);
    env.write("members.csv", &members_csv(300, &[5, 150, 299]));
    let job = job_yaml("json-logs", 100, "{ plugin: member-processor }")
        + "      fault-tolerance: { skip: { kinds: [validation], limit: 10 } }\n";
    env.write("job.yaml", &job);
    let json_run = [
        "run",
        "job.yaml",
        "-p",
        "run.id=1,long",
        "--log-format",
        "json",
    ];
    let out = env.run(&[&json_run[..], &["-v"]].concat());
    assert_success(&out);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("item skipped")),
        "the skips are logged: {err}"
    );
    assert!(
        lines.iter().any(|l| l.contains("starting job")),
        "the progress notices are JSON too: {err}"
    );
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.is_object(), "{line}");
        assert_eq!(
            line.matches("\"message\":").count(),
            1,
            "one message key: {line}"
        );
    }
    // A refusal is a JSON error object as well.
    let out = env.run(&json_run);
    assert_exit(&out, 3);
    let v: Value = serde_json::from_str(stderr(&out).trim()).expect("one JSON object");
    assert_eq!(v["level"], "ERROR");
    assert!(
        v["message"].as_str().unwrap().contains("already completed"),
        "{v}"
    );
}

/// Optimistic locking (Spring's `VERSION` columns): an update from a stale copy of a job or
/// step execution is refused and changes nothing; the current copy updates and bumps VERSION.
async fn optimistic_locking(backend: Backend) {
    use batch_host::JobRepository;
    use batch_host::domain::{BatchStatus, JobParameters, StepExecution, now};
    use batch_host::repository::RepositoryError;
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let repo = env.repo().await;
    let mut current = repo
        .create_job_execution("locking", &JobParameters::new(), true)
        .await
        .unwrap();
    let mut stale = current.clone();
    current.status = BatchStatus::Started;
    repo.update_job_execution(&mut current).await.unwrap();
    stale.status = BatchStatus::Completed;
    let err = repo.update_job_execution(&mut stale).await.unwrap_err();
    assert!(matches!(err, RepositoryError::StaleVersion { .. }), "{err}");
    let row = env
        .rows("SELECT STATUS, VERSION FROM BATCH_JOB_EXECUTION")
        .await;
    assert_eq!(
        row,
        vec![vec!["STARTED", "1"]],
        "the stale update changed nothing"
    );

    let mut step = StepExecution::new(current.id, "s", now());
    repo.add_step_execution(&mut step).await.unwrap();
    let mut stale_step = step.clone();
    step.read_count = 5;
    repo.update_step_execution(&mut step).await.unwrap();
    stale_step.read_count = 99;
    let err = repo
        .update_step_execution(&mut stale_step)
        .await
        .unwrap_err();
    assert!(matches!(err, RepositoryError::StaleVersion { .. }), "{err}");
    let row = env
        .rows("SELECT READ_COUNT, VERSION FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(row, vec![vec!["5", "1"]]);
    repo.close().await;
    env.cleanup().await;
}
both_backends!(stale_updates_are_refused_by_version, optimistic_locking);
