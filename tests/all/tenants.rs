//! Tenants: separate registries and repositories, quotas from the host configuration, and a
//! hostile tenant that cannot disturb another tenant's concurrent job.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// `executions --json` of a tenant: (job name, status) per execution.
fn executions(env: &Env, tenant: &str) -> Vec<(String, String)> {
    let out = env.run(&["--tenant", tenant, "executions", "--json"]);
    assert_success(&out);
    stdout(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["job"].as_str().unwrap_or_default().to_owned(),
                v["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Registers `target/components/<name>.wasm` in `tenant`'s registry (extra args: `--version`).
fn register_as(env: &Env, tenant: &str, name: &str, extra: &[&str]) {
    env.create_tenant(tenant);
    let path = component(name);
    let mut args = vec![
        "--tenant",
        tenant,
        "plugin",
        "register",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    assert_success(&env.run(&args));
}

/// `execution ID --json` of a tenant.
fn execution_json(env: &Env, tenant: &str, id: &str) -> Value {
    let out = env.run(&["--tenant", tenant, "execution", id, "--json"]);
    assert_success(&out);
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

fn tasklet_job(name: &str) -> String {
    format!(
        "name: {name}\nsteps:\n  - name: work\n    tasklet: {{ plugin: testkit-tasklet, config: {{ append: {{ file: {name}.txt, line: done }} }} }}\n"
    )
}

async fn isolation(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    register_as(&env, "acme", "testkit-tasklet", &[]);
    env.write("job.yaml", &tasklet_job("isolated"));

    // A tenant that was never created is refused, naming the command that creates it.
    let out = env.run(&["--tenant", "globx", "plugin", "list"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("tenant `globx` does not exist")
            && stderr(&out).contains("batch-host --tenant globx tenant create"),
        "{}",
        stderr(&out)
    );
    // Another tenant sees no plugin and cannot plan the job.
    env.create_tenant("globex");
    let out = env.run(&["--tenant", "globex", "plugin", "list"]);
    assert!(
        stdout(&out).contains("no plugins registered"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["--tenant", "globex", "run", "job.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("plugin `testkit-tasklet` is not registered"),
        "{}",
        stderr(&out)
    );
    // Nor does the default tenant.
    assert_exit(&env.run(&["run", "job.yaml"]), 2);

    assert_success(&env.run(&["--tenant", "acme", "run", "job.yaml"]));
    assert_eq!(
        executions(&env, "acme"),
        vec![("isolated".to_owned(), "COMPLETED".to_owned())]
    );
    assert!(executions(&env, "globex").is_empty());
    assert!(executions(&env, "default").is_empty());
    // A FAILED execution of acme — one that acme itself could restart, abandon or list skips
    // of — does not exist for globex: every command that names it answers "no job execution".
    env.write("fail.flag", "");
    env.write(
        "fails.yaml",
        "name: fails\nsteps:\n  - name: work\n    tasklet: { plugin: testkit-tasklet, config: { fail-if-exists: fail.flag } }\n",
    );
    assert_exit(&env.run(&["--tenant", "acme", "run", "fails.yaml"]), 1);
    assert_eq!(execution_json(&env, "acme", "2")["status"], "FAILED");
    for cmd in [
        ["execution", "2"],
        ["stop", "2"],
        ["abandon", "2"],
        ["restart", "2"],
        ["skipped", "2"],
        ["recover", "2"],
    ] {
        let out = env.run(&["--tenant", "globex", cmd[0], cmd[1]]);
        assert_ne!(out.status.code(), Some(0), "{cmd:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("no job execution 2"),
            "{cmd:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        execution_json(&env, "acme", "2")["status"],
        "FAILED",
        "globex's attempts changed nothing"
    );
    // acme's plugins do not exist for globex either.
    let out = env.run(&["--tenant", "globex", "plugin", "inspect", "testkit-tasklet"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("is not registered"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["--tenant", "globex", "plugin", "remove", "testkit-tasklet"]);
    assert_ne!(out.status.code(), Some(0));
    let out = env.run(&["--tenant", "acme", "plugin", "inspect", "testkit-tasklet"]);
    assert_success(&out);
    // acme restarts its own execution once the cause is gone.
    std::fs::remove_file(env.path().join("fail.flag")).unwrap();
    assert_success(&env.run(&["--tenant", "acme", "restart", "2"]));
    // The same job name and parameters are a different JobInstance per tenant.
    register_as(&env, "globex", "testkit-tasklet", &[]);
    assert_success(&env.run(&["--tenant", "globex", "run", "job.yaml"]));
    assert_eq!(executions(&env, "globex").len(), 1);
    assert_eq!(executions(&env, "acme").len(), 3);

    let out = env.run(&["--tenant", "Not Valid", "plugin", "list"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not a valid tenant name"),
        "{}",
        stderr(&out)
    );
    env.cleanup().await;
}
both_backends!(tenants_see_only_their_own_plugins_and_executions, isolation);

async fn quotas(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let config = env.write_outside(
        "host.yaml",
        "limits:\n  defaults: { cpu-per-call: 20s }\ntenants:\n  acme:\n    max-concurrent-executions: 1\n    ceilings: { memory: 64MiB, cpu-per-call: 30s }\n",
    );
    let config = config.to_str().unwrap().to_owned();
    register_as(&env, "acme", "testkit-tasklet", &[]);

    // Above the tenant's memory ceiling: refused before anything runs, naming the limit.
    env.write(
        "greedy.yaml",
        "name: greedy\nsteps:\n  - name: s\n    limits: { memory: 128MiB }\n    tasklet: { plugin: testkit-tasklet }\n",
    );
    let out = env.run(&[
        "--config",
        &config,
        "--tenant",
        "acme",
        "run",
        "greedy.yaml",
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(
            "steps[0].limits.memory: `128MiB` exceeds the ceiling of 64MiB for tenant `acme`"
        ),
        "{}",
        stderr(&out)
    );
    assert!(executions(&env, "acme").is_empty());

    // One execution at a time: a second launch while the first runs is refused (exit 3).
    env.write(
        "slow.yaml",
        "name: slow\nsteps:\n  - name: s\n    tasklet: { plugin: testkit-tasklet, config: { barrier: { mine: slow.flag, wait-for: go.flag, timeout-ms: 60000 } } }\n",
    );
    let first = env.spawn(&["--config", &config, "--tenant", "acme", "run", "slow.yaml"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !env.path().join("slow.flag").exists() {
        assert!(
            Instant::now() < deadline,
            "the first execution never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.write("other.yaml", &tasklet_job("other"));
    let out = env.run(&["--config", &config, "--tenant", "acme", "run", "other.yaml"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("tenant `acme` already runs 1 execution(s)"),
        "{}",
        stderr(&out)
    );
    // Another tenant is not limited by acme's quota.
    register_as(&env, "globex", "testkit-tasklet", &[]);
    assert_success(&env.run(&[
        "--config",
        &config,
        "--tenant",
        "globex",
        "run",
        "other.yaml",
    ]));

    env.write("go.flag", "");
    assert_success(&env.wait_bounded(first, Duration::from_secs(120)));
    assert_success(&env.run(&["--config", &config, "--tenant", "acme", "run", "other.yaml"]));
    env.cleanup().await;
}
both_backends!(tenant_quotas_refuse_before_running, quotas);

async fn hostile_neighbour(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    for tenant in ["evil", "good"] {
        for p in [
            "csv-reader",
            "hostile-processor",
            "member-processor",
            "jsonl-writer",
            "testkit-reader",
            "testkit-writer",
            "testkit-tasklet",
        ] {
            register_as(&env, tenant, p, &[]);
        }
    }
    // Both jobs start with a step that waits for the other job to reach it, so they provably
    // run at the same time (and the timestamps below show they overlapped).
    let meet = |mine: &str, other: &str| {
        format!(
            "  - name: meet\n    tasklet: {{ plugin: testkit-tasklet, config: {{ barrier: {{ mine: {mine}.here, wait-for: {other}.here, timeout-ms: 120000 }} }} }}\n"
        )
    };
    env.write("members.csv", &members_csv(3_000, &[]));
    env.write("few.csv", &members_csv(3, &[]));
    // Every hostile behaviour, one step each; each step fails with its typed fault and the flow
    // moves on to the next, so one run shows them all.
    let hostile = |name: &str, next: &str, chunk: &str| {
        // Printing 60 MB is real work: the flood gets a longer deadline than the loops.
        let cpu = if name == "stdout-flood" { "30s" } else { "1s" };
        format!(
            "  - name: {name}\n    chunk:\n      size: 1\n{chunk}      limits: {{ cpu-per-call: {cpu}, memory: 64MiB, max-item-size: 1MiB }}\n    next: [ {{ on: \"*\", {next} }} ]\n"
        )
    };
    let reader = "      reader: { plugin: csv-reader, config: { path: few.csv } }\n";
    let processor = |mode: &str| {
        format!(
            "{reader}      processor: {{ plugin: hostile-processor, config: {{ mode: {mode} }} }}\n      writer: {{ plugin: jsonl-writer, config: {{ path: {mode}.jsonl }} }}\n"
        )
    };
    let steps = [
        ("read-loop", "      reader: { plugin: testkit-reader, config: { items: [a], fail: { a: { kind: loop, times: always } } } }\n      writer: { plugin: testkit-writer, config: { output: out.txt } }\n".to_owned()),
        ("process-loop", processor("loop")),
        ("write-loop", "      reader: { plugin: testkit-reader, config: { items: [a] } }\n      writer: { plugin: testkit-writer, config: { output: out.txt, fail: { a: { kind: loop, times: always } } } }\n".to_owned()),
        ("panic", "      reader: { plugin: testkit-reader, config: { items: [a] } }\n      writer: { plugin: testkit-writer, config: { output: out.txt, fail: { a: { kind: panic, times: always } } } }\n".to_owned()),
        ("memory-bomb", processor("memory")),
        ("recursion", processor("recursion")),
        ("gigantic-item", processor("big-item")),
        ("stdout-flood", processor("stdout")),
        ("env-snoop", processor("env")),
        ("nosy", processor("files")),
    ];
    // A symlink that points out of the work directory.
    std::os::unix::fs::symlink("/etc/passwd", env.path().join("link-out")).unwrap();
    let mut yaml = format!("name: hostile\nsteps:\n{}", meet("evil", "good"));
    for (i, (name, chunk)) in steps.iter().enumerate() {
        let next = match steps.get(i + 1) {
            Some((n, _)) => format!("to: {n}"),
            None => "end: COMPLETED".to_owned(),
        };
        yaml.push_str(&hostile(name, &next, chunk));
    }
    env.write("hostile.yaml", &yaml);
    env.write(
        "good.yaml",
        &format!("name: good\nsteps:\n{}  - name: migrate\n    chunk:\n      size: 100\n      reader: {{ plugin: csv-reader, config: {{ path: members.csv }} }}\n      processor: {{ plugin: member-processor }}\n      writer: {{ plugin: jsonl-writer, config: {{ path: good.jsonl }} }}\n", meet("good", "evil")),
    );
    let evil = env.spawn(&["--tenant", "evil", "run", "hostile.yaml"]);
    let good = env.spawn(&["--tenant", "good", "run", "good.yaml"]);
    let good = env.wait_bounded(good, Duration::from_secs(300));
    let evil = env.wait_bounded(evil, Duration::from_secs(300));

    // The good tenant's job completed with exactly its output.
    assert_success(&good);
    assert_eq!(
        jsonl_ids(&env, "good.jsonl"),
        (1..=3_000).collect::<Vec<_>>()
    );
    // The hostile job ran every step to its typed fault, and the host stayed up to record it.
    assert_success(&evil);
    let json = execution_json(&env, "evil", "1");
    let steps_json = json["steps"].as_array().unwrap();
    let message = |name: &str| -> String {
        steps_json
            .iter()
            .find(|s| s["step"] == name)
            .map(|s| format!("{} {}", s["status"], s["exit_message"]))
            .unwrap_or_else(|| panic!("no step {name}: {json}"))
    };
    for (name, want) in [
        ("read-loop", "wasm.timeout"),
        ("process-loop", "wasm.timeout"),
        ("write-loop", "wasm.timeout"),
        ("panic", "wasm.trap"),
        ("memory-bomb", "wasm.memory"),
        ("recursion", "wasm.trap"),
        ("gigantic-item", "wasm.item-size"),
    ] {
        let m = message(name);
        assert!(m.contains(want), "{name}: {m}");
    }
    // A flood and a snoop are not faults: the plugin keeps working, and sees nothing outside.
    assert!(
        message("stdout-flood").starts_with("\"COMPLETED\""),
        "{}",
        message("stdout-flood")
    );
    assert!(
        message("nosy").starts_with("\"COMPLETED\""),
        "{}",
        message("nosy")
    );
    let first = |file: &str| -> Value {
        serde_json::from_str(env.read(file).lines().next().expect(file)).unwrap()
    };
    let nosy = first("files.jsonl");
    for path in ["/etc/passwd", "../outside.txt", "link-out"] {
        assert_ne!(nosy[path], "readable", "{path} must not open: {nosy}");
    }
    let snoop = first("env.jsonl");
    assert_eq!(
        snoop["env"],
        serde_json::json!([]),
        "no environment: {snoop}"
    );
    // The good job migrated while the hostile steps ran.
    let good_json = execution_json(&env, "good", "1");
    let migrate = good_json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "migrate")
        .unwrap();
    let hostile_steps: Vec<&Value> = steps_json.iter().filter(|s| s["step"] != "meet").collect();
    let t = |v: &Value| v.as_str().unwrap().to_owned();
    let hostile_start = hostile_steps
        .iter()
        .map(|s| t(&s["start_time"]))
        .min()
        .unwrap();
    let hostile_end = hostile_steps
        .iter()
        .map(|s| t(&s["end_time"]))
        .max()
        .unwrap();
    assert!(
        t(&migrate["start_time"]) < hostile_end && hostile_start < t(&migrate["end_time"]),
        "the two tenants' jobs did not overlap: good {}..{}, hostile {hostile_start}..{hostile_end}",
        t(&migrate["start_time"]),
        t(&migrate["end_time"])
    );
    // Nothing of evil's is visible to good.
    assert_eq!(
        executions(&env, "good"),
        vec![("good".to_owned(), "COMPLETED".to_owned())]
    );
    env.cleanup().await;
}
both_backends!(a_hostile_tenant_cannot_disturb_another, hostile_neighbour);

async fn shared_catalogue(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    // Without a catalogue, nothing is found and no catalogue is created.
    env.create_tenant("acme");
    env.write("job.yaml", &tasklet_job("catalogued"));
    assert_exit(&env.run(&["--tenant", "acme", "run", "job.yaml"]), 2);
    if backend == Backend::Sqlite {
        assert!(
            std::fs::read_dir(env.repo_dir()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("tenant-shared")),
            "looking for the catalogue must not create it"
        );
    }

    // The operator puts the tasklet into the shared catalogue: every tenant's jobs find it.
    register_as(&env, "shared", "testkit-tasklet", &[]);
    let out = env.run(&["--tenant", "acme", "run", "job.yaml"]);
    assert_success(&out);
    let exec = execution_json(&env, "acme", "1");
    assert_eq!(
        exec["steps"][0]["plugins"][0]["plugin"],
        "testkit-tasklet@0.1.0 (shared)"
    );
    // The tenant's own registration wins over the catalogue's.
    register_as(&env, "globex", "testkit-tasklet", &["--version", "7.0.0"]);
    assert_success(&env.run(&["--tenant", "globex", "run", "job.yaml"]));
    let exec = execution_json(&env, "globex", "1");
    assert_eq!(
        exec["steps"][0]["plugins"][0]["plugin"],
        "testkit-tasklet@7.0.0"
    );
    // The catalogue's executions and the tenants' stay apart.
    assert!(executions(&env, "shared").is_empty());
    env.cleanup().await;
}
both_backends!(the_shared_catalogue_serves_every_tenant, shared_catalogue);
