//! The sandbox against purpose-built hostile guests (`tests/guests/hostile-*`), one test per
//! class of attack, through the real binary on both backends: what the guest tried, the typed
//! fault it got, the host alive and its other work unharmed, nothing outside the grant touched.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// Bytes a guest put into its text that must never reach a terminal, a log or a column raw.
const RAW_ESCAPES: [&str; 5] = ["\x1b", "\x07", "\r", "\u{9b}", "\u{202e}"];

#[track_caller]
fn assert_no_raw_escapes(what: &str, text: &str) {
    for e in RAW_ESCAPES {
        assert!(
            !text.contains(e),
            "{what} carries the raw guest character {e:?}:\n{}",
            &text[..text.len().min(3000)]
        );
    }
}

/// A one-step tasklet job with the hostile tasklet in `mode` (extra config after it).
fn tasklet_job(name: &str, mode: &str, extra: &str, limits: &str) -> String {
    format!(
        "name: {name}\nsteps:\n  - name: attack\n    tasklet: {{ plugin: hostile-tasklet, config: {{ mode: {mode}{extra} }} }}\n{limits}"
    )
}

/// One step execution's (status, exit code, exit message).
async fn step_row(env: &Env, step: &str) -> (String, String, String) {
    let rows = env
        .rows("SELECT STEP_NAME, STATUS, EXIT_CODE, EXIT_MESSAGE FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    let row = rows
        .iter()
        .rev()
        .find(|r| r[0] == step)
        .unwrap_or_else(|| panic!("no step execution `{step}` in {rows:?}"));
    (row[1].clone(), row[2].clone(), row[3].clone())
}

// 1. A grant swapped for a symlink between plan and step.

async fn swapped_grant(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["hostile-tasklet"]);
    std::fs::create_dir_all(env.path().join("data")).unwrap();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "the host's secret").unwrap();
    env.write(
        "job.yaml",
        "name: swap\nsteps:\n  - name: swap\n    tasklet: { plugin: hostile-tasklet, config: { mode: swap-grant, dir: data, target: ../outside } }\n  - name: use-grant\n    directory: data\n    tasklet: { plugin: hostile-tasklet, config: { mode: write-probe, file: pwned.txt, text: owned } }\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    // The attack itself worked inside the first grant...
    assert!(
        std::fs::symlink_metadata(env.path().join("data"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // ...but the second step was refused its swapped grant, and nothing outside was touched.
    let (status, _, message) = step_row(&env, "use-grant").await;
    assert_eq!(status, "FAILED");
    assert!(
        message.contains("directory grant `data` cannot be opened safely")
            && message.contains("symbolic link"),
        "{message}"
    );
    assert!(!outside.join("pwned.txt").exists());
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "the host's secret"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    env.cleanup().await;
}
both_backends!(a_grant_swapped_for_a_symlink_is_refused, swapped_grant);

// 2. Host files inside a grant; unauthenticated precompiled code.

async fn host_files_inside_a_grant(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["hostile-tasklet"]);
    env.write(
        "job.yaml",
        &tasklet_job("inside", "write-probe", ", file: x.txt, text: x", ""),
    );
    if backend == Backend::Sqlite {
        // The layout the old README used: the repository in the job's folder.
        let inside = format!("sqlite:{}", env.path().join("batch-host.db").display());
        for cmd in ["run", "validate"] {
            let out = env
                .command()
                .env("BATCH_HOST_REPOSITORY", &inside)
                .args([cmd, "job.yaml"])
                .output()
                .unwrap();
            assert_exit(&out, 2);
            let err = stderr(&out);
            assert!(
                err.contains("the repository `sqlite:")
                    && err.contains("lies inside")
                    && err.contains("a plugin could read or change it")
                    && err.contains("steps[0] (work directory)")
                    && err.contains("leave out `--repository`"),
                "{err}"
            );
        }
        assert!(!env.path().join("x.txt").exists(), "nothing ran");
    }
    // The artifact key inside the work directory, and the host configuration there.
    let out = env
        .command()
        .env("BATCH_HOST_HOME", env.path().join(".host"))
        .args(["run", "job.yaml"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("the artifact key"),
        "{}",
        stderr(&out)
    );
    env.write("host.yaml", "limits: { defaults: { memory: 64MiB } }\n");
    let out = env.run(&["--config", "host.yaml", "run", "job.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("the host configuration `host.yaml` lies inside"),
        "{}",
        stderr(&out)
    );
    assert!(!env.path().join("x.txt").exists(), "nothing ran");
    env.cleanup().await;
}
both_backends!(
    host_files_inside_a_grant_are_refused,
    host_files_inside_a_grant
);

#[test]
fn the_default_layout_keeps_every_host_file_out_of_reach() {
    // The documented workflow: no --repository, the host's home directory by default.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(Env::new(Backend::Sqlite)).unwrap();
    let default = |args: &[&str]| {
        env.command()
            .env_remove("BATCH_HOST_REPOSITORY")
            .args(args)
            .output()
            .unwrap()
    };
    let path = component("hostile-tasklet");
    assert_success(&default(&["plugin", "register", path.to_str().unwrap()]));
    for tenant in ["acme", "globex"] {
        assert_success(&default(&["--tenant", tenant, "tenant", "create"]));
        assert_success(&default(&[
            "--tenant",
            tenant,
            "plugin",
            "register",
            path.to_str().unwrap(),
        ]));
    }
    env.write(
        "job.yaml",
        &tasklet_job("probe", "probe", ", out: report.json", ""),
    );
    assert_success(&default(&["--tenant", "acme", "run", "job.yaml"]));
    assert!(env.home().join("batch-host.db").exists());
    assert!(env.home().join("batch-host.tenant-acme.db").exists());
    assert!(env.home().join("artifact.key").exists());
    let report: Value = serde_json::from_str(&env.read("report.json")).unwrap();
    let listed: Vec<&str> = report["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(listed.contains(&"./job.yaml"), "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|p| !p.contains(".db") && !p.contains("artifact.key")),
        "{listed:?}"
    );
    assert!(report["opened"].as_object().unwrap().is_empty());
    for (path, result) in report["tried"].as_object().unwrap() {
        assert!(
            result.as_str().unwrap().starts_with("refused"),
            "{path}: {result}"
        );
    }
    // The other tenant's repository is untouched by the run.
    let before = std::fs::read(env.home().join("batch-host.tenant-globex.db")).unwrap();
    assert_success(&default(&["--tenant", "acme", "run", "job.yaml", "--next"]));
    let after = std::fs::read(env.home().join("batch-host.tenant-globex.db")).unwrap();
    assert_eq!(before, after);
}

async fn tampered_artifact(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["hostile-tasklet"]);
    env.write(
        "job.yaml",
        &tasklet_job("sealed", "write-probe", ", file: ok.txt, text: ok", ""),
    );
    // Someone with write access to the repository but not the key replaces the native code.
    let tamper = match backend {
        Backend::Sqlite => "UPDATE BH_PLUGIN_ARTIFACT SET ARTIFACT = X'DEADBEEF'",
        Backend::Postgres => "UPDATE BH_PLUGIN_ARTIFACT SET ARTIFACT = '\\xdeadbeef'::bytea",
    };
    env.rows(tamper).await;
    let out = env.run(&["run", "job.yaml", "--param", "run=1"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("the precompiled code failed authentication")
            && stderr(&out).contains("compiling the component again"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.read("ok.txt"), "ok");
    // The stored code was replaced by freshly compiled, sealed code: no warning the next time.
    let sizes = env
        .rows("SELECT CAST(LENGTH(ARTIFACT) AS BIGINT) FROM BH_PLUGIN_ARTIFACT")
        .await;
    assert!(
        sizes.iter().all(|r| r[0].parse::<u64>().unwrap() > 4),
        "{sizes:?}"
    );
    let out = env.run(&["run", "job.yaml", "--param", "run=2"]);
    assert_success(&out);
    assert!(!stderr(&out).contains("authentication"), "{}", stderr(&out));

    // A host with another key keeps its own artifacts beside them instead of trusting these.
    std::fs::remove_file(env.home().join("artifact.key")).unwrap();
    let out = env.run(&["run", "job.yaml", "--param", "run=3"]);
    assert_success(&out);
    assert!(!stderr(&out).contains("authentication"), "{}", stderr(&out));
    let engines = env
        .rows("SELECT DISTINCT ENGINE FROM BH_PLUGIN_ARTIFACT")
        .await;
    assert_eq!(engines.len(), 2, "{engines:?}");
    env.cleanup().await;
}
both_backends!(tampered_precompiled_code_is_never_loaded, tampered_artifact);

// 3. Wall time.

async fn wall_time(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&[
        "hostile-tasklet",
        "hostile-reader",
        "hostile-processor",
        "testkit-writer",
    ]);
    env.write("inside.txt", "x");
    // A tasklet asleep in a WASI call, a reader asleep in `open`, a processor asleep on every
    // item (skipped as `wasm.timeout`, each time on a fresh instance).
    env.write(
        "job.yaml",
        "name: sleepers\nsteps:\n  - name: tasklet\n    tasklet: { plugin: hostile-tasklet, config: { mode: sleep } }\n    limits: { wall-per-call: 1s }\n    next: [ { on: \"*\", to: reader } ]\n  - name: reader\n    chunk:\n      size: 10\n      reader: { plugin: hostile-reader, config: { mode: sleep-open } }\n      writer: { plugin: testkit-writer, config: { output: out.txt } }\n      limits: { wall-per-call: 1s }\n    next: [ { on: \"*\", to: processor } ]\n  - name: processor\n    chunk:\n      size: 10\n      reader: { plugin: hostile-reader, config: { items: 3 } }\n      processor: { plugin: hostile-processor, config: { mode: sleep } }\n      writer: { plugin: testkit-writer, config: { output: processed.txt } }\n      limits: { wall-per-call: 500ms }\n      fault-tolerance: { skip: { kinds: [wasm.timeout], limit: 5 } }\n",
    );
    let child = env.spawn(&["run", "job.yaml"]);
    let out = env.wait_bounded(child, Duration::from_secs(120));
    assert_exit(&out, 0);
    for step in ["tasklet", "reader"] {
        // Failed, and ABANDONED because the flow moved on past it (Spring's rule).
        let (status, code, message) = step_row(&env, step).await;
        assert_eq!(
            (status.as_str(), code.as_str()),
            ("ABANDONED", "FAILED"),
            "{step}"
        );
        assert!(
            message.contains("wasm.timeout")
                && message.contains("wall-clock limit of 1s (limits.wall-per-call)"),
            "{step}: {message}"
        );
    }
    let rows = env
        .rows("SELECT STATUS, PROCESS_SKIP_COUNT, WRITE_COUNT FROM BATCH_STEP_EXECUTION WHERE STEP_NAME = 'processor'")
        .await;
    assert_eq!(
        rows,
        vec![vec!["COMPLETED".to_owned(), "3".into(), "0".into()]]
    );
    let kinds = env.rows("SELECT KIND FROM BH_SKIPPED_ITEM").await;
    assert_eq!(kinds, vec![vec!["wasm.timeout".to_owned()]; 3]);
    env.cleanup().await;
}
both_backends!(
    a_sleeping_or_blocked_guest_is_cut_at_its_wall_limit,
    wall_time
);

/// Status of the newest step execution, or "" before there is one.
async fn newest_step(env: &Env) -> (String, String) {
    env.rows(
        "SELECT STATUS, COMMIT_COUNT FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID DESC",
    )
    .await
    .first()
    .map(|r| (r[0].clone(), r[1].clone()))
    .unwrap_or_default()
}

async fn second_signal(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["hostile-reader", "jsonl-writer"]);
    let job = |mode: &str, items: u32| {
        format!(
            "name: asleep\nsteps:\n  - name: read\n    chunk:\n      size: 10\n      reader: {{ plugin: hostile-reader, config: {{ mode: {mode}, items: {items} }} }}\n      writer: {{ plugin: jsonl-writer, config: {{ path: out.jsonl }} }}\n"
        )
    };
    // Three chunks commit, then the reader sleeps (an hour) inside `read-batch`.
    env.write("job.yaml", &job("sleep-read", 30));
    let child = env.spawn(&["run", "job.yaml"]);
    let pid = child.id().to_string();
    let started = std::time::Instant::now();
    while newest_step(&env).await != ("STARTED".into(), "3".into()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first signal asks for a stop at the chunk boundary, which the sleeping call never
    // reaches; the second interrupts the call.
    let kill = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    kill("-TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(newest_step(&env).await.0, "STARTED", "still in the call");
    kill("-INT");
    let out = env.wait_bounded(child, Duration::from_secs(30));
    assert_exit(&out, 5);
    assert!(
        stderr(&out).contains("press Ctrl-C again to interrupt at once"),
        "{}",
        stderr(&out)
    );
    let (status, _, message) = step_row(&env, "read").await;
    assert_eq!(status, "STOPPED");
    assert!(
        message.contains("interrupted by a second stop signal"),
        "{message}"
    );
    let job_status = env.rows("SELECT STATUS FROM BATCH_JOB_EXECUTION").await;
    assert_eq!(job_status, vec![vec!["STOPPED".to_owned()]]);

    // Restartable from the last committed chunk: every item exactly once.
    env.write("job.yaml", &job("ok", 50));
    assert_success(&env.run(&["run", "job.yaml"]));
    let ids: Vec<u64> = env
        .read("out.jsonl")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>());
    env.cleanup().await;
}
both_backends!(a_second_signal_interrupts_a_blocked_call, second_signal);

// 4. Guest text.

async fn guest_text(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&[
        "hostile-tasklet",
        "hostile-processor",
        "testkit-reader",
        "testkit-writer",
        "testkit-decider",
    ]);
    env.write(
        "job.yaml",
        "name: text\nsteps:\n  - name: error-text\n    tasklet: { plugin: hostile-tasklet, config: { mode: error-text } }\n    next: [ { on: \"*\", to: exit-text } ]\n  - name: exit-text\n    tasklet: { plugin: hostile-tasklet, config: { mode: exit-text } }\n    next: [ { on: \"*\", to: log-flood } ]\n  - name: log-flood\n    tasklet: { plugin: hostile-tasklet, config: { mode: log-flood } }\n    limits: { cpu-per-call: 60s }\n    next: [ { on: \"*\", to: skip-text } ]\n  - name: skip-text\n    chunk:\n      size: 5\n      reader: { plugin: testkit-reader, config: { items: [a, b] } }\n      processor: { plugin: hostile-processor, config: { mode: error-text } }\n      writer: { plugin: testkit-writer, config: { output: out.txt } }\n      fault-tolerance: { skip: { kinds: [validation], limit: 5 } }\n    next: [ { on: \"*\", to: decide } ]\n  - name: decide\n    decider: { plugin: testkit-decider, config: { status: \"EVIL\\e]0;title\\aX\\r\\nFORGED\" } }\n    next: [ { on: NEVER, end: COMPLETED } ]\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    // The decider's answer matches no transition: the job fails, naming the (escaped) answer.
    assert_exit(&out, 1);
    let (text_out, text_err) = (stdout(&out), stderr(&out));
    assert_no_raw_escapes("run stdout", &text_out);
    assert_no_raw_escapes("run stderr", &text_err);
    // 20 MiB of error text and 128 MiB of log records became a bounded stream.
    assert!(
        out.stdout.len() < 64 << 10,
        "{} bytes of stdout",
        out.stdout.len()
    );
    assert!(
        out.stderr.len() < (1 << 20) + (256 << 10),
        "{} bytes of stderr",
        out.stderr.len()
    );
    assert!(
        text_err.contains("log budget; the rest was dropped"),
        "{}",
        &text_err[..2000.min(text_err.len())]
    );
    assert!(
        text_out.contains("EVIL\\u{1b}]0;title\\u{7}X\\r\\nFORGED"),
        "{text_out}"
    );

    // Stored within Spring's column widths, and COMPLETED rather than stuck in STARTED.
    let (status, code, message) = step_row(&env, "error-text").await;
    assert_eq!(status, "ABANDONED");
    assert!(
        message.chars().count() <= 2500 && message.contains("truncated"),
        "{message}"
    );
    assert_no_raw_escapes("EXIT_MESSAGE", &message);
    assert_eq!(code, "FAILED");
    let (status, code, message) = step_row(&env, "exit-text").await;
    assert_eq!(status, "COMPLETED");
    assert!(
        code.chars().count() <= 100 && code.starts_with("CODE\\u{1b}]0;pwned"),
        "{code}"
    );
    assert!(message.chars().count() <= 2500);
    assert_no_raw_escapes("EXIT_CODE", &code);
    let skipped = env.rows("SELECT KIND, MESSAGE FROM BH_SKIPPED_ITEM").await;
    assert_eq!(skipped.len(), 2);
    for row in &skipped {
        assert!(
            row[0].starts_with("validation.x\\u{1b}]0;pwned") && row[0].chars().count() <= 200,
            "{}",
            row[0]
        );
        assert!(row[1].chars().count() <= 2500);
        assert_no_raw_escapes("dead letter", &format!("{}{}", row[0], row[1]));
    }

    // What operators read later is as safe.
    for args in [
        vec!["execution", "1"],
        vec!["execution", "1", "--json"],
        vec!["skipped", "1"],
        vec!["skipped", "1", "--format", "jsonl"],
        vec!["executions"],
    ] {
        let out = env.run(&args);
        assert_success(&out);
        assert_no_raw_escapes(&args.join(" "), &stdout(&out));
    }
    env.cleanup().await;
}
both_backends!(guest_text_is_bounded_and_neutralised_everywhere, guest_text);

// 5. State and counts.

async fn state_and_counts(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&[
        "hostile-tasklet",
        "hostile-reader",
        "hostile-processor",
        "testkit-reader",
        "jsonl-writer",
        "testkit-writer",
    ]);
    env.write("inside.txt", "x");
    let next = "    next: [ { on: \"*\", to: NEXT } ]\n";
    let steps = [
        ("tasklet-context", "    tasklet: { plugin: hostile-tasklet, config: { mode: big-context } }\n    limits: { memory: 1GiB }\n".to_owned()),
        ("reader-context", "    chunk:\n      size: 10\n      reader: { plugin: hostile-reader, config: { mode: big-context } }\n      writer: { plugin: testkit-writer, config: { output: a.txt } }\n      limits: { memory: 1GiB }\n".to_owned()),
        ("too-many-plain", "    chunk:\n      size: 10\n      reader: { plugin: hostile-reader, config: { mode: too-many } }\n      writer: { plugin: testkit-writer, config: { output: b.txt } }\n".to_owned()),
        ("too-many-ft", "    chunk:\n      size: 10\n      reader: { plugin: hostile-reader, config: { mode: too-many } }\n      writer: { plugin: testkit-writer, config: { output: c.txt } }\n      fault-tolerance: { skip: { kinds: [plugin], limit: 100 } }\n".to_owned()),
        ("fd-leak", "    chunk:\n      size: 10\n      reader: { plugin: testkit-reader, config: { items: [a] } }\n      processor: { plugin: hostile-processor, config: { mode: fd-leak } }\n      writer: { plugin: jsonl-writer, config: { path: leak.jsonl } }\n".to_owned()),
    ];
    let mut yaml = String::from("name: state\nsteps:\n");
    for (i, (name, body)) in steps.iter().enumerate() {
        yaml.push_str(&format!("  - name: {name}\n{body}"));
        if let Some((after, _)) = steps.get(i + 1) {
            yaml.push_str(&next.replace("NEXT", after));
        }
    }
    env.write("job.yaml", &yaml);
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    // Every step fails with its fault; the flow moves on (the failed step is then ABANDONED).
    for step in ["tasklet-context", "reader-context"] {
        let (status, code, message) = step_row(&env, step).await;
        assert_eq!(
            (status.as_str(), code.as_str()),
            ("ABANDONED", "FAILED"),
            "{step}"
        );
        assert!(
            message.contains("wasm.context-size")
                && message.contains("the limit is 1048576 bytes (limits.max-context-size)"),
            "{step}: {message}"
        );
    }
    for step in ["too-many-plain", "too-many-ft"] {
        let (status, code, message) = step_row(&env, step).await;
        assert_eq!(
            (status.as_str(), code.as_str()),
            ("ABANDONED", "FAILED"),
            "{step}"
        );
        assert!(
            message.contains("read-batch returned 5010 outcomes when asked for at most 10"),
            "{step}: {message}"
        );
    }
    let writes = env
        .rows("SELECT CAST(SUM(WRITE_COUNT) AS BIGINT) FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(writes[0][0], "0", "no item of a refused batch was written");
    // The leak hits the processor's own cap (a few hundred opens in, far below the process's
    // descriptor limit): its own fault, not the writer's.
    let (status, _, message) = step_row(&env, "fd-leak").await;
    assert_eq!(status, "FAILED");
    assert!(
        message.starts_with("processor hostile-processor")
            && message.contains("io.leak: open number"),
        "{message}"
    );
    let opened: u32 = message
        .split("open number ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!((100..5_000).contains(&opened), "{message}");
    // The 64 MiB contexts were never stored.
    let stored = env
        .rows("SELECT CAST(MAX(LENGTH(COALESCE(SERIALIZED_CONTEXT, SHORT_CONTEXT))) AS BIGINT) FROM BATCH_STEP_EXECUTION_CONTEXT")
        .await;
    assert!(
        stored[0][0].parse::<u64>().unwrap() < 64 << 10,
        "{stored:?}"
    );
    env.cleanup().await;
}
both_backends!(unbounded_state_and_counts_are_refused, state_and_counts);
