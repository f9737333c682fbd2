//! The dashboard in a real browser: headless Chromium (Debian's) driven by playwright-core
//! (`tests/browser/dashboard.mjs`) against a real `batch-host serve` running real jobs. The
//! screenshots land in `target/dashboard-shots/` (`docs/dashboard.md` shows copies of them).

use std::process::Command;

use serde_json::{Value, json};

use crate::server::{Client, MEMBERS_JOB, Serve, slow_job, token, wait_commits};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    let setup = Command::new("tests/browser/setup.sh")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run tests/browser/setup.sh");
    assert!(
        setup.status.success(),
        "browser set-up failed:\n{}",
        stderr(&setup)
    );
    let node_path = String::from_utf8_lossy(&setup.stdout).trim().to_owned();

    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.create_tenant("acme");
    env.create_tenant("globex");
    let acme_token = token(&env, Some("acme"));
    let globex_token = token(&env, Some("globex"));
    let server = Serve::start(&env, &[]);
    let acme = Client {
        base: server.base.clone(),
        token: acme_token.clone(),
    };
    for p in ["member-processor", "testkit-reader"] {
        assert_eq!(acme.upload(p, p).status, 201);
    }
    // A finished job with four skipped members, one of them carrying markup in its name.
    let mut csv = members_csv(40, &[7, 19, 33]);
    csv.push_str("41,<img src=x onerror=alert(1)>,LEE,not-an-email,de,2020-01-01\n");
    std::fs::write(server.workdir("acme").join("members.csv"), csv).unwrap();
    let members = acme.launch(json!({ "job": MEMBERS_JOB }));
    let done: Value = acme.wait_for(members, |s| s == "COMPLETED" || s == "FAILED");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    // A long job, running while the browser watches it.
    let running = acme.launch(json!({ "job": slow_job("slow", 50000) }));
    wait_commits(&acme, running, 3);

    let shots = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/dashboard-shots"
    ));
    std::fs::create_dir_all(shots).unwrap();
    let out = Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/browser/dashboard.mjs"
        ))
        .env("NODE_PATH", &node_path)
        .env("BASE", &server.base)
        .env("ACME_TOKEN", &acme_token)
        .env("GLOBEX_TOKEN", &globex_token)
        .env("RUNNING_ID", running.to_string())
        .env("MEMBERS_ID", members.to_string())
        .env("SHOTS", shots)
        .output()
        .expect("run node");
    let report = stdout(&out);
    assert!(
        out.status.success(),
        "the browser scenario failed:\n{report}\n{}",
        stderr(&out)
    );
    let checks: Value = serde_json::from_str(report.lines().last().unwrap_or("{}")).unwrap();
    let passed = checks["checks"].as_array().unwrap();
    assert!(
        passed.len() >= 17 && passed.iter().all(|c| c["ok"] == true),
        "{report}"
    );
    for shot in [
        "dashboard-executions.png",
        "dashboard-execution.png",
        "dashboard-plugins.png",
    ] {
        assert!(
            shots.join(shot).metadata().unwrap().len() > 10_000,
            "{shot}"
        );
    }
    drop(server);
}
