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

/// On a terminal (a real pseudo-terminal, through util-linux `script`), progress shows the
/// elapsed time, the skips, and a percentage with an ETA when the reader knows its input size.
#[tokio::test]
async fn progress_on_a_terminal_shows_elapsed_skips_and_eta() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    env.write("members.csv", &members_csv(100_000, &[10, 50_000]));
    env.write(
        "job.yaml",
        "name: tty\nsteps:\n  - name: load\n    chunk:\n      size: 500\n      reader: { builtin: csv, config: { path: members.csv } }\n      processor: { plugin: member-processor }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n      fault-tolerance: { skip: { kinds: [validation] } }\n",
    );
    let out = on_terminal(&env, "run job.yaml", 200);
    assert_success(&out);
    let screen = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let frames: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("step `load`:"))
        .collect();
    assert!(!frames.is_empty(), "no progress drawn: {screen}");
    let last = frames.last().unwrap();
    assert!(
        last.contains("s · step `load`:"),
        "elapsed time first: {last}"
    );
    assert!(
        frames
            .iter()
            .any(|f| f.contains(" 2 skipped") || f.contains(" 1 skipped")),
        "skips shown: {frames:?}"
    );
    assert!(
        frames.iter().any(|f| f.contains("% · ETA ")),
        "percentage and ETA from the reader's size: {frames:?}"
    );
}

/// Runs `batch-host ARGS` on a pseudo-terminal `cols` columns wide (util-linux `script`).
fn on_terminal(env: &Env, args: &str, cols: u16) -> std::process::Output {
    let cmd = env.command();
    let mut script = std::process::Command::new("script");
    let line = format!(
        "stty cols {cols} rows 50; {} {args}",
        env!("CARGO_BIN_EXE_batch-host")
    );
    script
        .current_dir(env.path())
        .args(["-qec", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script.output().expect(
        "util-linux `script` runs the command on a pseudo-terminal (apt-get install util-linux)",
    )
}

/// Tables fit the terminal: a long job name and long parameters wrap inside their columns
/// instead of pushing the line past the terminal's width; piped output is never wrapped.
#[tokio::test]
async fn tables_fit_the_terminal_width() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let name = "a-job-with-a-name-long-enough-to-wrap-in-a-narrow-terminal-0123456789";
    env.write("in.csv", "id,name\n1,a\n");
    env.write(
        "job.yaml",
        &format!("name: {name}\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: {{ builtin: csv, config: {{ path: in.csv }} }}\n      writer: {{ builtin: jsonl, config: {{ path: out.jsonl }} }}\n"),
    );
    let long = format!("note={}", "x".repeat(120));
    assert_success(&env.run(&["run", "job.yaml", "--param", &long]));
    let out = on_terminal(&env, "executions", 110);
    assert_success(&out);
    let screen = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(screen.contains("EXECUTION  INSTANCE"), "{screen}");
    assert!(
        screen.lines().count() > 3,
        "the long cells wrapped: {screen}"
    );
    for line in screen.lines() {
        assert!(
            line.chars().count() <= 110,
            "{} columns: `{line}`",
            line.chars().count()
        );
    }
    let piped = stdout(&env.run(&["executions"]));
    assert!(
        piped.lines().any(|l| l.contains(name) && l.contains(&long)),
        "{piped}"
    );
}
