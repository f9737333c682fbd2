//! Spring Batch 5 restart rules: restartable, allow-start-if-complete, start-limit, promote.

use serde_json::Value;

use crate::support::*;

const PLUGINS: &[&str] = &["csv-reader", "member-processor", "jsonl-writer"];

fn step(name: &str, out: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n{extra}    chunk:\n      size: 10\n      reader: {{ plugin: csv-reader, config: {{ path: members.csv }} }}\n      processor: {{ plugin: member-processor }}\n      writer: {{ plugin: jsonl-writer, config: {{ path: {out} }} }}\n"
    )
}

async fn restart_rules(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(PLUGINS);
    let run = ["run", "job.yaml", "--param", "run.id=1,long"];

    // restartable: false — a failed instance cannot run again.
    env.write("members.csv", &members_csv(25, &[15]));
    env.write(
        "job.yaml",
        &format!(
            "name: once\nrestartable: false\nsteps:\n{}",
            step("s", "once.jsonl", "")
        ),
    );
    assert_exit(&env.run(&run), 1);
    let out = env.run(&run);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("is not restartable"),
        "{}",
        stderr(&out)
    );

    // allow-start-if-complete, plain completed step, failed step.
    env.write(
        "job.yaml",
        &format!(
            "name: three\nsteps:\n{}{}{}",
            step(
                "a",
                "a.jsonl",
                "    allow-start-if-complete: true\n    promote: [reader.rows]\n"
            ),
            step("b", "b.jsonl", ""),
            step("c", "c.jsonl", "    start-limit: 2\n")
        ),
    );
    env.write("members.csv", &members_csv(25, &[]));
    // Make step c fail while a and b succeed: c reads a different file.
    let job = env.read("job.yaml").replacen(
        "path: members.csv } }\n      processor: { plugin: member-processor }\n      writer: { plugin: jsonl-writer, config: { path: c.jsonl",
        "path: c.csv } }\n      processor: { plugin: member-processor }\n      writer: { plugin: jsonl-writer, config: { path: c.jsonl",
        1,
    );
    env.write("job.yaml", &job);
    env.write("c.csv", &members_csv(25, &[5]));
    assert_exit(&env.run(&run), 1);
    assert_exit(&env.run(&run), 1);
    let out = env.run(&run);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("start limit 2 exceeded"),
        "{}",
        stdout(&out)
    );

    let rows = env
        .rows("SELECT S.STEP_NAME, S.STATUS FROM BATCH_STEP_EXECUTION S JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = S.JOB_EXECUTION_ID JOIN BATCH_JOB_INSTANCE I ON I.JOB_INSTANCE_ID = E.JOB_INSTANCE_ID WHERE I.JOB_NAME = 'three' ORDER BY S.STEP_EXECUTION_ID")
        .await;
    let names: Vec<String> = rows.iter().map(|r| format!("{}:{}", r[0], r[1])).collect();
    assert_eq!(
        names,
        [
            "a:COMPLETED",
            "b:COMPLETED",
            "c:FAILED", // first run
            "a:COMPLETED",
            "c:FAILED", // restart: a again (allowed), b skipped, c restarts
            "a:COMPLETED", // third run: c is refused by its start limit before a step
                        // execution exists (Spring's SimpleStepHandler#shouldStart throws
                        // StartLimitExceededException), so there is no row for it
        ]
    );
    let job = env
        .rows("SELECT E.STATUS, E.EXIT_MESSAGE FROM BATCH_JOB_EXECUTION E JOIN BATCH_JOB_INSTANCE I ON I.JOB_INSTANCE_ID = E.JOB_INSTANCE_ID WHERE I.JOB_NAME = 'three' ORDER BY E.JOB_EXECUTION_ID DESC")
        .await;
    assert_eq!(job[0][0], "FAILED");
    assert!(
        job[0][1].contains("start limit 2 exceeded: step `c` already ran 2 time(s)"),
        "{job:?}"
    );

    // start-limit: 0 refuses even the first start.
    env.write(
        "zero.yaml",
        &format!(
            "name: zero\nsteps:\n{}",
            step("z", "z.jsonl", "    start-limit: 0\n")
        ),
    );
    let out = env.run(&["run", "zero.yaml"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("start limit 0 exceeded: step `z` already ran 0 time(s)"),
        "{}",
        stdout(&out)
    );
    let z = env
        .rows("SELECT COUNT(*) FROM BATCH_STEP_EXECUTION WHERE STEP_NAME = 'z'")
        .await;
    assert_eq!(z, vec![vec!["0"]]);
    assert!(
        env.read_if_exists("z.jsonl").is_none(),
        "the step never ran"
    );
    assert_eq!(
        env.read("a.jsonl").lines().count(),
        25,
        "a re-ran from a fresh context, no duplicates"
    );
    assert_eq!(env.read("b.jsonl").lines().count(), 25);

    // promote: a's reader.rows reached the job context.
    let ctx = env
        .rows("SELECT C.SHORT_CONTEXT FROM BATCH_JOB_EXECUTION_CONTEXT C JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = C.JOB_EXECUTION_ID JOIN BATCH_JOB_INSTANCE I ON I.JOB_INSTANCE_ID = E.JOB_INSTANCE_ID WHERE I.JOB_NAME = 'three' ORDER BY E.JOB_EXECUTION_ID")
        .await;
    let first: Value = serde_json::from_str(&ctx[0][0]).unwrap();
    assert_eq!(first["reader.rows"], 25, "{first}");
    env.cleanup().await;
}
both_backends!(
    restartable_allow_start_if_complete_start_limit_promote,
    restart_rules
);

async fn code_change(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(PLUGINS);
    env.write("members.csv", &members_csv(20, &[15]));
    env.write(
        "job.yaml",
        &job_yaml("code", 10, "{ plugin: member-processor }"),
    );
    let run = ["run", "job.yaml", "--param", "run.id=1,long"];
    assert_exit(&env.run(&run), 1);

    // The processor is replaced by another component (registered under the same name).
    let other = component("testkit-processor");
    let out = env.run(&[
        "plugin",
        "register",
        other.to_str().unwrap(),
        "--name",
        "member-processor",
        "--version",
        "0.2.0",
    ]);
    assert_success(&out);
    env.write("members.csv", &members_csv(20, &[]));
    let out = env.run(&run);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("the plugins changed since execution 1"),
        "{err}"
    );
    assert!(
        err.contains("step `migrate` processor: member-processor@0.1.0 sha256:"),
        "{err}"
    );
    assert!(err.contains("-> member-processor@0.2.0 sha256:"), "{err}");
    assert!(err.contains("--allow-code-change"), "{err}");
    let executions = env.rows("SELECT COUNT(*) FROM BATCH_JOB_EXECUTION").await;
    assert_eq!(
        executions,
        vec![vec!["1"]],
        "the refused restart created no execution"
    );

    // The recorded digests are visible to operators.
    let out = env.run(&["execution", "1", "--json"]);
    let e: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(e["steps"][0]["plugins"][1]["role"], "reader");
    assert_eq!(
        e["steps"][0]["plugins"][0]["plugin"],
        "member-processor@0.1.0"
    );

    // Going back to the original code restarts normally.
    let original = component("member-processor");
    assert_success(&env.run(&[
        "plugin",
        "register",
        original.to_str().unwrap(),
        "--version",
        "0.3.0",
    ]));
    assert_success(&env.run(&run));

    // --allow-code-change restarts anyway. The data is fixed before the restart, so the old
    // processor would complete; the new code (which cannot read members) fails, which proves it
    // is what ran.
    env.write("members.csv", &members_csv(20, &[15]));
    let run2 = ["run", "job.yaml", "--param", "run.id=2,long"];
    assert_exit(&env.run(&run2), 1);
    assert_success(&env.run(&[
        "plugin",
        "register",
        other.to_str().unwrap(),
        "--name",
        "member-processor",
        "--version",
        "0.4.0",
    ]));
    assert_exit(&env.run(&run2), 3);
    let mut allowed = run2.to_vec();
    allowed.push("--allow-code-change");
    env.write("members.csv", &members_csv(20, &[]));
    let out = env.run(&allowed);
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("(restart)"), "{}", stdout(&out));
    let failed = env
        .rows("SELECT EXIT_MESSAGE FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID DESC")
        .await;
    assert!(
        failed[0][0].contains("processor member-processor@0.4.0"),
        "the new code ran: {failed:?}"
    );
}
both_backends!(
    a_restart_with_changed_plugins_is_refused_unless_allowed,
    code_change
);

/// `restart ID` plans the job from the copy of job.yaml recorded at launch when the file has
/// moved, and says so; `--workdir` points it at a moved work directory.
async fn moved_job_file(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(PLUGINS);
    env.write("members.csv", &members_csv(30, &[25]));
    env.write(
        "job.yaml",
        &format!("name: moved\nsteps:\n{}", step("s", "out.jsonl", "")),
    );
    assert_exit(&env.run(&["run", "job.yaml"]), 1);
    std::fs::rename(env.path().join("job.yaml"), env.path().join("renamed.yaml")).unwrap();
    // Fix the data in a new work directory; the recorded one still holds the bad row.
    let moved = env.path().join("moved-data");
    std::fs::create_dir(&moved).unwrap();
    std::fs::write(moved.join("members.csv"), members_csv(30, &[])).unwrap();
    std::fs::copy(env.path().join("out.jsonl"), moved.join("out.jsonl")).unwrap();
    let out = env.run(&["restart", "1", "--workdir", moved.to_str().unwrap()]);
    assert_success(&out);
    assert!(
        stderr(&out)
            .contains("is gone; restarting execution 1 from the copy of it recorded at launch"),
        "{}",
        stderr(&out)
    );
    let ids = jsonl_ids(&env, "moved-data/out.jsonl");
    assert_eq!(
        ids,
        (1..=30).collect::<Vec<u64>>(),
        "resumed after the committed chunks"
    );
    let status = env
        .rows("SELECT STATUS FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID")
        .await;
    assert_eq!(status, vec![vec!["FAILED"], vec!["COMPLETED"]]);
    env.cleanup().await;
}
both_backends!(restart_works_when_the_job_file_has_moved, moved_job_file);

/// Spring takes a `BATCH_JOB_SEQ` value only when it creates an instance: a refused launch and
/// a restart leave the sequence alone, so the next new instance gets the next number.
async fn job_seq(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(PLUGINS);
    env.write("members.csv", &members_csv(5, &[]));
    env.write(
        "job.yaml",
        &format!("name: seq\nsteps:\n{}", step("s", "out.jsonl", "")),
    );
    let run = |id: &str| env.run(&["run", "job.yaml", "--param", &format!("run.id={id},long")]);
    assert_success(&run("1"));
    assert_exit(&run("1"), 3); // already complete: refused
    assert_exit(&run("1"), 3);
    assert_success(&run("2"));
    let instances = env
        .rows("SELECT JOB_INSTANCE_ID FROM BATCH_JOB_INSTANCE ORDER BY JOB_INSTANCE_ID")
        .await;
    assert_eq!(
        instances,
        vec![vec!["1"], vec!["2"]],
        "refused launches took no id"
    );
    env.cleanup().await;
}
both_backends!(a_refused_launch_takes_no_job_instance_id, job_seq);
