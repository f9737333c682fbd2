//! Plugins in Python and JavaScript: the member processor written in Rust, Python
//! (componentize-py) and JavaScript (componentize-js) gives the same output bytes and the same
//! error kinds and messages on the same input (a shared golden file); a JavaScript reader and a
//! Python writer restart after a SIGKILL with every member exactly once; `plugin inspect` names
//! the language that built each component.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

const GOLDEN: &str = include_str!("../data/members-golden.jsonl");
const EXPECTED: &str = include_str!("../data/members-golden.expected.jsonl");

fn golden_job(lang: &str, processor: &str) -> String {
    format!(
        "name: golden-{lang}\nsteps:\n  - name: members\n    chunk:\n      size: 4\n      reader: {{ builtin: jsonl, config: {{ path: members.jsonl }} }}\n      processor: {{ plugin: {processor} }}\n      writer: {{ builtin: jsonl, config: {{ path: out-{lang}.jsonl }} }}\n      fault-tolerance: {{ skip: {{ kinds: [validation, item], limit: 100 }} }}\n"
    )
}

/// (position, kind, message) of every skipped item of the job's execution.
async fn skipped(env: &Env, job: &str) -> Vec<(String, String, String)> {
    let rows = env
        .rows(
            "SELECT s.JOB_NAME, k.ITEM_POSITION, k.KIND, k.MESSAGE FROM BH_SKIPPED_ITEM k \
             JOIN BATCH_JOB_EXECUTION e ON e.JOB_EXECUTION_ID = k.JOB_EXECUTION_ID \
             JOIN BATCH_JOB_INSTANCE s ON s.JOB_INSTANCE_ID = e.JOB_INSTANCE_ID \
             ORDER BY k.ITEM_POSITION",
        )
        .await;
    rows.into_iter()
        .filter(|r| r[0] == job)
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone()))
        .collect()
}

#[tokio::test]
async fn the_member_processor_behaves_the_same_in_rust_python_and_javascript() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&[
        "member-processor",
        "member-processor-py",
        "member-processor-js",
    ]);
    env.write("members.jsonl", GOLDEN);
    let langs = [
        ("rust", "member-processor"),
        ("python", "member-processor-py"),
        ("js", "member-processor-js"),
    ];
    for (lang, processor) in langs {
        env.write(&format!("{lang}.yaml"), &golden_job(lang, processor));
        let out = env.run(&["run", &format!("{lang}.yaml")]);
        assert_success(&out);
    }
    // The Rust plugin's output is the reference, pinned in the expected file.
    let rust = env.read("out-rust.jsonl");
    assert_eq!(
        rust, EXPECTED,
        "the Rust member processor changed its output"
    );
    for (lang, _) in &langs[1..] {
        let out = env.read(&format!("out-{lang}.jsonl"));
        for (i, (want, got)) in rust.lines().zip(out.lines()).enumerate() {
            assert_eq!(
                got,
                want,
                "{lang}: output line {} differs from Rust's",
                i + 1
            );
        }
        assert_eq!(out, rust, "{lang}: the same lines, byte for byte");
    }
    let reference = skipped(&env, "golden-rust").await;
    let kinds: Vec<&str> = reference.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "validation.email").count(),
        8,
        "{reference:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "validation.required")
            .count(),
        5,
        "{reference:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "item.decode").count(),
        3,
        "{reference:?}"
    );
    for (lang, _) in &langs[1..] {
        let theirs = skipped(&env, &format!("golden-{lang}")).await;
        assert_eq!(theirs.len(), reference.len(), "{lang}: {theirs:?}");
        for (want, got) in reference.iter().zip(&theirs) {
            assert_eq!(
                (&got.0, &got.1),
                (&want.0, &want.1),
                "{lang}: position and kind"
            );
            // Validation messages are the plugin's own words and must match; a decode error's
            // text comes from each language's JSON parser.
            if want.1.starts_with("validation.") {
                assert_eq!(got.2, want.2, "{lang}: message at position {}", want.0);
            }
        }
    }
    // `plugin inspect` names the language of each.
    for (name, language) in [
        ("member-processor", "language:      Rust (rustc "),
        (
            "member-processor-py",
            "language:      Python 3.14 (componentize-py)",
        ),
        (
            "member-processor-js",
            "language:      JavaScript (ComponentizeJS 0.23.0)",
        ),
    ] {
        let out = env.run(&["plugin", "inspect", name]);
        assert_success(&out);
        assert!(stdout(&out).contains(language), "{}", stdout(&out));
    }
}

async fn commits(env: &Env) -> i64 {
    let rows = env
        .rows("SELECT CAST(COALESCE(SUM(COMMIT_COUNT), 0) AS BIGINT) FROM BATCH_STEP_EXECUTION")
        .await;
    rows[0][0].parse().unwrap_or(0)
}

/// A JavaScript reader, the Python member processor and a Python writer: killed with SIGKILL
/// after a few commits, recovered and restarted, the output holds every valid member exactly
/// once, in order, and the dead-letter table every invalid one exactly once.
#[tokio::test]
async fn python_and_javascript_plugins_restart_exactly_once_after_sigkill() {
    const COUNT: u64 = 60_000;
    const EVERY: u64 = 97;
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&[
        "member-generator-js",
        "member-processor-py",
        "jsonl-writer-py",
    ]);
    env.write(
        "job.yaml",
        &format!(
            "name: polyglot\nsteps:\n  - name: members\n    chunk:\n      size: 100\n      reader: {{ plugin: member-generator-js, config: {{ count: {COUNT}, invalid-every: {EVERY} }} }}\n      processor: {{ plugin: member-processor-py }}\n      writer: {{ plugin: jsonl-writer-py, config: {{ path: out/members.jsonl, sync: false }} }}\n      fault-tolerance: {{ skip: {{ kinds: [validation], limit: 1000 }} }}\n"
        ),
    );
    let mut child = env
        .command()
        .args(["run", "job.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once a few chunks are committed; no fixed deadline, only a progress check.
    let mut progress = (-1, Instant::now());
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        let done = commits(&env).await;
        if done >= 5 {
            break;
        }
        if done != progress.0 {
            progress = (done, Instant::now());
        } else if progress.1.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("no commit for 120 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let id = env
        .rows("SELECT JOB_EXECUTION_ID FROM BATCH_JOB_EXECUTION")
        .await[0][0]
        .clone();
    assert_success(&env.run(&["recover", &id]));
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert!(stdout(&out).contains("(restart)"), "{}", stdout(&out));

    let ids: Vec<u64> = env
        .read("out/members.jsonl")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            assert_eq!(
                v["email"].as_str().unwrap(),
                format!("member.{}@example.com", v["id"]),
                "normalised by the Python processor: {l}"
            );
            assert_eq!(v["name"], format!("Member {}", v["id"]), "trimmed: {l}");
            v["id"].as_u64().unwrap()
        })
        .collect();
    let want: Vec<u64> = (1..=COUNT).filter(|n| n % EVERY != 0).collect();
    assert_eq!(ids.len(), want.len(), "every valid member exactly once");
    assert_eq!(ids, want, "in order");
    let dead = env
        .rows("SELECT ITEM_POSITION, KIND FROM BH_SKIPPED_ITEM ORDER BY ITEM_POSITION")
        .await;
    assert_eq!(
        dead.len() as u64,
        COUNT / EVERY,
        "every invalid member exactly once"
    );
    assert!(dead.iter().all(|r| r[1] == "validation.email"), "{dead:?}");
    let steps = env
        .rows("SELECT STATUS FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    assert_eq!(steps, vec![vec!["FAILED"], vec!["COMPLETED"]]);
}
