//! Plugin authoring: `plugin new` writes a project outside the repository, `plugin build`
//! builds it into a component (wasm32-wasip2) and registers it, and its sample job runs as it
//! is — the README's tour, through the real binary, for every role.

use crate::support::*;

/// The guests' target directory (its wasm32-wasip2 standard library is already built by
/// `make plugins`), so each project compiles only itself.
fn shared_target() -> String {
    format!("{}/../target/guests", env!("CARGO_MANIFEST_DIR"))
}

fn build(env: &Env, dir: &str, register: bool) -> std::process::Output {
    let mut args = vec!["plugin", "build", dir];
    let target = shared_target();
    args.extend(["--target-dir", &target]);
    if register {
        args.push("--register");
    }
    env.run(&args)
}

#[tokio::test]
async fn a_new_processor_builds_registers_runs_and_restarts() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let out = env.run(&["plugin", "new", "member-check", "--role", "processor"]);
    assert_success(&out);
    assert!(stdout(&out).contains("next: cd member-check && batch-host plugin build --register"));
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
        "job.yaml",
        "input.csv",
    ] {
        assert!(
            env.path().join("member-check").join(file).is_file(),
            "{file}"
        );
    }
    // A second `new` into the same folder is refused rather than overwriting.
    let out = env.run(&["plugin", "new", "member-check", "--role", "reader"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("already exists and is not empty"),
        "{}",
        stderr(&out)
    );

    let out = build(&env, "member-check", true);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("(processor plugin,"), "{text}");
    assert!(text.contains("registered member-check@0.1.0"), "{text}");
    let wasm = env.path().join("member-check/member-check.wasm");
    assert!(text.contains(&sha256sum(&wasm)), "{text}");

    // The sample job runs from the project folder as it is: the nameless member is skipped.
    let job = "member-check/job.yaml";
    assert_success(&env.run(&["validate", job]));
    assert_success(&env.run(&["run", job]));
    let out: Vec<String> = env
        .read("member-check/out.jsonl")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(out[0].contains("\"ADA\""), "{out:?}");
    let skipped = env
        .rows("SELECT KIND, ITEM_POSITION FROM BH_SKIPPED_ITEM")
        .await;
    assert_eq!(skipped, vec![vec!["validation.missing", "3"]]);

    // Edit → rebuild → a failing run → restart from the last committed chunk.
    let lib = env.path().join("member-check/src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace(
            "item.insert(self.config.field.clone(), Value::String(value));",
            "if value == \"EDSGER\" && std::fs::metadata(\"boom\").is_ok() {\n            return Err(Error::io(\"boom\", \"the boom file exists\"));\n        }\n        item.insert(self.config.field.clone(), Value::String(value));",
        ),
    )
    .unwrap();
    let out = build(&env, "member-check", false);
    assert_success(&out);
    assert!(stdout(&out).contains("register it with: batch-host plugin register"));
    let out = env.run(&[
        "plugin",
        "register",
        wasm.to_str().unwrap(),
        "--version",
        "0.2.0",
    ]);
    assert_success(&out);
    env.write("member-check/boom", "");
    let run = ["run", job, "--param", "run.id=2,long"];
    assert_exit(&env.run(&run), 1);
    std::fs::remove_file(env.path().join("member-check/boom")).unwrap();
    let out = env.run(&run);
    assert_success(&out);
    assert!(stdout(&out).contains("(restart)"), "{}", stdout(&out));
    let steps = env
        .rows("SELECT STATUS, READ_COUNT, WRITE_COUNT FROM BATCH_STEP_EXECUTION ORDER BY STEP_EXECUTION_ID")
        .await;
    // Chunks of 2: [1,2] committed, [3,4] failed on 4; the restart reads from 3 on.
    assert_eq!(
        steps,
        vec![
            vec!["COMPLETED", "5", "4"],
            vec!["FAILED", "4", "2"],
            vec!["COMPLETED", "3", "2"],
        ]
    );
}

#[tokio::test]
async fn every_role_template_builds_and_its_sample_job_runs() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    for (role, check) in [
        ("reader", "out.jsonl"),
        ("writer", "out.jsonl"),
        ("tasklet", "done.txt"),
        ("decider", "out.jsonl"),
    ] {
        let name = format!("my-{role}");
        assert_success(&env.run(&["plugin", "new", &name, "--role", role]));
        let out = build(&env, &name, true);
        assert_success(&out);
        assert!(
            stdout(&out).contains(&format!("({role} plugin,")),
            "{}",
            stdout(&out)
        );
        let out = env.run(&["run", &format!("{name}/job.yaml")]);
        assert_success(&out);
        let written = env.read(&format!("{name}/{check}"));
        assert!(!written.is_empty(), "{role}: {check} is empty");
        if role == "decider" {
            assert!(stdout(&out).contains("(exit code BIG)"), "{}", stdout(&out));
        }
        if role == "reader" {
            assert_eq!(written.lines().count(), 10);
        }
    }
    // validate warns about an input file that is not there (and still says the job is valid).
    std::fs::remove_file(env.path().join("my-writer/input.csv")).unwrap();
    let out = env.run(&["validate", "my-writer/job.yaml"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("warning: step `write` reads `input.csv`, which does not exist in"),
        "{}",
        stderr(&out)
    );
    // Bad input says what to do.
    let out = env.run(&["plugin", "new", "Bad Name", "--role", "reader"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("is not a plugin name"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["plugin", "build", "."]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("batch-host plugin new NAME"),
        "{}",
        stderr(&out)
    );
    // A role that does not match the manifest's declaration is refused.
    let manifest = env.path().join("my-reader/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("role = \"reader\"", "role = \"writer\""),
    )
    .unwrap();
    let out = build(&env, "my-reader", false);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("declares role `writer`")
            && stderr(&out).contains("exports the reader world"),
        "{}",
        stderr(&out)
    );
}

/// The build directory `make plugins` uses, so componentize-py, componentize-js and rolldown
/// are installed once, by `make plugins`, not by each test.
fn polyglot_root() -> String {
    format!("{}/../target/plugin-build", env!("CARGO_MANIFEST_DIR"))
}

/// `plugin new --lang LANG` for every role: the project builds, registers and its sample job
/// runs as it is; an unchanged project rebuilds at once.
async fn every_role_in(lang: &str, source: &str) {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let root = polyglot_root();
    for role in ["processor", "reader", "writer", "tasklet", "decider"] {
        let name = format!("{lang}-{role}");
        let out = env.run(&["plugin", "new", &name, "--role", role, "--lang", lang]);
        assert_success(&out);
        assert!(
            env.path().join(&name).join(source).is_file(),
            "{name}: {source}"
        );
        let out = env.run(&[
            "plugin",
            "build",
            &name,
            "--target-dir",
            &root,
            "--register",
        ]);
        assert_success(&out);
        assert!(
            stdout(&out).contains(&format!("({role} plugin,"))
                && stdout(&out).contains(&format!("registered {name}@0.1.0")),
            "{}",
            stdout(&out)
        );
        let job = format!("{name}/job.yaml");
        assert_success(&env.run(&["validate", &job]));
        let out = env.run(&["run", &job]);
        assert_success(&out);
        let text = stdout(&out);
        match (role, lang) {
            ("processor", _) => {
                let lines = env.read(&format!("{name}/out.jsonl"));
                assert_eq!(lines.lines().count(), 4, "{lines}");
                assert!(lines.contains("\"ADA\""), "{lines}");
                let skipped = env
                    .rows("SELECT KIND, ITEM_POSITION FROM BH_SKIPPED_ITEM")
                    .await;
                assert_eq!(skipped, vec![vec!["validation.missing", "3"]]);
            }
            ("reader", _) => {
                let lines = env.read(&format!("{name}/out.jsonl"));
                assert_eq!(lines.lines().count(), 10, "{lines}");
                assert!(
                    lines.starts_with("{\"id\":1,\"name\":\"item 1\"}"),
                    "{lines}"
                );
            }
            ("writer", "python") => {
                let lines = env.read(&format!("{name}/out.jsonl"));
                assert_eq!(lines.lines().count(), 5, "{lines}");
                assert!(lines.contains("\"barbara\""), "{lines}");
            }
            ("writer", _) => assert!(text.contains("COMPLETED"), "{text}"),
            ("tasklet", "python") => {
                assert_eq!(env.read(&format!("{name}/done.txt")), "finished\n");
            }
            ("tasklet", _) => {
                let rows = env
                    .rows("SELECT EXIT_MESSAGE, COMMIT_COUNT FROM BATCH_STEP_EXECUTION WHERE STEP_NAME = 'work'")
                    .await;
                assert_eq!(rows, vec![vec!["called 3 times", "3"]]);
            }
            ("decider", _) => assert!(text.contains("(exit code BIG)"), "{text}"),
            _ => unreachable!(),
        }
    }
    // Nothing changed: the build is skipped.
    let name = format!("{lang}-processor");
    let out = env.run(&["plugin", "build", &name, "--target-dir", &root]);
    assert_success(&out);
    assert!(stderr(&out).contains("is up to date"), "{}", stderr(&out));
    // A role the manifest's world does not match is refused by the recipe, naming the roles.
    let manifest = if lang == "python" {
        "pyproject.toml"
    } else {
        "package.json"
    };
    let path = env.path().join(&name).join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"processor\"", "\"procesor\"")).unwrap();
    let out = env.run(&["plugin", "build", &name, "--target-dir", &root]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("role `procesor` is not a batch:plugin world"),
        "{}",
        stderr(&out)
    );
    // A project name that is a path would put NAME.wasm outside the project: refused.
    std::fs::write(&path, text.replace(&format!("\"{name}\""), "\"../escape\"")).unwrap();
    let out = env.run(&["plugin", "build", &name, "--target-dir", &root]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("the project name `../escape` is not a plugin name"),
        "{}",
        stderr(&out)
    );
    assert!(!env.path().join("escape.wasm").exists());
}

#[tokio::test]
async fn every_python_template_builds_registers_and_runs() {
    every_role_in("python", "app.py").await;
}

#[tokio::test]
async fn every_javascript_template_builds_registers_and_runs() {
    every_role_in("js", "plugin.js").await;
}
