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
    assert_eq!(rows[1]["digest"].as_str().unwrap(), sha256sum(&path));
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

    // A processor that imports an interface the host does not provide: refused at
    // registration, naming the import (wasi:sockets is linked, denied; see security.rs).
    let unknown = component("unknown-import");
    let out = env.run(&["plugin", "register", unknown.to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("imports `evil:net/exfil@0.1.0`")
            && err.contains("which batch-host does not provide"),
        "{err}"
    );

    // A processor built against another contract version: refused, naming both versions.
    let future = component("future-contract");
    let out = env.run(&["plugin", "register", future.to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("the component was built against batch:plugin@0.2.0; this batch-host implements batch:plugin@0.1.0 and accepts 0.1.x only"),
        "{err}"
    );

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

async fn inspect_remove_and_pin(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.register(&["csv-reader", "jsonl-writer"]);
    // A second version of the reader with different bytes: the testkit reader, registered
    // under the same name.
    let other = component("testkit-reader");
    assert_success(&env.run(&[
        "plugin",
        "register",
        other.to_str().unwrap(),
        "--name",
        "csv-reader",
        "--version",
        "2.0.0",
    ]));

    let out = env.run(&["plugin", "inspect", "csv-reader@0.1.0"]);
    assert_success(&out);
    let text = stdout(&out);
    let csv_digest = sha256sum(&component("csv-reader"));
    for want in [
        "csv-reader@0.1.0",
        "world:         reader",
        "language:      Rust (rustc ",
        &format!("sha256:{csv_digest}"),
        "wasi:filesystem/preopens@",
        "batch:plugin/item-reader@0.1.0",
        "2.0.0",
    ] {
        assert!(text.contains(want), "missing {want}: {text}");
    }
    assert!(!text.contains("wasi:sockets"), "{text}");
    let json: serde_json::Value = serde_json::from_str(
        stdout(&env.run(&["plugin", "inspect", "csv-reader", "--json"])).trim(),
    )
    .unwrap();
    assert_eq!(json["version"], "2.0.0", "without a version: the latest");
    assert_eq!(json["versions"].as_array().unwrap().len(), 2);

    // `@sha256:` pins the component: the job runs the csv reader although 2.0.0 is newer.
    env.write("members.csv", &members_csv(4, &[]));
    env.write(
        "job.yaml",
        &format!(
            "name: pinned\nsteps:\n  - name: s\n    chunk:\n      size: 2\n      reader: {{ plugin: \"csv-reader@sha256:{}\", config: {{ path: members.csv }} }}\n      writer: {{ plugin: jsonl-writer, config: {{ path: out.jsonl }} }}\n",
            &csv_digest[..16]
        ),
    );
    assert_success(&env.run(&["run", "job.yaml"]));
    assert_eq!(jsonl_ids(&env, "out.jsonl"), vec![1, 2, 3, 4]);

    // remove one version, then the rest; the pinned job no longer plans.
    let out = env.run(&["plugin", "remove", "csv-reader@2.0.0"]);
    assert_success(&out);
    assert!(stdout(&out).contains("removed 1"), "{}", stdout(&out));
    assert_success(&env.run(&["plugin", "remove", "csv-reader"]));
    assert_exit(&env.run(&["plugin", "remove", "csv-reader"]), 2);
    assert_exit(&env.run(&["plugin", "inspect", "csv-reader"]), 2);
    let blobs = env.rows("SELECT COUNT(*) FROM BH_PLUGIN_BLOB").await;
    assert_eq!(blobs, vec![vec!["1"]], "only jsonl-writer's bytes are left");
    let out = env.run(&["validate", "job.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("is not registered"),
        "{}",
        stderr(&out)
    );
    env.cleanup().await;
}
both_backends!(inspect_remove_and_pin_by_digest, inspect_remove_and_pin);
