//! Hostile plugins are contained: each misbehaviour ends as a typed fault of its own step, the
//! host process exits normally with the job's status, and nothing outside the sandbox is reached.

use serde_json::Value;

use crate::support::*;

/// Runs the hostile processor in `mode` with `limits`; returns the run's output.
fn run_hostile(env: &Env, name: &str, mode: &str, limits: &str, ft: &str) -> std::process::Output {
    env.write("members.csv", &members_csv(3, &[]));
    env.write(
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: {{ plugin: csv-reader, config: {{ path: members.csv }} }}\n      processor: {{ plugin: hostile-processor, config: {{ mode: {mode} }} }}\n      writer: {{ plugin: jsonl-writer, config: {{ path: {name}.jsonl }} }}\n      limits: {limits}\n{ft}"
        ),
    );
    env.run(&["run", &format!("{name}.yaml")])
}

async fn env_with_hostile() -> Env {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["csv-reader", "hostile-processor", "jsonl-writer"]);
    env
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_cpu_deadline() {
    let env = env_with_hostile().await;
    let out = run_hostile(&env, "spin", "loop", "{ cpu-per-call: 300ms }", "");
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("wasm.timeout: the call ran longer than its 300ms limit"),
        "{text}"
    );
}

#[tokio::test]
async fn a_timeout_can_be_skipped_like_any_error() {
    let env = env_with_hostile().await;
    let out = run_hostile(
        &env,
        "spin-skip",
        "loop",
        "{ cpu-per-call: 100ms }",
        "      fault-tolerance: { skip: { kinds: [wasm.timeout] } }\n",
    );
    assert_success(&out);
    let rows = env
        .rows("SELECT PROCESS_SKIP_COUNT, WRITE_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(
        rows,
        vec![vec!["3", "0"]],
        "every item timed out on a fresh instance and was skipped"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_its_memory_limit() {
    let env = env_with_hostile().await;
    let out = run_hostile(&env, "bomb", "memory", "{ memory: 32MiB }", "");
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("wasm.memory: the plugin tried to grow its memory past 33554432 bytes"),
        "{text}"
    );
}

#[tokio::test]
async fn unbounded_recursion_is_a_trap() {
    let env = env_with_hostile().await;
    let out = run_hostile(&env, "deep", "recursion", "{ memory: 64MiB }", "");
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("wasm."), "{text}");
    assert!(text.contains("processor hostile-processor@0.1.0"), "{text}");
}

#[tokio::test]
async fn a_gigantic_item_is_refused() {
    let env = env_with_hostile().await;
    let out = run_hostile(
        &env,
        "huge",
        "big-item",
        "{ memory: 512MiB, max-item-size: 1MiB }",
        "",
    );
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("wasm.item-size: the plugin produced an item of"),
        "{text}"
    );
    assert!(text.contains("the limit is 1048576 bytes"), "{text}");
}

#[tokio::test]
async fn a_stdout_flood_does_not_kill_the_plugin() {
    let env = env_with_hostile().await;
    let out = run_hostile(&env, "chatty", "stdout", "{ cpu-per-call: 30s }", "");
    assert_success(&out);
    assert_eq!(env.read("chatty.jsonl").lines().count(), 3);

    // With info logging, the first MiB of each instance's stdout reaches the log line by line,
    // and one warning counts what was dropped.
    let out = env.run(&["-v", "run", "chatty.yaml", "--param", "again=1"]);
    assert_success(&out);
    let log = stderr(&out);
    let forwarded = log.lines().filter(|l| l.contains("flood flood")).count();
    assert!(
        (100..=200).contains(&forwarded),
        "about 1 MiB of 6 kB lines: {forwarded}"
    );
    assert!(log.contains("log budget; the rest was dropped"), "{log}");
}

#[tokio::test]
async fn plugins_see_no_environment_and_no_files_outside_their_directory() {
    let env = env_with_hostile().await;
    // The host process has HOME and other variables set; the plugin must see none of them.
    let out = run_hostile(&env, "nosy", "env", "{}", "");
    assert_success(&out);
    let first: Value =
        serde_json::from_str(env.read("nosy.jsonl").lines().next().unwrap()).unwrap();
    assert_eq!(first["env"], serde_json::json!([]));
    assert_eq!(first["home"], Value::Null);

    let parent = env
        .path()
        .parent()
        .unwrap()
        .join(format!("outside-{}.txt", std::process::id()));
    std::fs::write(&parent, "secret").unwrap();
    std::fs::create_dir_all(env.path().join("jail")).unwrap();
    std::fs::copy(
        env.path().join("members.csv"),
        env.path().join("jail/members.csv"),
    )
    .unwrap();
    std::fs::write(env.path().join("jail/inside.txt"), "fine").unwrap();
    std::fs::write(env.path().join("outside.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(
        env.path().join("outside.txt"),
        env.path().join("jail/link-out"),
    )
    .unwrap();
    env.write(
        "jail/files.yaml",
        "name: files\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: { plugin: csv-reader, config: { path: members.csv } }\n      processor: { plugin: hostile-processor, config: { mode: files } }\n      writer: { plugin: jsonl-writer, config: { path: files.jsonl } }\n",
    );
    let out = env.run(&["run", "jail/files.yaml"]);
    assert_success(&out);
    let probe: Value =
        serde_json::from_str(env.read("jail/files.jsonl").lines().next().unwrap()).unwrap();
    assert_eq!(probe["inside.txt"], "readable");
    for escape in ["/etc/passwd", "../outside.txt", "link-out"] {
        assert_ne!(
            probe[escape], "readable",
            "{escape} must not be reachable: {probe}"
        );
    }
    let _ = std::fs::remove_file(parent);
}

async fn read_only_grant(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["csv-reader", "testkit-tasklet"]);
    env.write("inputs/members.csv", &members_csv(5, &[]));
    env.write(
        "job.yaml",
        "name: read-only
steps:
  - name: load
    directory: inputs
    read-only: true
    chunk:
      size: 2
      reader: { plugin: csv-reader, config: { path: members.csv } }
      writer: { builtin: sql-table, config: { table: members } }
  - name: scribble
    directory: inputs
    read-only: true
    tasklet: { plugin: testkit-tasklet, config: { append: { file: note.txt, line: hello } } }
",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    // The reader read through the read-only grant; the rows went to the repository.
    let rows = env
        .rows("SELECT COUNT(*) FROM BH_TABLE_ROW WHERE TABLE_NAME = 'members'")
        .await;
    assert_eq!(rows, vec![vec!["5"]]);
    // The tasklet could not create a file there.
    let text = stdout(&out);
    assert!(
        text.contains("step `scribble` failed")
            && text.contains(
                "io.permission-denied: not permitted: the step's directory is granted read-only"
            )
            && !text.contains("os error"),
        "{text}"
    );
    assert!(!env.path().join("inputs/note.txt").exists());

    // A directory outside the work directory is refused before anything runs.
    env.write(
        "escape.yaml",
        "name: escape\nsteps:\n  - name: s\n    directory: ..\n    tasklet: { plugin: testkit-tasklet }\n",
    );
    let out = env.run(&["run", "escape.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("steps[0].directory: `..` is outside the work directory"),
        "{}",
        stderr(&out)
    );
    env.cleanup().await;
}
both_backends!(read_only_directory_grant, read_only_grant);

#[tokio::test]
async fn a_fuel_budget_stops_a_loop_deterministically() {
    let env = env_with_hostile().await;
    // The CPU deadline is far away; the fuel budget is what stops the loop.
    let out = run_hostile(
        &env,
        "fuel",
        "loop",
        "{ cpu-per-call: 60s, fuel-per-item: 20M }",
        "",
    );
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("wasm.timeout: the call used up its fuel budget of 20000000 per item"),
        "{text}"
    );
    // A well-behaved plugin within the same budget completes.
    let out = run_hostile(
        &env,
        "fuel-ok",
        "env",
        "{ cpu-per-call: 60s, fuel-per-item: 20M }",
        "",
    );
    assert_success(&out);
    assert_eq!(env.read("fuel-ok.jsonl").lines().count(), 3);
    // The metering engine is a different engine: it compiled its own artifacts once, next to
    // the ones `plugin register` made, and reused them for the second job.
    let engines = env
        .rows("SELECT COUNT(DISTINCT ENGINE), COUNT(*) FROM BH_PLUGIN_ARTIFACT")
        .await;
    assert_eq!(engines, vec![vec!["2", "6"]], "3 plugins x 2 engines");
}

/// A config path that is absolute or climbs out is a `config` error naming the field — not a
/// file quietly created inside the work directory under the absolute path's name.
#[tokio::test]
async fn absolute_and_climbing_config_paths_are_config_errors() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["csv-reader", "member-processor", "jsonl-writer"]);
    env.write("members.csv", &members_csv(10, &[]));
    let job = job_yaml("abs-path", 5, "{ plugin: member-processor }")
        .replace("path: out/members.jsonl", "path: /srv/out/abs.jsonl");
    env.write("job.yaml", &job);
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "writer jsonl-writer@0.1.0 failed in init: config: `path`: `/srv/out/abs.jsonl` is absolute"
        ),
        "{text}"
    );
    assert!(
        !env.path().join("srv").exists(),
        "nothing written under the absolute path's name"
    );

    let job = job_yaml("up-path", 5, "{ plugin: member-processor }")
        .replace("path: members.csv", "path: ../members.csv");
    env.write("up.yaml", &job);
    let out = env.run(&["run", "up.yaml"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("config: `path`: `../members.csv` leaves the step's directory"),
        "{}",
        stdout(&out)
    );
}

/// `wasi:sockets` is linked (every CPython component imports it) but every use is denied: a
/// guest's TCP connect to a listener the test owns, a TCP listen, a UDP send to it and a name
/// lookup all fail, and the listener never sees a connection or a datagram.
#[tokio::test]
async fn sockets_are_linked_but_every_use_is_denied() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["sockets-processor"]);
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let target = tcp.local_addr().unwrap();
    let udp = std::net::UdpSocket::bind(target).unwrap();
    udp.set_nonblocking(true).unwrap();
    env.write("members.csv", &members_csv(2, &[]));
    env.write(
        "net.yaml",
        &format!(
            "name: net\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: {{ builtin: csv, config: {{ path: members.csv }} }}\n      processor: {{ plugin: sockets-processor, config: {{ target: \"{target}\" }} }}\n      writer: {{ builtin: jsonl, config: {{ path: out.jsonl }} }}\n      fault-tolerance: {{ skip: {{ kinds: [net.denied] }} }}\n"
        ),
    );
    let out = env.run(&["run", "net.yaml"]);
    assert_success(&out);
    let rows = env
        .rows("SELECT KIND, MESSAGE FROM BH_SKIPPED_ITEM ORDER BY ITEM_POSITION")
        .await;
    assert_eq!(
        rows.len(),
        2,
        "both items tried the network and were skipped: {rows:?}"
    );
    for row in &rows {
        assert_eq!(row[0], "net.denied", "an attempt succeeded: {}", row[1]);
        for what in ["connect:", "listen:", "udp:", "lookup:"] {
            assert!(row[1].contains(what), "{what} was tried: {}", row[1]);
        }
        assert!(
            !row[1].contains("succeeded"),
            "every attempt fails: {}",
            row[1]
        );
    }
    assert!(
        matches!(tcp.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the listener saw no connection"
    );
    let mut buf = [0u8; 16];
    assert!(
        matches!(udp.recv_from(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no datagram arrived"
    );
}

/// A `process-block` answer that lies about its data (outcomes claiming more or fewer bytes than
/// it returned, a 4 GiB item, too few or too many outcomes) never reaches the writer: a step
/// without fault tolerance fails naming the processor and the lie; a fault-tolerant step (either
/// model) falls back to one `process` call per item and writes exactly its input.
#[tokio::test]
async fn a_lying_block_answer_never_reaches_the_output() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["hostile-block-processor"]);
    env.write("members.csv", &members_csv(5, &[]));
    let job = |name: &str, mode: &str, ft: &str| {
        env.write(
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: {{ builtin: csv, config: {{ path: members.csv }} }}\n      processor: {{ plugin: hostile-block-processor, config: {{ mode: {mode} }} }}\n      writer: {{ builtin: jsonl, config: {{ path: {name}.jsonl }} }}\n{ft}"
            ),
        );
        env.run(&["run", &format!("{name}.yaml")])
    };
    let honest = job("honest", "honest", "");
    assert_success(&honest);
    let expected = env.read("honest.jsonl");
    assert_eq!(expected.lines().count(), 5, "{expected}");
    for (mode, lie) in [
        ("overclaim", "process-block returned"),
        ("underclaim", "process-block returned"),
        ("huge", "process-block returned"),
        ("short", "returned 4 outcomes for 5 items"),
        ("long", "returned 6 outcomes for 5 items"),
    ] {
        let out = job(&format!("strict-{mode}"), mode, "");
        assert_exit(&out, 1);
        let text = stdout(&out);
        assert!(text.contains("plugin.protocol"), "{mode}: {text}");
        assert!(text.contains(lie), "{mode}: {text}");
        assert!(
            text.contains("processor hostile-block-processor@0.1.0"),
            "{mode}: {text}"
        );
        assert_eq!(
            env.read(&format!("strict-{mode}.jsonl")),
            "",
            "{mode}: nothing was written"
        );
        for model in ["in-place", "replay"] {
            let ft = format!(
                "      fault-tolerance: {{ model: {model}, skip: {{ kinds: [validation] }} }}\n"
            );
            let name = format!("tolerant-{model}-{mode}");
            let out = job(&name, mode, &ft);
            assert_success(&out);
            assert_eq!(
                env.read(&format!("{name}.jsonl")),
                expected,
                "{model} {mode}: every item once, as `process` returned it"
            );
        }
    }
}
