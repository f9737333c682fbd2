//! Spring Batch 5.x fault-tolerance conformance: each scenario mirrors a Spring Batch test (or a
//! rule of docs/fault-tolerance.md derived from one), runs the real testkit
//! components through `batch-host run`, and checks the step status, the committed output, the
//! processor/writer call logs where Spring asserts calls, and all eight counters read back from
//! `BATCH_STEP_EXECUTION`.

use crate::support::*;

// The scenario table, shared with the host's native run of the same table
// (`host/src/engine/chunk/conformance.rs`).
include!("../conformance/scenarios.rs");

fn join(items: &[u32]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

fn lines(env: &Env, file: &str) -> Vec<String> {
    env.read(file)
        .lines()
        .map(|l| l.trim_matches('"').to_owned())
        .collect()
}

fn yaml(s: &Scenario) -> String {
    let items: Vec<String> = (1..=s.items).map(|i| format!("\"{i}\"")).collect();
    let reader = format!(
        "{{ plugin: testkit-reader, config: {{ items: [{}]{}{} }} }}",
        items.join(", "),
        if s.reader.is_empty() { "" } else { ", " },
        s.reader
    );
    let sep = |x: &str| {
        if x.is_empty() {
            String::new()
        } else {
            format!(", {x}")
        }
    };
    let processor = match s.processor {
        Some(cfg) => format!(
            "      processor: {{ plugin: testkit-processor, config: {{ log: {}.plog{} }} }}\n",
            s.name,
            sep(cfg)
        ),
        None => String::new(),
    };
    let writer = format!(
        "{{ plugin: testkit-writer, config: {{ log: {0}.wlog, output: {0}.out{1} }} }}",
        s.name,
        sep(s.writer)
    );
    let ft =
        s.ft.map(|f| format!("      fault-tolerance: {f}\n"))
            .unwrap_or_default();
    format!(
        "name: {}\nsteps:\n  - name: step\n    chunk:\n      size: {}\n      reader: {reader}\n{processor}      writer: {writer}\n{ft}",
        s.name, s.chunk
    )
}

#[tokio::test]
async fn spring_batch_fault_tolerance_scenarios() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["testkit-reader", "testkit-processor", "testkit-writer"]);
    let mut failures = Vec::new();
    for s in SCENARIOS {
        env.write(&format!("{}.yaml", s.name), &yaml(s));
        let out = env.run(&["run", &format!("{}.yaml", s.name)]);
        let mut problems = Vec::new();
        let expected_code = if s.status == "COMPLETED" { 0 } else { 1 };
        if out.status.code() != Some(expected_code) {
            problems.push(format!(
                "exit code {:?}, expected {expected_code}",
                out.status.code()
            ));
        }
        let row = env
            .rows("SELECT I.JOB_NAME, S.STATUS, S.EXIT_MESSAGE, S.EXIT_CODE, S.READ_COUNT, S.WRITE_COUNT, S.FILTER_COUNT, S.READ_SKIP_COUNT, S.PROCESS_SKIP_COUNT, S.WRITE_SKIP_COUNT, S.COMMIT_COUNT, S.ROLLBACK_COUNT FROM BATCH_STEP_EXECUTION S JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = S.JOB_EXECUTION_ID JOIN BATCH_JOB_INSTANCE I ON I.JOB_INSTANCE_ID = E.JOB_INSTANCE_ID")
            .await
            .into_iter()
            .find(|r| r[0] == s.name);
        match row {
            None => problems.push("no step execution recorded".into()),
            Some(r) => {
                if r[1] != s.status {
                    problems.push(format!("status {}, expected {}", r[1], s.status));
                }
                if !r[2].contains(s.exit_message) {
                    problems.push(format!(
                        "exit message `{}` lacks `{}`",
                        r[2], s.exit_message
                    ));
                }
                if r[3] != s.status {
                    problems.push(format!("exit code {}, expected {}", r[3], s.status));
                }
                let v: Vec<i64> = r[4..].iter().map(|x| x.parse().unwrap_or(-1)).collect();
                let got = n(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
                if got != s.counts {
                    problems.push(format!("counters {got:?}, expected {:?}", s.counts));
                }
            }
        }
        let output = lines(&env, &format!("{}.out", s.name));
        if output != join(s.output) {
            problems.push(format!(
                "committed output {output:?}, expected {:?}",
                join(s.output)
            ));
        }
        if let Some(log) = s.process_log {
            let got = lines(&env, &format!("{}.plog", s.name));
            if got != join(log) {
                problems.push(format!("processor calls {got:?}, expected {:?}", join(log)));
            }
        }
        if let Some(log) = s.write_log {
            let got = lines(&env, &format!("{}.wlog", s.name));
            if got != join(log) {
                problems.push(format!("writer saw {got:?}, expected {:?}", join(log)));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}):\n  {}\n  stdout: {}",
                s.name,
                s.spring,
                problems.join("\n  "),
                stdout(&out).trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ from Spring Batch:\n\n{}",
        failures.len(),
        SCENARIOS.len(),
        failures.join("\n\n")
    );
}
