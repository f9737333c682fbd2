//! Job flows through the real binary: conditional transitions on the exit code, end / fail /
//! stop (with restart-at), pattern precedence, deciders, concurrent splits, CONTINUABLE tasklets,
//! `${…}` substitution, and restarts inside flows. Every case runs on both backends.

use crate::support::*;

const PLUGINS: &[&str] = &[
    "testkit-reader",
    "testkit-writer",
    "testkit-tasklet",
    "testkit-decider",
];

/// The step executions of the job, in creation order: (name, status, exit code).
async fn steps(env: &Env) -> Vec<(String, String, String)> {
    env.rows(
        "SELECT STEP_NAME, STATUS, EXIT_CODE FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID",
    )
    .await
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
    .collect()
}

fn step(name: &str, status: &str, exit: &str) -> (String, String, String) {
    (name.into(), status.into(), exit.into())
}

/// The job executions: (status, exit code).
async fn jobs(env: &Env) -> Vec<(String, String)> {
    env.rows("SELECT STATUS, EXIT_CODE FROM BATCH_JOB_EXECUTION ORDER BY JOB_EXECUTION_ID")
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn job(status: &str, exit: &str) -> (String, String) {
    (status.into(), exit.into())
}

/// The JSON-string lines a testkit plugin appended to `file`.
fn lines(env: &Env, file: &str) -> Vec<String> {
    env.read(file)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON string line"))
        .collect()
}

async fn new_env(backend: Backend) -> Option<Env> {
    let env = Env::new(backend).await?;
    env.register(PLUGINS);
    Some(env)
}

/// The issue's conditional flow: a chunk step `load` whose item `bad` is skipped (COMPLETED
/// WITH SKIPS → error-report) or fails the step (FAILED → cleanup, then the job ends
/// COMPLETED); otherwise the flow goes on to `summary`.
fn conditional_job(items: &str, skip: bool) -> String {
    let ft = if skip {
        "      fault-tolerance: { skip: { kinds: [validation] } }\n"
    } else {
        ""
    };
    format!(
        "name: conditional
steps:
  - name: load
    chunk:
      size: 2
      reader: {{ plugin: testkit-reader, config: {{ items: [{items}], fail: {{ bad: {{ kind: validation, times: always }} }} }} }}
      writer: {{ plugin: testkit-writer, config: {{ output: out.txt }} }}
{ft}    exit-status-on-skips: COMPLETED WITH SKIPS
    next:
      - {{ on: FAILED, to: cleanup }}
      - {{ on: COMPLETED WITH SKIPS, to: error-report }}
      - {{ on: \"*\", to: summary }}
  - name: error-report
    tasklet: {{ plugin: testkit-tasklet, config: {{ append: {{ file: trail.txt, line: error-report }} }} }}
    next: [ {{ on: \"*\", to: summary }} ]
  - name: cleanup
    tasklet: {{ plugin: testkit-tasklet, config: {{ append: {{ file: trail.txt, line: cleanup }} }} }}
    next: [ {{ on: \"*\", end: COMPLETED }} ]
  - name: summary
    tasklet: {{ plugin: testkit-tasklet, config: {{ append: {{ file: trail.txt, line: summary }} }} }}
"
    )
}

async fn conditional_flow(backend: Backend) {
    let cases = [
        // Plain success: straight to summary.
        (
            "a, b, c",
            false,
            vec!["summary"],
            vec![
                step("load", "COMPLETED", "COMPLETED"),
                step("summary", "COMPLETED", "COMPLETED"),
            ],
        ),
        // A skip: the custom exit code routes to the error report first.
        (
            "a, bad, c",
            true,
            vec!["error-report", "summary"],
            vec![
                step("load", "COMPLETED", "COMPLETED WITH SKIPS"),
                step("error-report", "COMPLETED", "COMPLETED"),
                step("summary", "COMPLETED", "COMPLETED"),
            ],
        ),
        // A failure: cleanup, and the job still ends COMPLETED. Spring abandons the failed step
        // the flow moved past, so a restart would not replay it.
        (
            "a, b, bad",
            false,
            vec!["cleanup"],
            vec![
                step("load", "ABANDONED", "FAILED"),
                step("cleanup", "COMPLETED", "COMPLETED"),
            ],
        ),
    ];
    for (items, skip, trail, executions) in cases {
        let Some(env) = new_env(backend).await else {
            return;
        };
        env.write("job.yaml", &conditional_job(items, skip));
        let out = env.run(&["run", "job.yaml"]);
        assert_success(&out);
        assert_eq!(lines(&env, "trail.txt"), trail, "items {items}");
        // The end-of-run summary shows the route taken.
        let first_hop = format!("Flow: load {} → {}", executions[0].2, trail[0]);
        assert!(stdout(&out).contains(&first_hop), "{}", stdout(&out));
        assert_eq!(steps(&env).await, executions, "items {items}");
        assert_eq!(jobs(&env).await, vec![job("COMPLETED", "COMPLETED")]);
        env.cleanup().await;
    }
}
both_backends!(conditional_flow_routes_all_three_outcomes, conditional_flow);

fn two_steps(first_config: &str, next: &str) -> String {
    format!(
        "name: ends
steps:
  - name: one
    tasklet: {{ plugin: testkit-tasklet, config: {first_config} }}
    next: {next}
  - name: two
    tasklet: {{ plugin: testkit-tasklet, config: {{ fail-if-exists: broken, append: {{ file: trail.txt, line: two }} }} }}
"
    )
}

async fn end_fail_stop(backend: Backend) {
    // end with a custom exit code (Spring's end("FOO")): COMPLETED / FOO, step two never runs.
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write(
        "job.yaml",
        &two_steps(
            "{}",
            "[ { on: COMPLETED, end: COMPLETED, exit-code: FOO }, { on: FAILED, to: two } ]",
        ),
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    assert_eq!(jobs(&env).await, vec![job("COMPLETED", "FOO")]);
    assert_eq!(
        steps(&env).await,
        vec![step("one", "COMPLETED", "COMPLETED")]
    );
    assert!(
        env.read_if_exists("trail.txt").is_none(),
        "step two never finished"
    );
    env.cleanup().await;

    // fail: FAILED although the step completed; a restart skips the completed step and follows
    // the same transition again, as Spring does.
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write(
        "job.yaml",
        &two_steps(
            "{}",
            "[ { on: COMPLETED, fail: true }, { on: FAILED, to: two } ]",
        ),
    );
    assert_exit(&env.run(&["run", "job.yaml"]), 1);
    assert_exit(&env.run(&["run", "job.yaml"]), 1);
    assert_eq!(
        jobs(&env).await,
        vec![job("FAILED", "FAILED"), job("FAILED", "FAILED")]
    );
    assert_eq!(
        steps(&env).await,
        vec![step("one", "COMPLETED", "COMPLETED")]
    );
    env.cleanup().await;

    // stop: STOPPED, exit code 5.
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write(
        "job.yaml",
        &two_steps(
            "{}",
            "[ { on: COMPLETED, stop: true }, { on: FAILED, to: two } ]",
        ),
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 5);
    assert!(stdout(&out).contains("STOPPED"), "{}", stdout(&out));
    assert_eq!(jobs(&env).await, vec![job("STOPPED", "STOPPED")]);
    env.cleanup().await;

    // stop + restart-at (Spring's stopAndRestart): step one fails and the job stops; the
    // restart runs only step two and completes.
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write(
        "job.yaml",
        &two_steps(
            "{ fail-on-call: 1 }",
            "[ { on: FAILED, stop: true, restart-at: two }, { on: \"*\", to: two } ]",
        ),
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 5);
    assert!(
        stdout(&out).contains("a restart begins at `two`"),
        "{}",
        stdout(&out)
    );
    assert_eq!(steps(&env).await, vec![step("one", "FAILED", "FAILED")]);
    assert!(
        env.read_if_exists("trail.txt").is_none(),
        "step two never finished"
    );
    // The restart begins at `two`; when `two` fails, the next restart begins there again.
    env.write("broken", "");
    assert_exit(&env.run(&["run", "job.yaml"]), 1);
    std::fs::remove_file(env.path().join("broken")).unwrap();
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert_eq!(lines(&env, "trail.txt"), vec!["two"]);
    assert_eq!(
        steps(&env).await,
        vec![
            step("one", "FAILED", "FAILED"),
            step("two", "FAILED", "FAILED"),
            step("two", "COMPLETED", "COMPLETED")
        ]
    );
    assert_eq!(
        jobs(&env).await,
        vec![
            job("STOPPED", "STOPPED"),
            job("FAILED", "FAILED"),
            job("COMPLETED", "COMPLETED")
        ]
    );
    env.cleanup().await;
}
both_backends!(end_fail_and_stop_with_restart_at, end_fail_stop);

async fn precedence(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    // The decider answers the `answer` parameter; three targets record which one ran.
    let target = |name: &str| {
        format!(
            "  - name: {name}\n    tasklet: {{ plugin: testkit-tasklet, config: {{ append: {{ file: trail.txt, line: {name} }} }} }}\n    next: [ {{ on: \"*\", end: COMPLETED }} ]\n"
        )
    };
    env.write(
        "job.yaml",
        &format!(
            "name: precedence
steps:
  - name: route
    decider: {{ plugin: testkit-decider, config: {{ status: \"${{params.answer}}\" }} }}
    next:
      - {{ on: \"C*T\", to: wildcard }}
      - {{ on: \"*\", to: anything }}
      - {{ on: CAT, to: exact }}
      - {{ on: \"C?T\", to: one-char }}
{}{}{}{}",
            target("wildcard"),
            target("anything"),
            target("exact"),
            target("one-char")
        ),
    );
    for (answer, expected) in [
        ("CAT", "exact"),
        ("CUT", "one-char"),
        ("COAT", "wildcard"),
        ("DOG", "anything"),
    ] {
        let out = env.run(&["run", "job.yaml", "--param", &format!("answer={answer}")]);
        assert_success(&out);
        assert_eq!(
            lines(&env, "trail.txt").last().map(String::as_str),
            Some(expected),
            "answer {answer}"
        );
    }
    // A decider records no step execution.
    let names: Vec<String> = steps(&env).await.into_iter().map(|s| s.0).collect();
    assert_eq!(names, vec!["exact", "one-char", "wildcard", "anything"]);
    env.cleanup().await;
}
both_backends!(the_most_specific_pattern_wins, precedence);

async fn decider_routing(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    // The first step promotes its call count; the decider routes on it; a second decider
    // routes on the previous step's exit code.
    env.write(
        "job.yaml",
        "name: deciders
steps:
  - name: count
    tasklet: { plugin: testkit-tasklet, config: { repeat: 2 } }
    promote: [calls]
  - name: by-context
    decider: { plugin: testkit-decider, config: { from-context: calls, log: decisions.txt } }
    next: [ { on: \"2\", to: big }, { on: \"*\", to: small } ]
  - name: small
    tasklet: { plugin: testkit-tasklet, config: { append: { file: trail.txt, line: small } } }
    next: [ { on: \"*\", end: COMPLETED } ]
  - name: big
    tasklet: { plugin: testkit-tasklet, config: { exit-code: LARGE, append: { file: trail.txt, line: big } } }
  - name: by-last-step
    decider: { plugin: testkit-decider, config: { from-last-step: exit-code, log: decisions.txt } }
    next: [ { on: LARGE, end: COMPLETED, exit-code: ROUTED-LARGE }, { on: \"*\", fail: true } ]
",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    assert_eq!(lines(&env, "trail.txt"), vec!["big"]);
    assert_eq!(
        lines(&env, "decisions.txt"),
        vec!["decided 2", "decided LARGE"]
    );
    assert_eq!(jobs(&env).await, vec![job("COMPLETED", "ROUTED-LARGE")]);
    assert_eq!(
        steps(&env).await,
        vec![
            step("count", "COMPLETED", "COMPLETED"),
            step("big", "COMPLETED", "LARGE")
        ]
    );
    env.cleanup().await;

    // A failing decider fails the job with its error.
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write(
        "job.yaml",
        "name: bad-decider
steps:
  - name: d
    decider: { plugin: testkit-decider, config: { fail-kind: routing.broken } }
    next: [ { on: \"*\", end: COMPLETED } ]
",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("decider `d` failed") && stdout(&out).contains("routing.broken"),
        "{}",
        stdout(&out)
    );
    env.cleanup().await;
}
both_backends!(deciders_route_on_context_and_last_step, decider_routing);

fn split_job() -> &'static str {
    "name: split
steps:
  - name: prepare
    tasklet: { plugin: testkit-tasklet }
  - name: parallel
    split:
      - [ eu-load, eu-transform ]
      - [ us-load ]
  - name: summary
    tasklet: { plugin: testkit-tasklet, config: { append: { file: trail.txt, line: summary } } }
  - name: eu-load
    tasklet: { plugin: testkit-tasklet, config: { barrier: { mine: eu.flag, wait-for: us.flag }, append: { file: trail.txt, line: eu-load } } }
  - name: eu-transform
    tasklet: { plugin: testkit-tasklet, config: { fail-if-exists: broken, append: { file: trail.txt, line: eu-transform } } }
  - name: us-load
    tasklet: { plugin: testkit-tasklet, config: { barrier: { mine: us.flag, wait-for: eu.flag }, append: { file: trail.txt, line: us-load } } }
"
}

async fn split(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write("job.yaml", split_job());
    // eu-transform fails while `broken` exists: the split, and so the job, fails.
    env.write("broken", "");
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    // Each barrier step waits for the other's flag file: both completed, so they overlapped.
    let mut trail = lines(&env, "trail.txt");
    trail.sort();
    assert_eq!(trail, vec!["eu-load", "us-load"]);
    let mut ran = steps(&env).await;
    ran.sort();
    assert_eq!(
        ran,
        vec![
            step("eu-load", "COMPLETED", "COMPLETED"),
            step("eu-transform", "FAILED", "FAILED"),
            step("prepare", "COMPLETED", "COMPLETED"),
            step("us-load", "COMPLETED", "COMPLETED"),
        ]
    );
    assert_eq!(jobs(&env).await, vec![job("FAILED", "FAILED")]);
    let overlap = env
        .rows(
            "SELECT COUNT(*) FROM BATCH_STEP_EXECUTION a JOIN BATCH_STEP_EXECUTION b ON a.STEP_NAME = 'eu-load' AND b.STEP_NAME = 'us-load' WHERE a.START_TIME <= b.END_TIME AND b.START_TIME <= a.END_TIME",
        )
        .await;
    assert_eq!(overlap, vec![vec!["1"]], "the branches' executions overlap");

    // Restart: the completed steps of the split are not run again.
    std::fs::remove_file(env.path().join("broken")).unwrap();
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert_eq!(
        lines(&env, "trail.txt")[2..],
        ["eu-transform".to_owned(), "summary".to_owned()]
    );
    let executions: Vec<String> = steps(&env).await.into_iter().map(|s| s.0).collect();
    assert_eq!(executions.len(), 6, "{executions:?}");
    assert_eq!(
        executions[4..],
        ["eu-transform".to_owned(), "summary".to_owned()]
    );
    assert_eq!(
        jobs(&env).await,
        vec![job("FAILED", "FAILED"), job("COMPLETED", "COMPLETED")]
    );
    env.cleanup().await;
}
both_backends!(split_flows_run_concurrently_and_restart, split);

async fn continuable(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write(
        "job.yaml",
        "name: continuable
steps:
  - name: work
    tasklet: { plugin: testkit-tasklet, config: { repeat: 5, fail-on-call: 3, log: calls.txt, exit-code: DONE, exit-description: five calls } }
",
    );
    // Call 3 fails: the two committed calls stay committed (one transaction each).
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let counts = env
        .rows("SELECT STATUS, COMMIT_COUNT, ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(counts, vec![vec!["FAILED", "2", "1"]]);
    let context = env
        .rows("SELECT SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT")
        .await;
    assert!(context[0][0].contains("\"calls\":2"), "{context:?}");

    // The restart (fault removed from the config) resumes from the committed context: calls
    // 3, 4 and 5 only.
    env.write(
        "job.yaml",
        "name: continuable
steps:
  - name: work
    tasklet: { plugin: testkit-tasklet, config: { repeat: 5, log: calls.txt, exit-code: DONE, exit-description: five calls } }
",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert_eq!(
        lines(&env, "calls.txt"),
        vec![
            "work call 1",
            "work call 2",
            "work call 3",
            "work call 3",
            "work call 4",
            "work call 5"
        ]
    );
    let rows = env
        .rows("SELECT STATUS, EXIT_CODE, EXIT_MESSAGE, COMMIT_COUNT FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    assert_eq!(rows[1], vec!["COMPLETED", "DONE", "five calls", "3"]);
    env.cleanup().await;
}
both_backends!(continuable_tasklet_commits_each_call, continuable);

async fn substitution(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.write(
        "job.yaml",
        "name: substitution
params:
  region: eu
steps:
  - name: first
    tasklet: { plugin: testkit-tasklet, config: { repeat: \"${params.times}\" } }
    promote: [calls]
  - name: second
    tasklet:
      plugin: testkit-tasklet
      config:
        append:
          file: \"${params.out:-report}-${params.region}.txt\"
          line: \"date=${params.run.date} calls=${job.context.calls} cost=$${not.a.ref}\"
",
    );
    let out = env.run(&[
        "run",
        "job.yaml",
        "--param",
        "run.date=2026-11-21,date",
        "--param",
        "times=3,long",
    ]);
    assert_success(&out);
    assert_eq!(
        lines(&env, "report-eu.txt"),
        vec!["date=2026-11-21 calls=3 cost=${not.a.ref}"]
    );
    let commits = env
        .rows("SELECT COMMIT_COUNT FROM BATCH_STEP_EXECUTION WHERE STEP_NAME = 'first'")
        .await;
    assert_eq!(
        commits,
        vec![vec!["3"]],
        "repeat came from a long parameter"
    );
    env.cleanup().await;
}
both_backends!(config_placeholders_resolve_at_step_start, substitution);

async fn documented_example(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&[
        "csv-reader",
        "jsonl-writer",
        "report-tasklet",
        "volume-decider",
    ]);
    // The first yaml block of the "Flows" section of docs/job-yaml.md, verbatim.
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/job-yaml.md"),
    )
    .unwrap();
    let section = &doc[doc.find("## Flows").expect("a Flows section")..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let yaml = &section[start..start + section[start..].find("```").unwrap()];
    env.write("job.yaml", yaml);
    env.write("members.csv", &members_csv(2_000, &[]));
    assert!(
        std::fs::metadata(env.path().join("members.csv"))
            .unwrap()
            .len()
            > 50_000
    );

    let out = env.run(&["run", "job.yaml", "--param", "run.date=2026-11-21"]);
    assert_exit(&out, 5);
    assert_eq!(jsonl_ids(&env, "out/2026-11-21.jsonl").len(), 2_000);
    let summary = env.read("out/summary.md");
    let bytes = std::fs::metadata(env.path().join("out/2026-11-21.jsonl"))
        .unwrap()
        .len();
    assert!(
        summary.contains(&format!("written: {bytes} bytes")),
        "{summary}"
    );
    for report in ["eu.md", "eu-transform.md", "us.md"] {
        assert!(
            env.path().join("out").join(report).exists(),
            "the big input took the split: {report}"
        );
    }
    assert!(!env.path().join("out/skips.md").exists());
    assert!(!env.path().join("out/published.md").exists());

    let out = env.run(&["run", "job.yaml", "--param", "run.date=2026-11-21"]);
    assert_success(&out);
    assert!(env.path().join("out/published.md").exists());
    assert_eq!(
        jobs(&env).await,
        vec![job("STOPPED", "STOPPED"), job("COMPLETED", "COMPLETED")]
    );
    env.cleanup().await;
}
both_backends!(the_documented_flow_runs, documented_example);

async fn writer_sets_exit_status(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    env.register(&["csv-reader", "jsonl-writer"]);
    env.write("empty.csv", "id,email,first_name,last_name,country\n");
    // A writer's after-step sets the exit code (Spring's afterStep) and `next` routes on it;
    // jsonl-writer says NO DATA when it wrote nothing.
    env.write(
        "job.yaml",
        "name: listener
steps:
  - name: load
    chunk:
      size: 2
      reader: { plugin: testkit-reader, config: { items: [a, b, c] } }
      writer: { plugin: testkit-writer, config: { output: out.txt, exit-code: LOADED } }
    next: [ { on: LOADED, to: export }, { on: \"*\", fail: true } ]
  - name: export
    chunk:
      size: 2
      reader: { plugin: csv-reader, config: { path: empty.csv } }
      writer: { plugin: jsonl-writer, config: { path: out.jsonl, empty-exit-code: NO DATA } }
    next: [ { on: NO DATA, end: COMPLETED, exit-code: NOTHING-TO-EXPORT }, { on: \"*\", fail: true } ]
",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let rows = env
        .rows("SELECT STEP_NAME, EXIT_CODE, EXIT_MESSAGE FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    assert_eq!(
        rows,
        vec![
            vec!["load", "LOADED", "3 written, previous exit code COMPLETED"],
            vec!["export", "NO DATA", "nothing written to out.jsonl"],
        ]
    );
    assert_eq!(
        jobs(&env).await,
        vec![job("COMPLETED", "NOTHING-TO-EXPORT")]
    );
    env.cleanup().await;
}
both_backends!(a_writer_sets_its_steps_exit_status, writer_sets_exit_status);

async fn computing_flow_does_not_block(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    // One flow computes for 1.5 s without calling the host; the other ticks every 5 ms until
    // the spin has ended (an event, so a slow start of either flow cannot make the ticks miss
    // the spin). The host interrupts the computing guest at every epoch tick, so ticks land
    // inside the spin.
    env.write(
        "job.yaml",
        "name: fair
steps:
  - name: both
    split:
      - [ spin ]
      - [ tick ]
  - name: spin
    tasklet: { plugin: testkit-tasklet, config: { spin-ms: 1500, log: spin.txt } }
  - name: tick
    tasklet: { plugin: testkit-tasklet, config: { ticks: { file: ticks.txt, count: 100000, every-ms: 5, until: { file: spin.txt, contains: spin end } } } }
",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let ms = |line: &str| -> u128 { line.rsplit(' ').next().unwrap().parse().unwrap() };
    let spin: Vec<String> = lines(&env, "spin.txt")
        .into_iter()
        .filter(|l| l.starts_with("spin start") || l.starts_with("spin end"))
        .collect();
    assert_eq!(spin.len(), 2, "{spin:?}");
    let (start, end) = (ms(&spin[0]), ms(&spin[1]));
    let inside = lines(&env, "ticks.txt")
        .iter()
        .filter(|t| (start..end).contains(&ms(t)))
        .count();
    // A blocking guest would leave no tick inside the spin (at most one at its edge); a few are
    // enough to show the other flow ran, even on a loaded 2-core machine (9 seen there once).
    assert!(
        inside >= 3,
        "only {inside} ticks while the other flow computed from {start} to {end}"
    );
    env.cleanup().await;
}
both_backends!(
    a_computing_flow_does_not_hold_up_the_others,
    computing_flow_does_not_block
);

/// A split's `next` routes on the split's outcome: the most severe status of its flows.
/// FAILED goes to `cleanup`; a flow that stops (its step's `stop: true`) makes the split
/// STOPPED, routed to `after-stop`.
async fn split_routing(backend: Backend) {
    let Some(env) = new_env(backend).await else {
        return;
    };
    let job = |second: &str, definition: &str| {
        format!(
            "name: split-next-{second}
steps:
  - name: both
    split:
      - [ fine ]
      - [ {second} ]
    next:
      - {{ on: FAILED, to: cleanup }}
      - {{ on: STOPPED, to: after-stop }}
      - {{ on: \"*\", end: COMPLETED }}
  - name: fine
    tasklet: {{ plugin: testkit-tasklet }}
  - name: {second}
{definition}  - name: cleanup
    tasklet: {{ plugin: testkit-tasklet }}
    next: [ {{ on: \"*\", end: COMPLETED }} ]
  - name: after-stop
    tasklet: {{ plugin: testkit-tasklet }}
    next: [ {{ on: \"*\", end: COMPLETED }} ]
"
        )
    };
    env.write(
        "failed.yaml",
        &job(
            "breaks",
            "    tasklet: { plugin: testkit-tasklet, config: { fail-on-call: 1 } }\n",
        ),
    );
    assert_success(&env.run(&["run", "failed.yaml"]));
    let ran: Vec<String> = steps(&env)
        .await
        .into_iter()
        .map(|s| format!("{}:{}", s.0, s.1))
        .collect();
    assert!(ran.contains(&"breaks:FAILED".to_owned()), "{ran:?}");
    assert_eq!(ran.last().unwrap(), "cleanup:COMPLETED", "{ran:?}");
    assert!(!ran.iter().any(|s| s.starts_with("after-stop")), "{ran:?}");

    env.write(
        "stopped.yaml",
        &job(
            "halts",
            "    tasklet: { plugin: testkit-tasklet }\n    next: [ { on: \"*\", stop: true } ]\n",
        ),
    );
    assert_success(&env.run(&["run", "stopped.yaml"]));
    let ran: Vec<String> = steps(&env)
        .await
        .into_iter()
        .map(|s| format!("{}:{}", s.0, s.1))
        .collect();
    assert_eq!(ran.last().unwrap(), "after-stop:COMPLETED", "{ran:?}");
    assert_eq!(
        jobs(&env).await,
        vec![
            ("COMPLETED".to_owned(), "COMPLETED".to_owned()),
            ("COMPLETED".to_owned(), "COMPLETED".to_owned())
        ]
    );
    env.cleanup().await;
}
both_backends!(a_splits_next_routes_failed_and_stopped_flows, split_routing);
