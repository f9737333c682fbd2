//! Fault tolerance beyond the conformance table: dead letters, traps, backoff, exit status on
//! skips, and restarting inside a partly committed chunk.

use std::sync::Mutex;
use std::time::Duration;

use batch_host::engine::{Clock, RunListener, launch_with};
use batch_host::plan::{self, PlanOptions};
use batch_host::plugin::PluginRuntime;
use batch_host::spec::JobSpec;
use serde_json::Value;

use crate::support::*;

const TESTKIT: &[&str] = &["testkit-reader", "testkit-processor", "testkit-writer"];

async fn dead_letters(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["csv-reader", "member-processor", "jsonl-writer"]);
    env.write("members.csv", &members_csv(300, &[17, 150, 299]));
    env.write(
        "job.yaml",
        "name: skips\nsteps:\n  - name: migrate\n    chunk:\n      size: 50\n      reader: { plugin: csv-reader, config: { path: members.csv } }\n      processor: { plugin: member-processor }\n      writer: { plugin: jsonl-writer, config: { path: out.jsonl } }\n      fault-tolerance:\n        skip: { kinds: [validation], limit: 10 }\n        exit-status-on-skips: COMPLETED WITH SKIPS\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("(exit code COMPLETED WITH SKIPS)"), "{text}");
    assert!(
        text.contains("process  validation.email"),
        "skips per phase and kind: {text}"
    );
    assert!(
        text.contains("batch-host skipped 1"),
        "says how to list them: {text}"
    );
    assert_eq!(env.read("out.jsonl").lines().count(), 297);

    let steps = env
        .rows("SELECT EXIT_CODE, PROCESS_SKIP_COUNT, WRITE_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(steps, vec![vec!["COMPLETED WITH SKIPS", "3", "297"]]);
    let rows = env.rows("SELECT PHASE, KIND, ITEM_POSITION, CHUNK_NUMBER FROM BH_SKIPPED_ITEM ORDER BY ITEM_POSITION").await;
    assert_eq!(
        rows,
        vec![
            vec!["process", "validation.email", "17", "1"],
            vec!["process", "validation.email", "150", "3"],
            vec!["process", "validation.email", "299", "6"],
        ]
    );

    let out = env.run(&["skipped", "1", "--format", "jsonl"]);
    assert_success(&out);
    let items: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["phase"], "process");
    assert_eq!(items[0]["step"], "migrate");
    assert!(
        items[0]["message"]
            .as_str()
            .unwrap()
            .contains("user17@@example.com")
    );
    let payload: Value = serde_json::from_str(items[0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["id"], "17", "the skipped item itself is kept");

    let out = env.run(&["skipped", "1"]);
    assert!(stdout(&out).contains("3 item(s)"), "{}", stdout(&out));

    // A follow-up job reads them back with the built-in skipped-items reader.
    env.write(
        "rejects.yaml",
        "name: rejects\nsteps:\n  - name: export\n    chunk:\n      size: 2\n      reader: { builtin: skipped-items, config: { execution: 1, step: migrate, phase: process } }\n      writer: { plugin: jsonl-writer, config: { path: rejects.jsonl } }\n",
    );
    let out = env.run(&["run", "rejects.yaml"]);
    assert_success(&out);
    assert_eq!(jsonl_ids(&env, "rejects.jsonl"), [17, 150, 299]);
    env.cleanup().await;
}
both_backends!(skipped_items_go_to_the_dead_letter_table, dead_letters);

#[tokio::test]
async fn a_trap_is_a_skippable_fault_and_the_processor_is_replaced() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["csv-reader", "panic-processor", "jsonl-writer"]);
    env.write("members.csv", &members_csv(50, &[]));
    env.write(
        "job.yaml",
        "name: traps\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: { plugin: csv-reader, config: { path: members.csv } }\n      processor: { plugin: panic-processor, config: { panic-on: \"23\" } }\n      writer: { plugin: jsonl-writer, config: { path: out.jsonl } }\n      fault-tolerance: { skip: { kinds: [wasm.trap] } }\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    let expected: Vec<u64> = (1..=50).filter(|i| *i != 23).collect();
    assert_eq!(
        jsonl_ids(&env, "out.jsonl"),
        expected,
        "items after the trap were processed by a fresh instance"
    );
    let rows = env
        .rows("SELECT PHASE, KIND, ITEM_POSITION FROM BH_SKIPPED_ITEM")
        .await;
    assert_eq!(rows, vec![vec!["process", "wasm.trap", "23"]]);
    let msg = env.rows("SELECT MESSAGE FROM BH_SKIPPED_ITEM").await;
    assert!(msg[0][0].contains("boom on item 23"), "{msg:?}");
}

#[tokio::test]
async fn restart_inside_a_partly_committed_scan_resumes_after_the_committed_items() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(TESTKIT);
    let job = |writer_fail: &str| {
        format!(
            "name: scan-restart\nsteps:\n  - name: s\n    chunk:\n      size: 6\n      reader: {{ plugin: testkit-reader, config: {{ items: [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\"] }} }}\n      writer: {{ plugin: testkit-writer, config: {{ output: out.txt{writer_fail} }} }}\n      fault-tolerance: {{ skip: {{ kinds: [validation] }} }}\n"
        )
    };
    env.write(
        "job.yaml",
        &job(", fail: { \"2\": { kind: validation }, \"4\": { kind: io.broken } }"),
    );
    let out = env.run(&["run", "job.yaml", "--param", "run.id=1,long"]);
    assert_exit(&out, 1);
    assert_eq!(
        env.read("out.txt"),
        "\"1\"\n\"3\"\n",
        "1 and 3 were committed one by one in the scan"
    );
    let ctx = env
        .rows("SELECT SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT")
        .await;
    let ctx: Value = serde_json::from_str(&ctx[0][0]).unwrap();
    assert_eq!(ctx["batch.chunk.offset"], 3, "{ctx}");
    assert_eq!(
        ctx["reader.position"], 0,
        "the reader stays at the chunk start: {ctx}"
    );

    // The writer is fixed; the restart skips the three committed reads and finishes the chunk.
    env.write("job.yaml", &job(""));
    let out = env.run(&["run", "job.yaml", "--param", "run.id=1,long"]);
    assert_success(&out);
    assert_eq!(
        env.read("out.txt"),
        "\"1\"\n\"3\"\n\"4\"\n\"5\"\n\"6\"\n",
        "no item twice, none lost but the skipped 2"
    );
    let skipped = env.rows("SELECT ITEM_POSITION FROM BH_SKIPPED_ITEM").await;
    assert_eq!(skipped, vec![vec!["2"]]);
}

/// Records backoff pauses instead of sleeping.
#[derive(Default)]
struct RecordingClock(Mutex<Vec<Duration>>);

impl Clock for RecordingClock {
    fn sleep(
        &self,
        d: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(d);
        Box::pin(async {})
    }
}

struct Quiet;
impl RunListener for Quiet {}

#[tokio::test]
async fn retry_backoff_grows_exponentially_up_to_its_cap() {
    // The same pauses in both models; in place the item is retried where it stands (no
    // rollback), the replay model rolls the chunk back before each attempt.
    for (model, rollbacks) in [("in-place", 0), ("replay", 3)] {
        let env = Env::new(Backend::Sqlite).await.unwrap();
        env.register(TESTKIT);
        let file = env.write(
            "job.yaml",
            &format!("name: backoff\nsteps:\n  - name: s\n    chunk:\n      size: 2\n      reader: {{ plugin: testkit-reader, config: {{ items: [\"1\", \"2\", \"3\"] }} }}\n      processor: {{ plugin: testkit-processor, config: {{ fail: {{ \"2\": {{ kind: io.timeout, times: 3 }} }} }} }}\n      writer: {{ plugin: testkit-writer, config: {{ output: out.txt }} }}\n      fault-tolerance:\n        model: {model}\n        retry: {{ kinds: [io.timeout], limit: 4, backoff: {{ initial: 100ms, multiplier: 3, max: 500ms }} }}\n"),
        );
        let repo = env.repo().await;
        let runtime = PluginRuntime::new().unwrap();
        let spec = JobSpec::from_path(&file).unwrap();
        let plan = plan::compile(spec, &file, &PlanOptions::default(), &repo, &runtime)
            .await
            .unwrap();
        let clock = RecordingClock::default();
        let report = launch_with(&plan, &repo, &runtime, &Quiet, &clock, &Default::default())
            .await
            .unwrap();
        assert_eq!(report.execution.status.to_string(), "COMPLETED", "{model}");
        assert_eq!(
            report.steps[0].execution.rollback_count, rollbacks,
            "{model}"
        );
        let ms: Vec<u128> = clock
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(
            ms,
            [100, 300, 500],
            "{model}: one pause before each retry, growing ×3, capped at 500ms"
        );
        assert_eq!(
            std::fs::read_to_string(env.path().join("out.txt")).unwrap(),
            "\"1\"\n\"2\"\n\"3\"\n"
        );
    }
}

#[tokio::test]
async fn a_writer_trap_is_skippable_on_a_fresh_writer() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(TESTKIT);
    env.write(
        "job.yaml",
        "name: writer-trap\nsteps:\n  - name: s\n    chunk:\n      size: 2\n      reader: { plugin: testkit-reader, config: { items: [\"1\", \"2\", \"3\", \"4\"] } }\n      writer: { plugin: testkit-writer, config: { output: out.txt, log: write.log, fail: { \"3\": { kind: panic } } } }\n      fault-tolerance: { skip: { kinds: [wasm.trap] } }\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert_eq!(env.read("out.txt"), "\"1\"\n\"2\"\n\"4\"\n");
    assert_eq!(
        env.read("write.log"),
        "\"1\"\n\"2\"\n\"3\"\n\"3\"\n\"4\"\n",
        "each trap hit a fresh writer"
    );
    let steps = env.rows("SELECT WRITE_COUNT, WRITE_SKIP_COUNT, COMMIT_COUNT, ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION").await;
    assert_eq!(steps, vec![vec!["3", "1", "3", "2"]]);
    let skipped = env
        .rows("SELECT PHASE, KIND, ITEM_POSITION FROM BH_SKIPPED_ITEM")
        .await;
    assert_eq!(skipped, vec![vec!["write", "wasm.trap", "3"]]);
}

#[tokio::test]
async fn a_reader_trap_fails_the_step_and_the_restart_resumes_from_its_checkpoint() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(TESTKIT);
    let job = |fail: &str| {
        format!(
            "name: reader-trap\nsteps:\n  - name: s\n    chunk:\n      size: 2\n      reader: {{ plugin: testkit-reader, config: {{ items: [\"1\", \"2\", \"3\", \"4\", \"5\"]{fail} }} }}\n      writer: {{ plugin: testkit-writer, config: {{ output: out.txt }} }}\n      fault-tolerance: {{ skip: {{ kinds: [wasm.trap] }} }}\n"
        )
    };
    env.write("job.yaml", &job(", fail: { \"3\": { kind: panic } }"));
    let run = ["run", "job.yaml", "--param", "run.id=1,long"];
    let out = env.run(&run);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("reader testkit-reader@0.1.0 failed reading item 3: wasm.trap"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("injected panic on `3`"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.read("out.txt"), "\"1\"\n\"2\"\n");
    env.write("job.yaml", &job(""));
    let out = env.run(&run);
    assert_success(&out);
    assert_eq!(env.read("out.txt"), "\"1\"\n\"2\"\n\"3\"\n\"4\"\n\"5\"\n");
}

/// Items Spring drops without counting a skip (a no-rollback error the policy cannot skip) are
/// not counted here either, but their records are kept in the dead-letter table.
#[tokio::test]
async fn items_dropped_without_a_skip_are_still_dead_letters() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(TESTKIT);
    env.write(
        "job.yaml",
        r#"name: uncounted
steps:
  - name: s
    chunk:
      size: 2
      reader: { plugin: testkit-reader, config: { items: ["1", "2", "3", "4", "5"], fail: { "4": { kind: warn.read } } } }
      processor: { plugin: testkit-processor, config: { fail: { "2": { kind: validation } } } }
      writer: { plugin: testkit-writer, config: { output: out.jsonl } }
      fault-tolerance:
        model: replay
        skip: { kinds: [validation], limit: 0 }
        no-rollback: { kinds: ["*"] }
"#,
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    let output: Vec<String> = env.read("out.jsonl").lines().map(str::to_owned).collect();
    assert_eq!(output, ["\"1\"", "\"3\"", "\"5\""]);
    let counts = env
        .rows(
            "SELECT READ_SKIP_COUNT, PROCESS_SKIP_COUNT, ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION",
        )
        .await;
    assert_eq!(
        counts,
        vec![vec!["0", "0", "0"]],
        "nothing counted as a skip"
    );
    let rows = env
        .rows("SELECT PHASE, KIND, ITEM_POSITION, MESSAGE FROM BH_SKIPPED_ITEM ORDER BY ITEM_POSITION")
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][..3], ["process", "batch.skip-limit", "2"]);
    assert!(
        rows[0][3].starts_with("not counted as a skip: skip limit 0 exceeded: validation"),
        "{rows:?}"
    );
    assert_eq!(rows[1][..3], ["read", "warn.read", "4"]);
    let out = env.run(&["skipped", "1", "--format", "jsonl"]);
    let first: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(
        first["payload"], "\"2\"",
        "the dropped item's bytes are kept"
    );
}

/// A fatal kind fails the step at its first rollback, whatever the skip and retry rules say,
/// and the exit message says it was fatal.
#[tokio::test]
async fn a_fatal_kind_beats_skip_and_retry_rules() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(TESTKIT);
    env.write(
        "job.yaml",
        r#"name: fatal
steps:
  - name: s
    chunk:
      size: 2
      reader: { plugin: testkit-reader, config: { items: ["1", "2", "3", "4"] } }
      processor: { plugin: testkit-processor, config: { fail: { "3": { kind: db.corrupt.page } } } }
      writer: { plugin: testkit-writer, config: { output: out.jsonl } }
      fault-tolerance:
        skip: { kinds: [db.corrupt.page, "*"], policy: always }
        retry: { kinds: [db], limit: 5 }
        fatal: { kinds: [db.corrupt] }
"#,
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let row = env
        .rows("SELECT EXIT_MESSAGE, COMMIT_COUNT, ROLLBACK_COUNT, PROCESS_SKIP_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert!(
        row[0][0].starts_with(
            "fatal error: processor testkit-processor@0.1.0 failed on item 3: db.corrupt.page"
        ),
        "{row:?}"
    );
    assert_eq!(row[0][1..], ["1", "1", "0"]);
    // `*` and `fatal` are checked like any kind.
    env.write(
        "bad.yaml",
        "name: bad\nsteps:\n  - name: s\n    chunk:\n      size: 2\n      reader: { plugin: testkit-reader, config: { items: [] } }\n      writer: { plugin: testkit-writer }\n      fault-tolerance: { fatal: { kinds: [\"db.\"] } }\n",
    );
    let out = env.run(&["validate", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("steps[0].chunk.fault-tolerance.fatal.kinds"),
        "{}",
        stderr(&out)
    );
}

/// A chunk ends early after `max(size, 100)` read skips (Spring's `maxSkipsOnRead`), so a
/// long run of bad records cannot keep one transaction open: 200 bad records after item 1 in
/// chunks of 3 commit as [1] (skips 2-101), [] (skips 102-201), then the rest.
#[tokio::test]
async fn a_run_of_read_skips_ends_the_chunk_after_max_size_100() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(TESTKIT);
    let items: Vec<String> = (1..=205).map(|i| format!("\"{i}\"")).collect();
    let fails: Vec<String> = (2..=201)
        .map(|i| format!("\"{i}\": {{ kind: validation }}"))
        .collect();
    env.write(
        "job.yaml",
        &format!(
            "name: read-skips\nsteps:\n  - name: s\n    chunk:\n      size: 3\n      reader: {{ plugin: testkit-reader, config: {{ items: [{}], fail: {{ {} }} }} }}\n      writer: {{ plugin: testkit-writer, config: {{ output: out.jsonl }} }}\n      fault-tolerance: {{ skip: {{ kinds: [validation], limit: 1000 }} }}\n",
            items.join(", "),
            fails.join(", ")
        ),
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let out: Vec<String> = env.read("out.jsonl").lines().map(str::to_owned).collect();
    assert_eq!(out, ["\"1\"", "\"202\"", "\"203\"", "\"204\"", "\"205\""]);
    let chunks = env
        .rows("SELECT CHUNK_NUMBER, COUNT(*), MIN(ITEM_POSITION), MAX(ITEM_POSITION) FROM BH_SKIPPED_ITEM GROUP BY CHUNK_NUMBER ORDER BY CHUNK_NUMBER")
        .await;
    assert_eq!(
        chunks,
        vec![vec!["1", "100", "2", "101"], vec!["2", "100", "102", "201"]]
    );
    let counts = env
        .rows("SELECT READ_COUNT, READ_SKIP_COUNT, WRITE_COUNT, COMMIT_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(counts, vec![vec!["5", "200", "5", "4"]]);
}

/// `retry.exclude` (Spring's `noRetry`): the excluded sub-kind is not retried although its
/// parent kind is, and goes straight to the skip.
#[tokio::test]
async fn retry_exclude_is_not_retried() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(TESTKIT);
    env.write(
        "job.yaml",
        r#"name: no-retry
steps:
  - name: s
    chunk:
      size: 4
      reader: { plugin: testkit-reader, config: { items: ["1", "2", "3", "4"] } }
      processor: { plugin: testkit-processor, config: { log: p.log, fail: { "2": { kind: io.fatal, times: always }, "3": { kind: io.timeout, times: 1 } } } }
      writer: { plugin: testkit-writer, config: { output: out.jsonl } }
      fault-tolerance:
        skip: { kinds: [io] }
        retry: { kinds: [io], exclude: [io.fatal], limit: 3 }
"#,
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let calls: Vec<String> = env.read("p.log").lines().map(str::to_owned).collect();
    // In place: one batch call, then 2 is skipped without a retry and 3 is retried once.
    assert_eq!(calls, ["\"1\"", "\"2\"", "\"3\"", "\"4\"", "\"3\""]);
    let counts = env
        .rows("SELECT PROCESS_SKIP_COUNT, WRITE_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    assert_eq!(counts, vec![vec!["1", "3"]]);
}
