//! `processor.concurrency` through the real binary: several processor instances on slices of
//! each chunk leave exactly what one instance leaves — the same output bytes, counters, commits,
//! checkpoints, skipped items and positions, the same failure and the same restart — and a trap
//! in one slice is attributed to its item. The plan refuses concurrency where it cannot keep that.

use batch_host::repository::JobExplorer as _;

use crate::support::*;

/// built-in csv → member-processor with `concurrency` → built-in jsonl, skipping up to eight
/// `validation` errors.
fn job(concurrency: usize) -> String {
    format!(
        "name: concurrent\nsteps:\n  - name: migrate\n    chunk:\n      size: 64\n      reader: {{ builtin: csv, config: {{ path: in/members.csv }} }}\n      processor: {{ plugin: member-processor, concurrency: {concurrency} }}\n      writer: {{ builtin: jsonl, config: {{ path: out/members.jsonl }} }}\n      fault-tolerance: {{ skip: {{ kinds: [validation], limit: 8 }} }}\n"
    )
}

const INVALID: [usize; 10] = [1, 2, 64, 65, 300, 301, 302, 640, 999, 1000];

/// The input: ten invalid emails and a stray quote at row 500; `fixed` repairs the emails at and
/// after row 640 without moving a byte.
fn data(fixed: bool) -> String {
    members(1000, |i| match i {
        500 => Some("500,\"Dee,dee500@example.com".into()),
        i if fixed && i >= 640 && INVALID.contains(&i) => {
            Some(format!("{i},Member {i},xmember{i}@example.com"))
        }
        i if INVALID.contains(&i) => Some(format!("{i},Member {i},member{i}@@example.com")),
        _ => None,
    })
}

/// Everything a run leaves behind that must not depend on how many instances processed it.
#[derive(Debug, PartialEq)]
struct Trace {
    exits: Vec<i32>,
    outputs: Vec<String>,
    steps: Vec<Vec<String>>,
    contexts: Vec<Vec<String>>,
    skipped: Vec<(i64, String, String, Option<Vec<u8>>)>,
}

/// Runs the job (which fails at its ninth skip), repairs the input and restarts it.
async fn run(backend: Backend, concurrency: usize) -> Option<Trace> {
    let env = Env::new(backend).await?;
    env.register(&["member-processor"]);
    env.write("in/members.csv", &data(false));
    env.write("job.yaml", &job(concurrency));
    let mut exits = Vec::new();
    let mut outputs = Vec::new();
    let first = env.run(&["run", "job.yaml"]);
    exits.push(first.status.code().unwrap_or(-1));
    outputs.push(env.read("out/members.jsonl"));
    env.write("in/members.csv", &data(true));
    let second = env.run(&["restart", "1"]);
    exits.push(second.status.code().unwrap_or(-1));
    outputs.push(env.read("out/members.jsonl"));
    let steps = env
        .rows("SELECT STATUS, EXIT_CODE, READ_COUNT, WRITE_COUNT, FILTER_COUNT, READ_SKIP_COUNT, PROCESS_SKIP_COUNT, WRITE_SKIP_COUNT, COMMIT_COUNT, ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    let contexts = env
        .rows("SELECT SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT ORDER BY STEP_EXECUTION_ID")
        .await;
    let repo = env.repo().await;
    let mut skipped = Vec::new();
    for execution in [1, 2] {
        for (_, s) in repo.skipped_items(execution).await.unwrap() {
            skipped.push((s.position, s.kind, s.message, s.payload));
        }
    }
    repo.close().await;
    env.cleanup().await;
    Some(Trace {
        exits,
        outputs,
        steps,
        contexts,
        skipped,
    })
}

async fn serial_and_concurrent_runs_are_the_same(backend: Backend) {
    let Some(serial) = run(backend, 1).await else {
        return skip_postgres();
    };
    // What the serial run must be in any case, so two equally wrong runs cannot pass.
    assert_eq!(
        serial.exits,
        [1, 0],
        "fails at the ninth skip, then completes"
    );
    let ids = |text: &str| -> Vec<u64> {
        text.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let skipped_first: [usize; 8] = [1, 2, 64, 65, 300, 301, 302, 500];
    // Nine chunks of 64 items committed; the read skip at 500 takes no slot, so row 577 is in.
    let committed: Vec<u64> = (1..=577u64)
        .filter(|i| !skipped_first.contains(&(*i as usize)))
        .collect();
    assert!(
        ids(&serial.outputs[0]) == committed,
        "nine chunks committed"
    );
    let all: Vec<u64> = (1..=1000u64)
        .filter(|i| !skipped_first.contains(&(*i as usize)))
        .collect();
    assert!(ids(&serial.outputs[1]) == all, "every row exactly once");
    assert_eq!(
        serial.steps,
        [
            [
                "FAILED", "FAILED", "640", "569", "0", "1", "7", "0", "9", "1"
            ],
            [
                "COMPLETED",
                "COMPLETED",
                "423",
                "423",
                "0",
                "0",
                "0",
                "0",
                "7",
                "0"
            ],
        ]
    );
    let positions: Vec<i64> = serial.skipped.iter().map(|s| s.0).collect();
    assert_eq!(positions, [1, 2, 64, 65, 300, 301, 302, 500]);

    for concurrency in [2, 3, 5] {
        let concurrent = run(backend, concurrency).await.unwrap();
        assert_eq!(
            concurrent, serial,
            "concurrency {concurrency} must leave exactly what the serial run leaves"
        );
    }
}
both_backends!(
    processor_concurrency_keeps_the_serial_results,
    serial_and_concurrent_runs_are_the_same
);

/// A trap in one slice: that instance is replaced, the slice's items are processed alone and
/// the trap is skipped at its own item — as with one instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_one_slice_is_skipped_at_its_item() {
    let mut seen = Vec::new();
    for concurrency in [1, 4] {
        let env = Env::new(Backend::Sqlite).await.unwrap();
        env.register(&["panic-processor"]);
        env.write("in/members.csv", &members(100, |_| None));
        env.write(
            "job.yaml",
            &format!("name: traps\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: {{ builtin: csv, config: {{ path: in/members.csv }} }}\n      processor: {{ plugin: panic-processor, concurrency: {concurrency}, config: {{ panic-on: \"28\" }} }}\n      writer: {{ builtin: jsonl, config: {{ path: out.jsonl }} }}\n      fault-tolerance: {{ skip: {{ kinds: [wasm.trap] }} }}\n"),
        );
        assert_success(&env.run(&["run", "job.yaml"]));
        let out = env.read("out.jsonl");
        assert_eq!(out.lines().count(), 99);
        assert!(!out.contains("\"id\":\"28\""));
        let steps = env
            .rows("SELECT READ_COUNT, WRITE_COUNT, PROCESS_SKIP_COUNT, COMMIT_COUNT, ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION")
            .await;
        // Ten chunks and the final empty one (Spring Batch 5 counts it).
        assert_eq!(steps, [["100", "99", "1", "11", "0"]]);
        let skipped = env
            .rows("SELECT PHASE, KIND, ITEM_POSITION FROM BH_SKIPPED_ITEM")
            .await;
        assert_eq!(skipped, [["process", "wasm.trap", "28"]]);
        seen.push(out);
        env.cleanup().await;
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn concurrency_is_refused_where_it_cannot_keep_the_serial_results() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    env.write("in/members.csv", &members(3, |_| None));
    env.write(
        "job.yaml",
        "name: refused\nsteps:\n  - name: a\n    chunk:\n      size: 10\n      reader: { builtin: csv, concurrency: 2, config: { path: in/members.csv } }\n      processor: { plugin: member-processor, concurrency: 0 }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n  - name: b\n    chunk:\n      size: 10\n      reader: { builtin: csv, config: { path: in/members.csv } }\n      processor: { plugin: member-processor, concurrency: 2 }\n      writer: { builtin: jsonl, config: { path: out2.jsonl } }\n      fault-tolerance: { model: replay, skip: { kinds: [validation] } }\n",
    );
    let out = env.run(&["validate", "job.yaml"]);
    assert_exit(&out, 2);
    let text = stderr(&out);
    for expected in [
        "job.yaml:6:44: steps[0].chunk.reader.concurrency: a reader cannot run concurrently",
        "job.yaml:7:59: steps[0].chunk.processor.concurrency: concurrency 0 is out of range",
        "hint: use a whole number from 1 to 32",
        "job.yaml:13:59: steps[1].chunk.processor.concurrency: the `replay` model processes items one by one",
        "hint: use `model: in-place` (the default), or drop `concurrency`",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}
