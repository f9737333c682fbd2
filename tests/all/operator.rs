//! Operator commands: `jobs`, `executions`, `execution`, and `run --next`.

use serde_json::Value;

use crate::support::*;

async fn operator_view(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["csv-reader", "member-processor", "jsonl-writer"]);
    env.write("members.csv", &members_csv(30, &[12]));
    env.write(
        "job.yaml",
        &job_yaml("ops", 10, "{ plugin: member-processor }"),
    );
    assert_exit(&env.run(&["run", "job.yaml", "--next"]), 1);
    env.write("members.csv", &members_csv(30, &[]));
    assert_success(&env.run(&["run", "job.yaml", "--next"]));

    // --next made two instances: run.id 1 (failed) and run.id 2 (completed).
    let out = env.run(&["executions", "--json"]);
    assert_success(&out);
    let rows: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["execution_id"], 2);
    assert_eq!(rows[0]["status"], "COMPLETED");
    assert_eq!(rows[0]["parameters"]["run.id"]["value"], "2");
    assert_eq!(rows[0]["parameters"]["run.id"]["type"], "java.lang.Long");
    assert_eq!(rows[1]["status"], "FAILED");
    assert_eq!(rows[1]["parameters"]["run.id"]["value"], "1");
    assert_ne!(rows[0]["instance_id"], rows[1]["instance_id"]);

    let out = env.run(&["executions", "--status", "failed"]);
    let text = stdout(&out);
    assert!(
        text.contains("FAILED") && !text.contains("COMPLETED"),
        "{text}"
    );
    // A status that does not exist is bad input, not an empty list.
    let out = env.run(&["executions", "--status", "BOGUS"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("unknown batch status `BOGUS`; use one of COMPLETED"),
        "{}",
        stderr(&out)
    );

    let out = env.run(&["jobs"]);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ops") && l.contains(" 2 ") && l.contains("COMPLETED")),
        "{text}"
    );

    let out = env.run(&["execution", "1", "--json"]);
    assert_success(&out);
    let e: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(e["steps"][0]["status"], "FAILED");
    assert_eq!(e["steps"][0]["read"], 20);
    assert_eq!(e["steps"][0]["write"], 10);
    assert_eq!(e["steps"][0]["rollback"], 1);
    assert!(
        e["steps"][0]["exit_message"]
            .as_str()
            .unwrap()
            .contains("item 12")
    );
    assert_eq!(e["steps"][0]["context"]["reader.rows"], 10);

    let out = env.run(&["execution", "2"]);
    let text = stdout(&out);
    assert!(text.contains("step `migrate`"), "{text}");
    assert!(text.contains("read 30 · written 30"), "{text}");

    let out = env.run(&["execution", "99"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("no job execution 99"),
        "{}",
        stderr(&out)
    );
    env.cleanup().await;
}
both_backends!(
    jobs_executions_and_execution_show_the_repository,
    operator_view
);

#[tokio::test]
async fn restart_by_execution_id_uses_what_the_repository_recorded() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["csv-reader", "member-processor", "jsonl-writer"]);
    std::fs::create_dir_all(env.path().join("jobs")).unwrap();
    env.write("jobs/members.csv", &members_csv(40, &[33]));
    env.write(
        "jobs/job.yaml",
        &job_yaml("by-id", 10, "{ plugin: member-processor }"),
    );
    let out = env.run(&[
        "run",
        "jobs/job.yaml",
        "--param",
        "batch=7,long",
        "--param",
        "note=x,string,false",
    ]);
    assert_exit(&out, 1);
    env.write("jobs/members.csv", &members_csv(40, &[]));

    // No job.yaml path: the repository knows the file, the work directory and the parameters.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = env
        .command()
        .args(["restart", "1"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_success(&out);
    assert!(stdout(&out).contains("(restart)"), "{}", stdout(&out));
    assert_eq!(env.read("jobs/out/members.jsonl").lines().count(), 40);
    let rows = env
        .rows("SELECT JOB_INSTANCE_ID, STATUS FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID")
        .await;
    assert_eq!(
        rows,
        vec![vec!["1", "FAILED"], vec!["1", "COMPLETED"]],
        "the same instance"
    );
    let params = env.rows("SELECT PARAMETER_NAME, PARAMETER_TYPE, PARAMETER_VALUE, IDENTIFYING FROM BATCH_JOB_EXECUTION_PARAMS WHERE JOB_EXECUTION_ID = 2 ORDER BY PARAMETER_NAME").await;
    assert_eq!(
        params,
        vec![
            vec!["batch", "java.lang.Long", "7", "Y"],
            vec!["note", "java.lang.String", "x", "N"]
        ]
    );

    // A completed execution cannot be restarted.
    assert_exit(&env.run(&["restart", "2"]), 3);
}

/// `--help` documents the exit codes scripts branch on, with the same numbers the commands use.
#[tokio::test]
async fn help_lists_the_exit_codes() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let out = env.run(&["--help"]);
    assert_success(&out);
    let text = stdout(&out);
    for line in [
        "Exit codes (for scripts):",
        "1  the job ran and FAILED",
        "2  invalid input",
        "3  refused",
        "5  the job STOPPED on request",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    // The documented numbers are the real ones: an unknown execution is refused with 3.
    assert_exit(&env.run(&["stop", "999"]), 3);
}

/// A `--config` that cannot be read is an error for every command, not only `run`.
#[tokio::test]
async fn every_command_refuses_a_missing_host_configuration() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let missing = env.dir.path().join("nonexistent.yaml");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["--config", missing, "jobs"],
        vec!["--config", missing, "plugin", "list"],
        vec!["--config", missing, "executions"],
    ] {
        let out = env.run(&args);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("nonexistent.yaml"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A readable one is accepted as before.
    let config = env.write_outside("host.yaml", "limits:\n  defaults: { memory: 128MiB }\n");
    let out = env.run(&["--config", config.to_str().unwrap(), "jobs"]);
    assert_success(&out);
}

/// The operator commands on executions that are missing, finished or abandoned, and the
/// listing filters: an ABANDONED instance is never run again (with identifying parameters, as
/// in Spring 5's `SimpleJobRepository#createJobExecution`), `recover` refuses what is not
/// running, and `jobs --json` / `executions --job --last` report exactly what ran.
async fn lifecycle(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["testkit-tasklet"]);
    env.write("fail.flag", "");
    env.write(
        "job.yaml",
        "name: ab\nsteps:\n  - name: work\n    tasklet: { plugin: testkit-tasklet, config: { fail-if-exists: fail.flag } }\n",
    );
    let run = ["run", "job.yaml", "--param", "run.id=1,long"];
    assert_exit(&env.run(&run), 1);
    assert_success(&env.run(&["abandon", "1"]));
    std::fs::remove_file(env.path().join("fail.flag")).unwrap();
    // The cause is gone, so a restart would succeed — but the instance is abandoned.
    let out = env.run(&run);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("ABANDONED"), "{}", stderr(&out));
    let out = env.run(&["restart", "1"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(
            "job execution 1 is ABANDONED; only FAILED or STOPPED executions can be restarted"
        ),
        "{}",
        stderr(&out)
    );
    let rows = env
        .rows("SELECT JOB_EXECUTION_ID, STATUS FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID")
        .await;
    assert_eq!(
        rows,
        vec![vec!["1", "ABANDONED"]],
        "no execution was created"
    );

    // recover: a missing execution is bad input (2), a finished one is refused (3).
    let out = env.run(&["recover", "99"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("no job execution 99"),
        "{}",
        stderr(&out)
    );
    env.write(
        "ok.yaml",
        "name: ok\nsteps:\n  - name: work\n    tasklet: { plugin: testkit-tasklet }\n",
    );
    for id in ["1", "2", "3"] {
        assert_success(&env.run(&["run", "ok.yaml", "--param", &format!("run.id={id},long")]));
    }
    let out = env.run(&["recover", "2"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out)
            .contains("job execution 2 is not running (status COMPLETED); nothing to recover"),
        "{}",
        stderr(&out)
    );

    // jobs --json: one object per job, with its counts and last execution.
    let out = env.run(&["jobs", "--json"]);
    assert_success(&out);
    let jobs: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let ok = jobs.iter().find(|j| j["job"] == "ok").unwrap();
    assert_eq!(ok["instances"], 3);
    assert_eq!(ok["executions"], 3);
    assert_eq!(ok["last_execution_id"], 4);
    let ab = jobs.iter().find(|j| j["job"] == "ab").unwrap();
    assert_eq!(ab["last_status"], "ABANDONED");

    // executions --job NAME --last N: that job only, newest first, at most N.
    let out = env.run(&["executions", "--job", "ok", "--last", "2", "--json"]);
    assert_success(&out);
    let ids: Vec<i64> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["execution_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [4, 3]);
    let out = env.run(&["executions", "--job", "ab", "--json"]);
    assert_eq!(stdout(&out).lines().count(), 1);
    env.cleanup().await;
}
both_backends!(abandoned_recover_and_listing_filters, lifecycle);
