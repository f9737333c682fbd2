//! Partitioned steps through the real binary: `file-ranges` and `files` partitioners, workers
//! running at once, every row exactly once across the partitions' outputs, Spring's
//! manager/worker rows with summed counters, skip limits per partition, and a restart that runs
//! only the partition that failed.

use crate::support::*;

/// A manager step `migrate` partitioning `in/members.csv` into four byte ranges, two at a time,
/// for the worker `migrate-worker` (built-in csv → member-processor → one jsonl per partition)
/// that may skip one invalid email per partition.
const JOB: &str = "name: partitioned\nsteps:\n  - name: migrate\n    partition:\n      partitioner: { builtin: file-ranges, config: { path: in/members.csv, header: true } }\n      grid-size: 4\n      concurrency: 2\n      step: migrate-worker\n  - name: migrate-worker\n    chunk:\n      size: 50\n      reader: { builtin: csv, config: { path: in/members.csv, range: \"${partition.range}\" } }\n      processor: { plugin: member-processor }\n      writer: { builtin: jsonl, config: { path: \"out/members-${partition.index}.jsonl\" } }\n      fault-tolerance: { skip: { kinds: [validation], limit: 1 } }\n";

/// 1,000 members; rows 5, 260, 261 and 777 have invalid emails unless `fixed` repairs 261
/// (same length, so every byte range stays where it was).
fn data(fixed: bool) -> String {
    members(1000, |i| match i {
        261 if fixed => Some(format!("{i},Member {i},xmember{i}@example.com")),
        5 | 260 | 261 | 777 => Some(format!("{i},Member {i},member{i}@@example.com")),
        _ => None,
    })
}

/// Every id in the partitions' outputs, in partition order.
fn all_ids(env: &Env, partitions: usize) -> Vec<u64> {
    (0..partitions)
        .flat_map(|p| jsonl_ids(env, &format!("out/members-{p}.jsonl")))
        .collect()
}

async fn partitions_restart_only_what_failed(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return skip_postgres();
    };
    env.register(&["member-processor"]);
    env.write("in/members.csv", &data(false));
    env.write("job.yaml", JOB);
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("migrate-worker:partition1"),
        "the failed partition is named: {text}"
    );
    // Byte ranges: rows 1-257, 258-505, 506-753, 754-1000. Partition 1 holds two invalid rows,
    // one more than its skip limit; the others skip theirs and complete.
    let steps = env
        .rows("SELECT STEP_NAME, STATUS, READ_COUNT, WRITE_COUNT, PROCESS_SKIP_COUNT FROM BATCH_STEP_EXECUTION ORDER BY STEP_NAME")
        .await;
    let by_name = |name: &str| -> Vec<String> {
        steps
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no step execution {name} in {steps:?}"))[1..]
            .to_vec()
    };
    assert_eq!(
        by_name("migrate-worker:partition0"),
        ["COMPLETED", "257", "256", "1"]
    );
    assert_eq!(by_name("migrate-worker:partition1")[0], "FAILED");
    assert_eq!(
        by_name("migrate-worker:partition2"),
        ["COMPLETED", "248", "248", "0"]
    );
    assert_eq!(
        by_name("migrate-worker:partition3"),
        ["COMPLETED", "247", "246", "1"]
    );
    let manager = by_name("migrate");
    assert_eq!(manager[0], "FAILED");
    let sum = |col: usize| -> i64 {
        steps
            .iter()
            .filter(|r| r[0].starts_with("migrate-worker:"))
            .map(|r| r[col].parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(
        manager[1..],
        [sum(2).to_string(), sum(3).to_string(), sum(4).to_string()],
        "the manager's counters are its workers' sums"
    );
    let ctx = env
        .rows("SELECT SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT C JOIN BATCH_STEP_EXECUTION S ON S.STEP_EXECUTION_ID = C.STEP_EXECUTION_ID WHERE S.STEP_NAME = 'migrate-worker:partition2'")
        .await;
    assert!(
        ctx[0][0].contains("partition.range")
            && ctx[0][0].contains("\"start\":18378,\"end\":27554,\"line\":507"),
        "the partition's context is the worker's: {ctx:?}"
    );

    env.write("in/members.csv", &data(true));
    let out = env.run(&["restart", "1"]);
    assert_success(&out);
    let runs = env
        .rows("SELECT STEP_NAME, COUNT(*) FROM BATCH_STEP_EXECUTION GROUP BY STEP_NAME ORDER BY STEP_NAME")
        .await;
    assert_eq!(
        runs,
        [
            ["migrate", "2"],
            ["migrate-worker:partition0", "1"],
            ["migrate-worker:partition1", "2"],
            ["migrate-worker:partition2", "1"],
            ["migrate-worker:partition3", "1"],
        ],
        "the restart runs only the partition that failed"
    );
    let mut ids = all_ids(&env, 4);
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no row twice");
    let expected: Vec<u64> = (1..=1000).filter(|i| ![5, 260, 777].contains(i)).collect();
    assert!(ids == expected, "every valid row exactly once");
    let last = env
        .rows("SELECT STATUS, READ_COUNT, WRITE_COUNT, PROCESS_SKIP_COUNT FROM BATCH_STEP_EXECUTION WHERE STEP_NAME = 'migrate' ORDER BY STEP_EXECUTION_ID DESC")
        .await;
    // Row 260 is skipped again; the restart of partition 1 re-reads from its last commit.
    assert_eq!(last[0][0], "COMPLETED");
    env.cleanup().await;
}
both_backends!(
    a_failed_partition_restarts_alone,
    partitions_restart_only_what_failed
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_partitioner_runs_one_partition_per_file() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    for (name, rows) in [("a.csv", 10), ("b.csv", 20), ("c.csv", 30)] {
        env.write(&format!("in/{name}"), &members(rows, |_| None));
    }
    env.write("in/notes.txt", "not a partition");
    env.write(
        "job.yaml",
        "name: files\nsteps:\n  - name: all\n    partition:\n      partitioner: { builtin: files, config: { pattern: \"in/*.csv\" } }\n      concurrency: 3\n      step: one\n  - name: one\n    chunk:\n      size: 7\n      reader: { builtin: csv, config: { path: \"${partition.path}\" } }\n      processor: { plugin: member-processor }\n      writer: { builtin: jsonl, config: { path: \"out/${partition.file-name}.jsonl\" } }\n",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    for (name, rows) in [("a.csv", 10), ("b.csv", 20), ("c.csv", 30)] {
        assert_eq!(
            jsonl_ids(&env, &format!("out/{name}.jsonl")),
            (1..=rows).collect::<Vec<u64>>()
        );
    }
    let steps = env
        .rows("SELECT STEP_NAME, STATUS, READ_COUNT FROM BATCH_STEP_EXECUTION ORDER BY STEP_NAME")
        .await;
    assert_eq!(
        steps,
        [
            ["all", "COMPLETED", "60"],
            ["one:partition0", "COMPLETED", "10"],
            ["one:partition1", "COMPLETED", "20"],
            ["one:partition2", "COMPLETED", "30"],
        ]
    );
}

#[tokio::test]
async fn partition_mistakes_are_reported_before_anything_runs() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.write(
        "job.yaml",
        "name: wrong\nsteps:\n  - name: a\n    partition:\n      partitioner: { builtin: rows }\n      workers: remote\n      grid-size: 0\n      step: w\n  - name: w\n    tasklet: { plugin: none, config: { x: \"${partition.x}\" } }\n    next: [ { on: \"*\", end: COMPLETED } ]\n  - name: other\n    tasklet: { plugin: none, config: { y: \"${partition.y}\" } }\n",
    );
    let out = env.run(&["validate", "job.yaml"]);
    assert_exit(&out, 2);
    let text = stderr(&out);
    for expected in [
        "steps[0].partition.grid-size: grid-size 0 is out of range",
        "steps[0].partition.workers: remote workers claim partitions from a shared PostgreSQL repository",
        "steps[0].partition.partitioner.builtin: unknown partitioner `rows`",
        "steps[0].partition.step: the worker `w` has `next`",
        "steps[2].tasklet.config: `${partition.y}` is set only in a partition's worker step",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        !text.contains("${partition.x}` is set only"),
        "a worker may use partition keys: {text}"
    );
}

/// `batch-host stop` while partitions run: the running ones stop at a chunk boundary, the one
/// not started yet stays so, the job ends STOPPED (exit 5), and the same command finishes it
/// with every row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_reaches_every_running_partition() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.write("in/members.csv", &members(3000, |_| None));
    env.write(
        "job.yaml",
        "name: stoppable\nsteps:\n  - name: all\n    partition:\n      partitioner: { builtin: file-ranges, config: { path: in/members.csv } }\n      grid-size: 3\n      concurrency: 2\n      step: part\n  - name: part\n    chunk:\n      size: 1\n      reader: { builtin: csv, config: { path: in/members.csv, range: \"${partition.range}\" } }\n      writer: { builtin: jsonl, config: { path: \"out/p${partition.index}.jsonl\" } }\n",
    );
    assert_success(&env.run(&["validate", "job.yaml"]));
    let child = env
        .command()
        .args(["run", "job.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let commits = env
            .rows("SELECT COUNT(*) FROM BATCH_STEP_EXECUTION WHERE STEP_NAME LIKE 'part:%' AND COMMIT_COUNT >= 5")
            .await;
        if commits[0][0] == "2" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the partitions never got going"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_success(&env.run(&["stop", "1"]));
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 5);
    let steps = env
        .rows("SELECT STEP_NAME, STATUS FROM BATCH_STEP_EXECUTION ORDER BY STEP_NAME")
        .await;
    assert_eq!(
        steps,
        [
            ["all", "STOPPED"],
            ["part:partition0", "STOPPED"],
            ["part:partition1", "STOPPED"],
        ],
        "partition 2 never started"
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let ids: Vec<u64> = (0..3)
        .flat_map(|p| jsonl_ids(&env, &format!("out/p{p}.jsonl")))
        .collect();
    assert!(
        ids == (1..=3000).collect::<Vec<u64>>(),
        "every row exactly once, in order"
    );
}

/// `sql-ranges` over the rows a `sql-table` writer committed: row-number ranges, each read by
/// the built-in `sql-table` reader, every row exactly once.
async fn sql_ranges(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return skip_postgres();
    };
    env.register(&["member-processor"]);
    env.write(
        "in/members.csv",
        &members(100, |i| (i == 7).then(|| "7,Bad,bad@@example.com".into())),
    );
    env.write(
        "job.yaml",
        "name: tables\nsteps:\n  - name: load\n    chunk:\n      size: 10\n      reader: { builtin: csv, config: { path: in/members.csv } }\n      processor: { plugin: member-processor }\n      writer: { builtin: sql-table, config: { table: members } }\n      fault-tolerance: { skip: { kinds: [validation] } }\n  - name: export\n    partition:\n      partitioner: { builtin: sql-ranges, config: { table: members } }\n      grid-size: 3\n      step: export-part\n  - name: export-part\n    chunk:\n      size: 8\n      reader: { builtin: sql-table, config: { table: members, min: \"${partition.min}\", max: \"${partition.max}\" } }\n      writer: { builtin: jsonl, config: { path: \"out/part-${partition.index}.jsonl\" } }\n",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let ids: Vec<u64> = (0..3)
        .flat_map(|p| jsonl_ids(&env, &format!("out/part-{p}.jsonl")))
        .collect();
    let expected: Vec<u64> = (1..=100).filter(|i| *i != 7).collect();
    assert!(
        ids == expected,
        "every stored row once, in row order: {ids:?}"
    );
    // 99 rows numbered 1-99 in three ranges of 33.
    let parts = env
        .rows("SELECT S.STEP_NAME, S.READ_COUNT, C.SHORT_CONTEXT FROM BATCH_STEP_EXECUTION S JOIN BATCH_STEP_EXECUTION_CONTEXT C ON C.STEP_EXECUTION_ID = S.STEP_EXECUTION_ID WHERE S.STEP_NAME LIKE 'export-part:%' ORDER BY S.STEP_NAME")
        .await;
    let reads: Vec<&str> = parts.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(reads, ["33", "33", "33"]);
    assert!(
        parts[1][2].contains("\"partition.max\":66")
            && parts[1][2].contains("\"partition.min\":34"),
        "{parts:?}"
    );
    env.cleanup().await;
}
both_backends!(sql_ranges_split_a_table_by_row_number, sql_ranges);

/// A partitioner component (the `partitioner` world): `range-partitioner` splits row numbers
/// 1-99 into three ranges that the workers read with the built-in `sql-table` reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioner_component_computes_the_partitions() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor", "range-partitioner"]);
    let inspect = env.run(&["plugin", "inspect", "range-partitioner"]);
    assert!(
        stdout(&inspect).contains("partitioner"),
        "{}",
        stdout(&inspect)
    );
    env.write("in/members.csv", &members(99, |_| None));
    env.write(
        "job.yaml",
        "name: planned\nsteps:\n  - name: load\n    chunk:\n      size: 10\n      reader: { builtin: csv, config: { path: in/members.csv } }\n      processor: { plugin: member-processor }\n      writer: { builtin: sql-table, config: { table: members } }\n  - name: export\n    partition:\n      partitioner: { plugin: range-partitioner, config: { from: 1, to: 99 } }\n      grid-size: 3\n      step: part\n  - name: part\n    chunk:\n      size: 8\n      reader: { builtin: sql-table, config: { table: members, min: \"${partition.min}\", max: \"${partition.max}\" } }\n      writer: { builtin: jsonl, config: { path: \"out/p${partition.index}.jsonl\" } }\n",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    let lens: Vec<usize> = (0..3)
        .map(|p| jsonl_ids(&env, &format!("out/p{p}.jsonl")).len())
        .collect();
    assert_eq!(lens, [33, 33, 33]);
    let ids: Vec<u64> = (0..3)
        .flat_map(|p| jsonl_ids(&env, &format!("out/p{p}.jsonl")))
        .collect();
    assert!(ids == (1..=99).collect::<Vec<u64>>(), "{ids:?}");
    let manager = env
        .rows("SELECT C.SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT C JOIN BATCH_STEP_EXECUTION S ON S.STEP_EXECUTION_ID = C.STEP_EXECUTION_ID WHERE S.STEP_NAME = 'export'")
        .await;
    assert!(
        manager[0][0].contains("\"partition.min\":34"),
        "the plugin's keys, under partition.: {manager:?}"
    );
    // A config the plugin rejects fails the manager step with the plugin's message.
    env.write(
        "bad.yaml",
        "name: badplan\nsteps:\n  - name: export\n    partition:\n      partitioner: { plugin: range-partitioner, config: { from: 9, to: 1 } }\n      step: part\n  - name: part\n    chunk:\n      size: 8\n      reader: { builtin: sql-table, config: { table: members, min: \"${partition.min}\", max: \"${partition.max}\" } }\n      writer: { builtin: jsonl, config: { path: out/bad.jsonl } }\n",
    );
    let out = env.run(&["run", "bad.yaml"]);
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("`from: 9` is above `to: 1`"), "{text}");
}

/// A hostile partitioner: too many partitions, a key of the host's, a context above the limit —
/// each refused with a message naming the plugin, the manager step FAILED, nothing run.
#[tokio::test]
async fn a_hostile_partitioner_is_refused() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["hostile-partitioner"]);
    for (mode, expected) in [
        (
            "many",
            "partition returned 5000 partitions; at most 1024 are allowed",
        ),
        (
            "reserved",
            "returned the key `batch.stepType` in partition 0; `index`, `count` and `batch.*` are the host's",
        ),
        ("huge", "wasm.context-size"),
    ] {
        env.write(
            "job.yaml",
            &format!("name: hostile-{mode}\nsteps:\n  - name: m\n    partition:\n      partitioner: {{ plugin: hostile-partitioner, config: {{ mode: {mode} }} }}\n      step: w\n  - name: w\n    chunk:\n      size: 8\n      reader: {{ builtin: sql-table, config: {{ table: t }} }}\n      writer: {{ builtin: jsonl, config: {{ path: out.jsonl }} }}\n"),
        );
        let out = env.run(&["run", "job.yaml"]);
        assert_exit(&out, 1);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            text.contains(expected) && text.contains("hostile-partitioner"),
            "{mode}: {text}"
        );
    }
    let workers = env
        .rows("SELECT COUNT(*) FROM BATCH_STEP_EXECUTION WHERE STEP_NAME LIKE 'w:%'")
        .await;
    assert_eq!(workers, [["0"]], "no partition ran");
}
