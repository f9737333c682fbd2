//! `batch-host plugin register` / `plugin list`.

use serde_json::Value;

use crate::support::*;

async fn register_and_list(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["csv-reader"]);
    let path = component("member-processor");
    let out = env.run(&[
        "plugin",
        "register",
        path.to_str().unwrap(),
        "--name",
        "members",
        "--version",
        "2.0.0",
    ]);
    assert_success(&out);
    assert!(
        stdout(&out).starts_with("registered members@2.0.0 (processor plugin"),
        "{}",
        stdout(&out)
    );

    let out = env.run(&["plugin", "list", "--json"]);
    assert_success(&out);
    let rows: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["name"].as_str(), rows[0]["world"].as_str()),
        (Some("csv-reader"), Some("reader"))
    );
    assert_eq!(
        (rows[1]["name"].as_str(), rows[1]["version"].as_str()),
        (Some("members"), Some("2.0.0"))
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        rows[1]["digest"].as_str().unwrap(),
        batch_host::plugin::digest(&bytes)
    );
    assert_eq!(rows[1]["size"].as_u64(), Some(bytes.len() as u64));

    // Stored content-addressed, with a precompiled artifact for this engine.
    let blobs = env.rows("SELECT COUNT(*) FROM BH_PLUGIN_BLOB").await;
    assert_eq!(blobs, vec![vec!["2"]]);
    let artifacts = env
        .rows("SELECT WORLD FROM BH_PLUGIN_ARTIFACT ORDER BY WORLD")
        .await;
    assert_eq!(artifacts, vec![vec!["processor"], vec!["reader"]]);
    env.cleanup().await;
}
both_backends!(register_stores_and_lists_plugins, register_and_list);

#[tokio::test]
async fn rejects_files_that_are_not_plugins() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let text = env.write("notes.wasm", "this is not wasm");
    let out = env.run(&["plugin", "register", text.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(
            "not a WebAssembly component: it does not start with the WebAssembly magic bytes"
        ),
        "{}",
        stderr(&out)
    );

    // A core module (the empty one) is not a component.
    let core = env.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = env.run(&["plugin", "register", core.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("it is a core WebAssembly module"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("wasm32-wasip2"),
        "the error says how to fix it: {}",
        stderr(&out)
    );

    // A real component of another world.
    let wrong = component("wrong-world");
    let out = env.run(&["plugin", "register", wrong.to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("exports none of the batch:plugin@0.1.0 worlds"),
        "{err}"
    );
    assert!(err.contains("greet"), "names what it does export: {err}");

    let out = env.run(&["plugin", "list"]);
    assert!(
        stdout(&out).contains("no plugins registered"),
        "nothing was stored: {}",
        stdout(&out)
    );
}

#[tokio::test]
async fn path_references_compile_once_and_reuse_the_artifact() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    for n in ["csv-reader", "jsonl-writer"] {
        std::fs::copy(component(n), env.path().join(format!("{n}.wasm"))).unwrap();
    }
    env.write("members.csv", &members_csv(3, &[]));
    env.write(
        "job.yaml",
        "name: by-path\nsteps:\n  - name: s\n    chunk:\n      size: 2\n      reader: { path: csv-reader.wasm, config: { path: members.csv } }\n      writer: { path: jsonl-writer.wasm, config: { path: out.jsonl } }\n",
    );
    assert_success(&env.run(&["validate", "job.yaml"]));
    let artifacts = env
        .rows("SELECT WORLD FROM BH_PLUGIN_ARTIFACT ORDER BY WORLD")
        .await;
    assert_eq!(artifacts, vec![vec!["reader"], vec!["writer"]]);
    let out = env.run(&["run", "job.yaml"]);
    assert_success(&out);
    assert_eq!(env.read("out.jsonl").lines().count(), 3);
}
