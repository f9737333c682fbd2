//! `views`: the JSON shapes of executions, steps and run reports, shared by the CLI's `--json`
//! output and the server's API so both say the same thing the same way.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::domain::{JobExecution, StepExecution};

/// One job execution: ids, status, exit status, times, parameters and context.
pub fn execution_json(e: &JobExecution) -> Value {
    let params: BTreeMap<&str, Value> = e
        .parameters
        .iter()
        .map(|(k, p)| (k, json!({ "value": p.value, "type": p.kind.java_class(), "identifying": p.identifying })))
        .collect();
    json!({
        "execution_id": e.id, "instance_id": e.instance.id, "job": e.instance.job_name,
        "job_key": e.instance.job_key, "status": e.status.as_str(), "exit_code": e.exit_status.code,
        "exit_message": e.exit_status.description, "create_time": e.create_time.to_rfc3339(),
        "start_time": e.start_time.map(|t| t.to_rfc3339()), "end_time": e.end_time.map(|t| t.to_rfc3339()),
        "parameters": params,
        "context": e.context.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect::<BTreeMap<_, _>>(),
    })
}

/// `run --json` / `restart --json`: the execution, how long it took, and each step (with
/// `already_complete` for steps an earlier execution completed).
pub fn report_json(report: &crate::engine::JobReport) -> Value {
    let steps: Vec<Value> = report
        .steps
        .iter()
        .map(|s| {
            let mut v = step_json(&s.execution);
            v["already_complete"] = json!(s.already_complete);
            v["duration_ms"] = json!(s.duration.as_millis() as u64);
            v
        })
        .collect();
    json!({
        "execution": execution_json(&report.execution),
        "restart": report.restart,
        "duration_ms": report.duration.as_millis() as u64,
        "steps": steps,
    })
}

/// One step execution: status, every counter, times, context and plugin digests.
pub fn step_json(s: &StepExecution) -> Value {
    json!({
        "step_execution_id": s.id, "step": s.step_name, "status": s.status.as_str(),
        "exit_code": s.exit_status.code, "exit_message": s.exit_status.description,
        "read": s.read_count, "write": s.write_count, "filter": s.filter_count,
        "read_skip": s.read_skip_count, "process_skip": s.process_skip_count, "write_skip": s.write_skip_count,
        "commit": s.commit_count, "rollback": s.rollback_count,
        "start_time": s.start_time.map(|t| t.to_rfc3339()), "end_time": s.end_time.map(|t| t.to_rfc3339()),
        "context": s.context.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect::<BTreeMap<_, _>>(),
        "plugins": s.plugins.iter().map(|p| json!({ "role": p.role.world(), "plugin": p.label, "sha256": p.digest })).collect::<Vec<_>>(),
    })
}

/// One job of a repository: its instances, how many executions it had, and the newest one.
#[derive(Debug)]
pub struct JobSummary<'a> {
    /// The job name.
    pub name: String,
    /// Its JobInstance ids, newest first.
    pub instances: Vec<i64>,
    /// How many executions it had.
    pub executions: usize,
    /// The newest execution.
    pub last: &'a JobExecution,
}

impl JobSummary<'_> {
    /// `jobs --json` / `GET /api/v1/jobs`.
    pub fn json(&self) -> Value {
        json!({ "job": self.name, "instances": self.instances.len(), "instance_ids": self.instances, "executions": self.executions,
            "last_execution_id": self.last.id, "last_status": self.last.status.as_str(), "last_exit_code": self.last.exit_status.code })
    }
}

/// Groups executions (newest first) by job, in job-name order.
pub fn summarize_jobs(executions: &[JobExecution]) -> Vec<JobSummary<'_>> {
    let mut jobs: BTreeMap<&str, JobSummary<'_>> = BTreeMap::new();
    for e in executions {
        let entry = jobs
            .entry(&e.instance.job_name)
            .or_insert_with(|| JobSummary {
                name: e.instance.job_name.clone(),
                instances: Vec::new(),
                executions: 0,
                last: e,
            });
        if !entry.instances.contains(&e.instance.id) {
            entry.instances.push(e.instance.id);
        }
        entry.executions += 1;
    }
    jobs.into_values().collect()
}

/// One skipped item: where it was skipped, why, and its payload (UTF-8 text when it is text,
/// else `{"hex": …}`).
pub fn skipped_json(execution_id: i64, step: &str, item: &crate::domain::SkippedItem) -> Value {
    let payload = item.payload.as_ref().map(|p| match std::str::from_utf8(p) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "hex": hex::encode(p) }),
    });
    json!({
        "execution_id": execution_id, "step": step, "phase": item.phase.as_str(),
        "kind": item.kind, "message": item.message, "position": item.position,
        "chunk": item.chunk, "payload": payload,
    })
}

/// One registration: name, version, world, digest, size and when.
pub fn plugin_json(p: &crate::repository::PluginRecord) -> Value {
    json!({
        "name": p.name, "version": p.version, "world": p.world, "digest": p.digest,
        "size": p.size, "registered_at": p.registered_at.to_rfc3339(),
    })
}

/// `plugin inspect --json` / `GET /api/v1/plugins/{name}`: the selected registration, what its
/// component imports and exports, who built it, and every version of the name.
pub fn inspect_json(
    record: &crate::repository::PluginRecord,
    all: &[crate::repository::PluginRecord],
    surface: &crate::plugin::Surface,
    producers: &crate::plugin::Producers,
) -> Value {
    json!({
        "name": record.name, "version": record.version, "world": record.world,
        "language": producers.summary(),
        "producers": {
            "language": producers.language, "processed-by": producers.processed_by,
            "sdk": producers.sdk,
        },
        "digest": record.digest, "size": record.size,
        "registered_at": record.registered_at.to_rfc3339(),
        "imports": surface.imports, "exports": surface.exports,
        "versions": all.iter().map(|p| json!({
            "version": p.version, "digest": p.digest,
            "registered_at": p.registered_at.to_rfc3339(),
        })).collect::<Vec<_>>(),
    })
}

/// The counters of a job execution's steps added up: `{read, write, filter, skip, commit,
/// rollback}`.
pub fn totals_json(steps: &[StepExecution]) -> Value {
    let sum = |f: fn(&StepExecution) -> i64| steps.iter().map(f).sum::<i64>();
    json!({
        "read": sum(|s| s.read_count), "write": sum(|s| s.write_count), "filter": sum(|s| s.filter_count),
        "skip": sum(|s| s.read_skip_count + s.process_skip_count + s.write_skip_count),
        "commit": sum(|s| s.commit_count), "rollback": sum(|s| s.rollback_count),
    })
}
