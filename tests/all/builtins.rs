//! The host's built-in readers and writers (`builtin: csv`, `builtin: jsonl`) through the real
//! binary: strict CSV with its error texts and raw bytes kept, restarts mid-file, quoting, BOM
//! and CRLF, the CSV writer, paths inside the grant, and `durability`.

use batch_host::repository::JobExplorer as _;

use crate::support::*;

/// A job: built-in csv → member-processor → built-in jsonl; `ft` is the fault-tolerance map.
fn job(ft: &str) -> String {
    format!(
        "name: builtins\nsteps:\n  - name: migrate\n    chunk:\n      size: 100\n      reader: {{ builtin: csv, config: {{ path: in/members.csv }} }}\n      processor: {{ plugin: member-processor }}\n      writer: {{ builtin: jsonl, config: {{ path: out/members.jsonl }} }}\n{ft}"
    )
}

const SKIP_VALIDATION: &str =
    "      fault-tolerance: { skip: { kinds: [validation], limit: 1000 } }\n";

/// The file, which must exist (a missing output is a failure, never an empty file).
fn output(env: &Env, rel: &str) -> String {
    std::fs::read_to_string(env.path().join(rel))
        .unwrap_or_else(|e| panic!("{rel} was not written: {e}"))
}

fn ids(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            v["id"].as_str().expect("an id").parse().expect("numeric")
        })
        .collect()
}

async fn quoting_bom_crlf_and_skips(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return skip_postgres();
    };
    env.register(&["member-processor"]);
    let csv = "\u{feff}id,name,email\r\n1,\"Lee, Ann\",ANN@Example.COM\r\n2,  Bo  ,bo@example\r\n\r\n3,\"say \"\"hi\"\"\",hi@example.com\r\n4,\"Dee,dee@example.com\r\n5,Eve,eve@example.com";
    env.write("in/members.csv", csv);
    env.write("job.yaml", &job(SKIP_VALIDATION));
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    let text = output(&env, "out/members.jsonl");
    assert_eq!(
        text,
        "{\"id\":\"1\",\"name\":\"Lee, Ann\",\"email\":\"ann@example.com\"}\n{\"id\":\"3\",\"name\":\"say \\\"hi\\\"\",\"email\":\"hi@example.com\"}\n{\"id\":\"5\",\"name\":\"Eve\",\"email\":\"eve@example.com\"}\n",
        "header order, trimmed by the processor, quotes undone, the BOM and CRLF gone"
    );
    let counts = env
        .rows("SELECT STATUS, READ_COUNT, WRITE_COUNT, READ_SKIP_COUNT, PROCESS_SKIP_COUNT, ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION")
        .await;
    // In place: the invalid email is skipped where it stands, without a rollback.
    assert_eq!(counts, vec![vec!["COMPLETED", "4", "3", "1", "1", "0"]]);
    let skipped = env.repo().await.skipped_items(1).await.unwrap();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    let read = skipped
        .iter()
        .find(|(_, s)| s.kind.starts_with("validation.csv"))
        .unwrap();
    assert_eq!(read.1.kind, "validation.csv.quote");
    assert_eq!(
        read.1.message,
        "in/members.csv: line 6, column 3: a quoted field is not closed on its line (set `multiline: true` if quoted fields contain line breaks)"
    );
    assert_eq!(
        read.1.payload.as_deref(),
        Some(&b"4,\"Dee,dee@example.com"[..]),
        "the raw bytes of the bad record"
    );
    assert_eq!(
        read.1.position, 4,
        "positions count records from the start of the input"
    );
    let process = skipped
        .iter()
        .find(|(_, s)| s.kind == "validation.email")
        .unwrap();
    assert_eq!(process.1.position, 2);
    env.cleanup().await;
}
both_backends!(csv_quoting_bom_crlf_and_skips, quoting_bom_crlf_and_skips);

#[tokio::test]
async fn a_stray_quote_fails_one_record_and_never_swallows_the_rest() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    env.write(
        "in/members.csv",
        &members(3000, |i| {
            (i == 2000).then(|| "2000,\"Broken,member2000@example.com".into())
        }),
    );
    env.write("job.yaml", &job(SKIP_VALIDATION));
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    let written = ids(&output(&env, "out/members.jsonl"));
    assert_eq!(written.len(), 2999);
    assert!(!written.contains(&2000));
    assert_eq!(written.last(), Some(&3000));
    let skipped = env.repo().await.skipped_items(1).await.unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        skipped[0].1.payload.as_deref(),
        Some(&b"2000,\"Broken,member2000@example.com"[..])
    );
    assert!(
        skipped[0].1.message.contains("line 2001, column 6"),
        "{}",
        skipped[0].1.message
    );

    // Without a skip rule the step fails, naming the file, the line and the column.
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    env.write(
        "in/members.csv",
        &members(300, |i| {
            (i == 200).then(|| "200,\"Broken,member200@example.com".into())
        }),
    );
    env.write("job.yaml", &job(""));
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains(
            "in/members.csv: line 201, column 5: a quoted field is not closed on its line"
        ),
        "{all}"
    );
    assert_eq!(
        ids(&output(&env, "out/members.jsonl")).len(),
        100,
        "the first chunk committed, nothing after it"
    );
}

#[tokio::test]
async fn csv_errors_name_the_line_and_keep_the_record() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    let mut bytes =
        b"id,name,email\n1,Ann,ann@example.com\n2,Bo,bo@example.com,extra\n3,Ca".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"l,cal@example.com\n4,Di\"d,di@example.com\n5,\"Ed\"x,ed@example.com\n6,Flo,flo@example.com\n");
    std::fs::create_dir_all(env.path().join("in")).unwrap();
    std::fs::write(env.path().join("in/members.csv"), &bytes).unwrap();
    env.write("job.yaml", &job(SKIP_VALIDATION));
    assert_success(&env.run(&["run", "job.yaml"]));
    assert_eq!(ids(&output(&env, "out/members.jsonl")), [1, 6]);
    let skipped = env.repo().await.skipped_items(1).await.unwrap();
    let got: Vec<(String, String, i64)> = skipped
        .iter()
        .map(|(_, s)| (s.kind.clone(), s.message.clone(), s.position))
        .collect();
    assert_eq!(
        got,
        vec![
            ("validation.csv.fields".into(), "in/members.csv: line 3 has 4 fields, the header has 3".into(), 2),
            ("validation.csv.encoding".into(), "in/members.csv: line 4 is not valid UTF-8 (byte 5 of the record); convert the file to UTF-8".into(), 3),
            ("validation.csv.quote".into(), "in/members.csv: line 5, column 5: a \" inside an unquoted field; quote the whole field and double the \" inside it".into(), 4),
            ("validation.csv.quote".into(), "in/members.csv: line 6, column 7: text after the closing \" of a field".into(), 5),
        ]
    );
    assert_eq!(
        skipped[1].1.payload.as_deref(),
        Some(&b"3,Ca\xff\xfel,cal@example.com"[..]),
        "the raw bytes, not a lossy conversion"
    );
}

#[tokio::test]
async fn header_only_and_empty_files_read_nothing() {
    for content in ["id,name,email\n", ""] {
        let env = Env::new(Backend::Sqlite).await.unwrap();
        env.register(&["member-processor"]);
        env.write("in/members.csv", content);
        env.write("job.yaml", &job(""));
        assert_success(&env.run(&["run", "job.yaml"]));
        assert_eq!(output(&env, "out/members.jsonl"), "", "{content:?}");
        let counts = env
            .rows("SELECT STATUS, READ_COUNT, WRITE_COUNT FROM BATCH_STEP_EXECUTION")
            .await;
        assert_eq!(counts, vec![vec!["COMPLETED", "0", "0"]]);
    }
}

async fn restart_mid_file(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return skip_postgres();
    };
    env.register(&["member-processor"]);
    // Row 250 has an invalid email and the step has no skip rule: it fails in its third chunk.
    let bad = "250,Member 250,member250@@example.com";
    let fixed = "250,Member 250,xmember250@example.com";
    assert_eq!(bad.len(), fixed.len(), "the fix keeps every byte offset");
    env.write(
        "in/members.csv",
        &members(1000, |i| (i == 250).then(|| bad.into())),
    );
    env.write("job.yaml", &job(""));
    assert_exit(&env.run(&["run", "job.yaml"]), 1);
    assert_eq!(
        ids(&output(&env, "out/members.jsonl")),
        (1..=200).collect::<Vec<_>>()
    );
    env.write(
        "in/members.csv",
        &members(1000, |i| (i == 250).then(|| fixed.into())),
    );
    let out = env.run(&["restart", "1"]);
    assert_success(&out);
    assert_eq!(
        ids(&output(&env, "out/members.jsonl")),
        (1..=1000).collect::<Vec<_>>(),
        "every row exactly once"
    );
    let ctx = env
        .rows("SELECT SHORT_CONTEXT FROM BATCH_STEP_EXECUTION_CONTEXT ORDER BY STEP_EXECUTION_ID")
        .await;
    assert!(ctx[0][0].contains("\"reader.offset\""), "{ctx:?}");

    // A file shorter than the committed offset changed since the run: refused, never guessed.
    env.write(
        "in/members.csv",
        &members(1000, |i| (i == 250).then(|| bad.into())),
    );
    assert_exit(&env.run(&["run", "job.yaml", "--param", "n=2"]), 1);
    env.write("in/members.csv", "id,name,email\n1,a,a@example.com\n");
    let out = env.run(&["restart", "3"]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("io.input-changed") && all.contains("the file changed since that run"),
        "{all}"
    );
    env.cleanup().await;
}
both_backends!(csv_restart_mid_file_is_exactly_once, restart_mid_file);

#[tokio::test]
async fn jsonl_reader_to_csv_writer_round_trip() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.write(
        "in/items.jsonl",
        "{\"id\":1,\"name\":\"Lee, Ann\",\"note\":\"say \\\"hi\\\"\"}\n\n{\"id\":2,\"name\":\"Bo\",\"note\":null}\nnot json\n{\"id\":3,\"name\":\"line\\nbreak\",\"note\":true}\n",
    );
    env.write(
        "job.yaml",
        "name: to-csv\nsteps:\n  - name: export\n    chunk:\n      size: 2\n      reader: { builtin: jsonl, config: { path: in/items.jsonl } }\n      writer: { builtin: csv, config: { path: out/items.csv, columns: [id, name, note] } }\n      fault-tolerance: { skip: { kinds: [validation] } }\n",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    assert_eq!(
        output(&env, "out/items.csv"),
        "id,name,note\n1,\"Lee, Ann\",\"say \"\"hi\"\"\"\n2,Bo,\n3,\"line\nbreak\",true\n"
    );
    let skipped = env.repo().await.skipped_items(1).await.unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].1.kind, "validation.jsonl");
    assert!(
        skipped[0]
            .1
            .message
            .starts_with("in/items.jsonl: line 4 is not JSON"),
        "{}",
        skipped[0].1.message
    );
    assert_eq!(skipped[0].1.payload.as_deref(), Some(&b"not json"[..]));

    // The CSV file reads back through the built-in csv reader, line breaks in quotes included.
    env.write(
        "back.yaml",
        "name: back\nsteps:\n  - name: import\n    chunk:\n      size: 10\n      reader: { builtin: csv, config: { path: out/items.csv, multiline: true } }\n      writer: { builtin: jsonl, config: { path: out/back.jsonl } }\n",
    );
    assert_success(&env.run(&["run", "back.yaml"]));
    assert_eq!(
        output(&env, "out/back.jsonl"),
        "{\"id\":\"1\",\"name\":\"Lee, Ann\",\"note\":\"say \\\"hi\\\"\"}\n{\"id\":\"2\",\"name\":\"Bo\",\"note\":\"\"}\n{\"id\":\"3\",\"name\":\"line\\nbreak\",\"note\":\"true\"}\n"
    );
}

#[tokio::test]
async fn builtin_paths_stay_inside_the_grant() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.write(
        "job.yaml",
        "name: escape\nsteps:\n  - name: a\n    chunk:\n      size: 2\n      reader: { builtin: csv, config: { path: ../outside.csv } }\n      writer: { builtin: jsonl, config: { path: /tmp/abs.jsonl } }\n",
    );
    let out = env.run(&["validate", "job.yaml"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("steps[0].chunk.reader.config.path: `../outside.csv` is not a path inside the step's directory"), "{err}");
    assert!(err.contains("steps[0].chunk.writer.config.path: `/tmp/abs.jsonl` is not a path inside the step's directory"), "{err}");

    // A symbolic link that leads out of the grant is refused when the file is opened.
    env.write_outside("secret.csv", "id\n1\n");
    std::os::unix::fs::symlink(
        env.dir.path().join("secret.csv"),
        env.path().join("link.csv"),
    )
    .unwrap();
    env.write(
        "job.yaml",
        "name: escape\nsteps:\n  - name: a\n    chunk:\n      size: 2\n      reader: { builtin: csv, config: { path: link.csv } }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("cannot open `link.csv`: it leads outside the step's directory"),
        "{all}"
    );

    // A read-only grant: the writer refuses to open.
    std::fs::create_dir_all(env.path().join("ro")).unwrap();
    env.write("ro/in.csv", "id\n1\n");
    env.write(
        "job.yaml",
        "name: ro\nsteps:\n  - name: a\n    directory: ro\n    read-only: true\n    chunk:\n      size: 2\n      reader: { builtin: csv, config: { path: in.csv } }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n",
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("the step's directory is granted read-only"),
        "{all}"
    );
    assert!(!env.path().join("ro/out.jsonl").exists());
}

#[tokio::test]
async fn durability_levels() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let repo = batch_host::repository::SqlRepository::connect(&env.url)
        .await
        .unwrap();
    assert_eq!(
        repo.sqlite_synchronous().await,
        Some(1),
        "NORMAL by default"
    );
    let repo = repo
        .with_durability(batch_host::domain::Durability::PowerLoss)
        .await
        .unwrap();
    assert_eq!(
        repo.sqlite_synchronous().await,
        Some(2),
        "FULL for power-loss"
    );
    repo.close().await;

    env.write("in.csv", "id,v\n1,a\n2,b\n3,c\n");
    env.write(
        "job.yaml",
        "name: durable\ndurability: power-loss\nsteps:\n  - name: a\n    chunk:\n      size: 2\n      reader: { builtin: csv, config: { path: in.csv } }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n",
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    assert_eq!(output(&env, "out.jsonl").lines().count(), 3);
    env.write("bad.yaml", "name: durable\ndurability: always\nsteps:\n  - name: a\n    chunk:\n      size: 2\n      reader: { builtin: csv, config: { path: in.csv } }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n");
    let out = env.run(&["validate", "bad.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("bad.yaml:2:13: durability: unknown durability `always`"),
        "{}",
        stderr(&out)
    );
}

async fn positions_across_restart(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return skip_postgres();
    };
    env.register(&["member-processor"]);
    let bad_email = |i: usize| format!("{i},Member {i},member{i}@@example.com");
    let broken = "650,Member,650,member650@example.com"; // four fields: not skippable here
    let fixed = "650,Member 650,member650@example.com";
    assert_eq!(broken.len(), fixed.len());
    let data = |row650: &str| {
        members(1000, |i| match i {
            150 | 750 => Some(bad_email(i)),
            650 => Some(row650.to_owned()),
            _ => None,
        })
    };
    env.write("in/members.csv", &data(broken));
    env.write(
        "job.yaml",
        &job("      fault-tolerance: { skip: { kinds: [validation.email], limit: 10 } }\n"),
    );
    let out = env.run(&["run", "job.yaml"]);
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("item 650") && all.contains("line 651 has 4 fields"),
        "{all}"
    );
    env.write("in/members.csv", &data(fixed));
    assert_success(&env.run(&["restart", "1"]));
    let mut written = ids(&output(&env, "out/members.jsonl"));
    written.sort();
    let expected: Vec<u64> = (1..=1000).filter(|i| *i != 150 && *i != 750).collect();
    assert_eq!(written, expected, "exactly once across the restart");
    let repo = env.repo().await;
    let first = repo.skipped_items(1).await.unwrap();
    let second = repo.skipped_items(2).await.unwrap();
    let positions = |v: &[(String, batch_host::domain::SkippedItem)]| {
        v.iter().map(|(_, s)| s.position).collect::<Vec<_>>()
    };
    assert_eq!(positions(&first), [150]);
    assert_eq!(
        positions(&second),
        [750],
        "counted from the start of the input, not of the restart"
    );
    env.cleanup().await;
}
both_backends!(
    positions_count_from_the_start_of_the_input,
    positions_across_restart
);
