//! `plan` → unit tests: planning jobs made of the host's built-in reader and writer (no
//! components needed) against a real SQLite registry — what a valid job plans into, and every
//! problem of an invalid one reported together with its line and field.

use std::path::Path;

use super::{PlanFailure, PlanOptions, ReaderPlan, StepKind, WriterPlan, compile};
use crate::plugin::PluginRuntime;
use crate::repository::SqlRepository;
use crate::spec::JobSpec;

async fn plan(yaml: &str) -> Result<super::JobPlan, PlanFailure> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.yaml");
    std::fs::write(&file, yaml).unwrap();
    let url = format!("sqlite:{}", dir.path().join("repo.db").display());
    let repo = SqlRepository::connect(&url).await.unwrap();
    let runtime = PluginRuntime::new().unwrap();
    let spec = JobSpec::from_str(yaml, Path::new("job.yaml")).unwrap();
    let result = compile(spec, &file, &PlanOptions::default(), &repo, &runtime).await;
    repo.close().await;
    result
}

fn problems(result: Result<super::JobPlan, PlanFailure>) -> Vec<String> {
    match result {
        Err(PlanFailure::Invalid(e)) => e.problems.iter().map(|p| p.to_string()).collect(),
        Err(other) => panic!("expected problems, got {other}"),
        Ok(_) => panic!("expected problems, the job planned"),
    }
}

#[tokio::test]
async fn a_job_of_built_ins_plans_with_its_limits_and_fault_tolerance() {
    let plan = plan(
        "name: replay\nsteps:\n  - name: again\n    chunk:\n      size: 25\n      reader: { builtin: skipped-items, config: { execution: 7, phase: process } }\n      writer: { builtin: sql-table, config: { table: replayed } }\n      limits: { cpu-per-call: 1m30s, memory: 64MiB }\n      fault-tolerance: { skip: { kinds: [validation], limit: 3 } }\n",
    )
    .await
    .unwrap();
    assert_eq!(plan.name, "replay");
    let step = &plan.steps[0];
    assert_eq!(step.limits.cpu_per_call, std::time::Duration::from_secs(90));
    assert_eq!(step.limits.memory, 64 << 20);
    // A CPU budget above the default wall-clock limit raises it along.
    assert!(step.limits.wall_per_call >= step.limits.cpu_per_call);
    let StepKind::Chunk(chunk) = &step.kind else {
        panic!("a chunk step")
    };
    assert_eq!(chunk.chunk_size, 25);
    assert!(matches!(&chunk.reader, ReaderPlan::SkippedItems(c) if c.execution == 7));
    assert!(matches!(&chunk.writer, WriterPlan::SqlTable { table } if table == "replayed"));
    let ft = chunk.fault_tolerance.as_ref().expect("fault tolerance");
    assert!(
        ft.skip
            .is_skippable(&crate::domain::ItemError::new("validation.email", "x"))
    );
    assert!(
        !ft.skip
            .is_skippable(&crate::domain::ItemError::new("io", "x"))
    );
}

#[tokio::test]
async fn every_problem_is_reported_at_once_with_its_line_and_field() {
    let found = problems(
        plan("name: broken\nsteps:\n  - name: one\n    chunk:\n      size: 0\n      reader: { builtin: skipped-items, config: { execution: 1 } }\n      writer: { builtin: sql-table, config: { table: t } }\n      limits: { memory: lots, cpu-per-call: 1ms }\n      fault-tolerance: { retry: { limit: 3 } }\n")
            .await,
    );
    let expect = [
        "job.yaml:5:13: steps[0].chunk.size: chunk size 0 is out of range",
        "steps[0].chunk.limits.cpu-per-call: `1ms` is not a duration",
        "steps[0].chunk.limits.memory: `lots` is not a size",
        "steps[0].chunk.fault-tolerance.retry: a retry limit needs retryable kinds",
    ];
    for e in expect {
        assert!(
            found.iter().any(|p| p.contains(e)),
            "missing `{e}` in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}
