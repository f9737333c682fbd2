//! CLI conventions through the real binary: `validate --json` and `run --json` for scripts,
//! global options grouped apart in `--help`, shell completions and the manual page.

use serde_json::Value;

use crate::support::*;

const JOB: &str = "name: scripted\nsteps:\n  - name: copy\n    chunk:\n      size: 4\n      reader: { builtin: csv, config: { path: in/members.csv } }\n      writer: { builtin: jsonl, config: { path: out/members.jsonl } }\n";

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(stdout(out).trim())
        .unwrap_or_else(|e| panic!("stdout is one JSON object ({e}): {}", stdout(out)))
}

#[tokio::test]
async fn validate_and_run_speak_json() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.write("in/members.csv", &members(10, |_| None));
    env.write("job.yaml", JOB);
    let out = env.run(&[
        "validate",
        "job.yaml",
        "--json",
        "--param",
        "run.date=2026-12-03,date",
    ]);
    assert_success(&out);
    let v = json(&out);
    assert_eq!(v["valid"], true);
    assert_eq!(v["job"], "scripted");
    assert_eq!(v["steps"][0]["name"], "copy");
    assert_eq!(v["steps"][0]["kind"], "chunk");
    assert_eq!(v["parameters"]["run.date"]["type"], "java.time.LocalDate");

    env.write("bad.yaml", "name: bad\nsteps:\n  - name: copy\n    chunk:\n      size: 0\n      reader: { builtin: nope }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n");
    let out = env.run(&["validate", "bad.yaml", "--json"]);
    assert_exit(&out, 2);
    let v = json(&out);
    assert_eq!(v["valid"], false);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{v}");
    assert_eq!(problems[0]["line"], 5);
    assert_eq!(problems[0]["field"], "steps[0].chunk.size");
    assert!(
        problems[1]["message"]
            .as_str()
            .unwrap()
            .contains("unknown built-in reader `nope`")
    );
    let out = env.run(&["validate", "missing.yaml", "--json"]);
    assert_exit(&out, 2);

    let out = env.run(&["run", "job.yaml", "--json"]);
    assert_success(&out);
    let v = json(&out);
    assert_eq!(v["execution"]["status"], "COMPLETED");
    assert_eq!(v["execution"]["execution_id"], 1);
    assert_eq!(v["restart"], false);
    assert_eq!(v["steps"][0]["step"], "copy");
    assert_eq!(v["steps"][0]["write"], 10);
    assert_eq!(v["steps"][0]["commit"], 3);
    assert_eq!(v["steps"][0]["already_complete"], false);
}

#[test]
fn help_completions_and_the_manual_page() {
    let bin = env!("CARGO_BIN_EXE_batch-host");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();
    let help = stdout(&run(&["run", "--help"]));
    let global = help
        .find("Global options:")
        .expect("a heading for the global options");
    let own = help.find("--no-progress").unwrap();
    let shared = help.find("--repository").unwrap();
    assert!(
        own < global && global < shared,
        "own options first, global ones apart:\n{help}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert_success(&out);
        let text = stdout(&out);
        assert!(
            text.contains("batch-host") && text.contains("worker"),
            "{shell}: {text}"
        );
    }
    let out = run(&["man"]);
    assert_success(&out);
    assert!(
        stdout(&out).starts_with(".ie") || stdout(&out).contains(".TH batch-host"),
        "{}",
        stdout(&out)
    );
}
