//! Golden files for invalid jobs: `tests/jobs/ui/<case>.yaml` must fail `batch-host run` with
//! exit code 2, write nothing to the repository, and print exactly `<case>.err` on stderr.
//! Run with `BLESS=1` to rewrite the `.err` files after an intended change.

use std::path::Path;

use crate::support::*;

#[tokio::test]
async fn invalid_jobs_match_golden_errors() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&[
        "csv-reader",
        "member-processor",
        "jsonl-writer",
        "testkit-tasklet",
        "testkit-decider",
    ]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/jobs/ui");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 6,
        "golden cases missing in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap();
        std::fs::copy(case, env.path().join(name)).unwrap();
        let out = env.run(&["run", name]);
        let actual = stderr(&out);
        if out.status.code() != Some(2) {
            failures.push(format!(
                "{name}: exit code {:?}, expected 2\n{actual}",
                out.status.code()
            ));
            continue;
        }
        let golden = case.with_extension("err");
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{name}: stderr differs from {}\n--- expected\n{expected}--- actual\n{actual}",
                golden.display()
            ));
        }
    }
    let written = env.rows("SELECT COUNT(*) FROM BATCH_JOB_INSTANCE").await;
    assert_eq!(
        written,
        vec![vec!["0"]],
        "invalid jobs must not touch the job tables"
    );
    assert!(
        failures.is_empty(),
        "{}\n(run with BLESS=1 to accept)",
        failures.join("\n\n")
    );
}
