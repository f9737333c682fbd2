//! `telemetry`: the host's Prometheus metrics — jobs, steps, items, chunks, plugin calls and
//! sandbox faults — named after Spring Batch's Micrometer metrics (`spring.batch.job` →
//! `batch_job_*`, `spring.batch.item.read` → `batch_item_read_total`, …).
//!
//! Nothing is recorded until [`install`] sets the process's recorder (`batch-host serve`, and
//! `batch-host run --metrics-file`); until then every hook returns at once. Labels are tenant,
//! job, step, status, phase, plugin label, role and fault kind: all come from the operator's
//! registry, job.yaml or the host itself, never from what a guest returns, and each is cut to
//! [`MAX_LABEL`] characters with control characters replaced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::domain::{BatchStatus, JobExecution, StepExecution};
use crate::engine::{RunListener, StepReport};

/// The longest label value kept.
pub const MAX_LABEL: usize = 100;

static ENABLED: AtomicBool = AtomicBool::new(false);
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Bucket bounds of every duration histogram, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0, 3600.0,
];

/// Installs the Prometheus recorder for this process (once; later calls return the same
/// handle).
pub fn install() -> Result<&'static PrometheusHandle, String> {
    if let Some(h) = HANDLE.get() {
        return Ok(h);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .map_err(|e| format!("metrics: {e}"))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| format!("metrics: cannot install the recorder: {e}"))?;
    describe();
    ENABLED.store(true, Ordering::Release);
    Ok(HANDLE.get_or_init(|| handle))
}

/// The metrics in Prometheus's text format (empty before [`install`]).
pub fn render() -> String {
    HANDLE.get().map(|h| h.render()).unwrap_or_default()
}

fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// A label value: at most [`MAX_LABEL`] characters, control characters replaced by `?`.
pub fn label(value: &str) -> String {
    value
        .chars()
        .take(MAX_LABEL)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("batch_job_total", "Job executions that ended, by status");
    describe_histogram!(
        "batch_job_duration_seconds",
        Unit::Seconds,
        "Job execution wall time, by status"
    );
    describe_gauge!("batch_job_active", "Job executions running now");
    describe_counter!("batch_step_total", "Step executions that ended, by status");
    describe_histogram!(
        "batch_step_duration_seconds",
        Unit::Seconds,
        "Step execution wall time, by status"
    );
    describe_counter!("batch_item_read_total", "Items read");
    describe_counter!(
        "batch_item_process_total",
        "Items the processor handled (passed on, filtered or skipped)"
    );
    describe_counter!(
        "batch_item_filter_total",
        "Items the processor filtered out"
    );
    describe_counter!(
        "batch_chunk_write_total",
        "Items written in committed chunks"
    );
    describe_counter!(
        "batch_item_skip_total",
        "Items skipped, by phase (read, process, write)"
    );
    describe_counter!("batch_chunk_commit_total", "Chunk transactions committed");
    describe_counter!(
        "batch_chunk_rollback_total",
        "Chunk transactions rolled back"
    );
    describe_histogram!(
        "batch_plugin_call_duration_seconds",
        Unit::Seconds,
        "Wall time of one call into a plugin, by plugin and role"
    );
    describe_counter!(
        "batch_sandbox_fault_total",
        "Plugin calls cut by the sandbox, by plugin and kind (wasm.trap, wasm.timeout, wasm.memory, wasm.handles)"
    );
}

/// The plugin a sandbox label names: `migrate/processor member-processor@0.1.0` →
/// `member-processor@0.1.0` (the step is left out, so partitions share one series).
fn plugin_of(sandbox: &str) -> String {
    label(
        sandbox
            .split_once(' ')
            .map_or(sandbox, |(_, plugin)| plugin),
    )
}

/// One call into a plugin took `elapsed`.
pub fn plugin_call(plugin: &str, role: &'static str, elapsed: Duration) {
    if enabled() {
        histogram!("batch_plugin_call_duration_seconds", "plugin" => plugin_of(plugin), "role" => role)
            .record(elapsed.as_secs_f64());
    }
}

/// The sandbox cut a plugin call (a trap, a timeout, the memory or handle limit).
pub fn sandbox_fault(plugin: &str, kind: &'static str) {
    if enabled() {
        counter!("batch_sandbox_fault_total", "plugin" => plugin_of(plugin), "kind" => kind)
            .increment(1);
    }
}

/// A job execution ended with `status` after `elapsed`.
pub fn job_finished(tenant: &str, job: &str, status: BatchStatus, elapsed: Duration) {
    if enabled() {
        let labels = [
            ("tenant", label(tenant)),
            ("job", label(job)),
            ("status", status.as_str().to_owned()),
        ];
        counter!("batch_job_total", &labels).increment(1);
        histogram!("batch_job_duration_seconds", &labels).record(elapsed.as_secs_f64());
    }
}

/// The counters of one step as last seen.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    read: i64,
    process: i64,
    filter: i64,
    write: i64,
    read_skip: i64,
    process_skip: i64,
    write_skip: i64,
    commit: i64,
    rollback: i64,
}

impl Seen {
    fn of(s: &StepExecution) -> Self {
        Seen {
            read: s.read_count,
            process: s.write_count + s.filter_count + s.process_skip_count + s.write_skip_count,
            filter: s.filter_count,
            write: s.write_count,
            read_skip: s.read_skip_count,
            process_skip: s.process_skip_count,
            write_skip: s.write_skip_count,
            commit: s.commit_count,
            rollback: s.rollback_count,
        }
    }
}

/// A [`RunListener`] that turns a job's progress into metrics: item and chunk counters move at
/// every commit (so a long run shows progress), step and job totals at their end.
#[derive(Debug)]
pub struct MetricsListener {
    tenant: String,
    job: String,
    seen: Mutex<HashMap<String, Seen>>,
    /// The job execution exists (the active gauge went up).
    started: AtomicBool,
}

impl MetricsListener {
    /// Metrics of `job` run by `tenant`.
    pub fn new(tenant: &str, job: &str) -> Self {
        MetricsListener {
            tenant: label(tenant),
            job: label(job),
            seen: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
        }
    }

    /// Adds what `step` counted since the last time it was seen.
    fn advance(&self, step: &StepExecution) {
        if !enabled() {
            return;
        }
        let now = Seen::of(step);
        let before = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.insert(step.step_name.clone(), now).unwrap_or_default()
        };
        let step_label = label(&step.step_name);
        let base = || {
            vec![
                ("tenant", self.tenant.clone()),
                ("job", self.job.clone()),
                ("step", step_label.clone()),
            ]
        };
        let add =
            |name: &'static str, extra: Option<(&'static str, &'static str)>, n: i64, b: i64| {
                let delta = n - b;
                if delta > 0 {
                    let mut labels = base();
                    if let Some((k, v)) = extra {
                        labels.push((k, v.to_owned()));
                    }
                    counter!(name, &labels).increment(delta as u64);
                }
            };
        add("batch_item_read_total", None, now.read, before.read);
        add(
            "batch_item_process_total",
            None,
            now.process,
            before.process,
        );
        add("batch_item_filter_total", None, now.filter, before.filter);
        add("batch_chunk_write_total", None, now.write, before.write);
        add(
            "batch_item_skip_total",
            Some(("phase", "read")),
            now.read_skip,
            before.read_skip,
        );
        add(
            "batch_item_skip_total",
            Some(("phase", "process")),
            now.process_skip,
            before.process_skip,
        );
        add(
            "batch_item_skip_total",
            Some(("phase", "write")),
            now.write_skip,
            before.write_skip,
        );
        add("batch_chunk_commit_total", None, now.commit, before.commit);
        add(
            "batch_chunk_rollback_total",
            None,
            now.rollback,
            before.rollback,
        );
    }
}

impl RunListener for MetricsListener {
    fn job_started(&self, _execution: &JobExecution, _restart: bool) {
        self.started.store(true, Ordering::Release);
        if enabled() {
            gauge!("batch_job_active", "tenant" => self.tenant.clone(), "job" => self.job.clone())
                .increment(1.0);
        }
    }

    fn chunk_committed(&self, step: &StepExecution) {
        self.advance(step);
    }

    fn step_finished(&self, report: &StepReport) {
        if report.already_complete || !enabled() {
            return;
        }
        self.advance(&report.execution);
        let labels = [
            ("tenant", self.tenant.clone()),
            ("job", self.job.clone()),
            ("step", label(&report.execution.step_name)),
            ("status", report.execution.status.as_str().to_owned()),
        ];
        counter!("batch_step_total", &labels).increment(1);
        histogram!("batch_step_duration_seconds", &labels).record(report.duration.as_secs_f64());
    }
}

impl MetricsListener {
    /// The job execution ended (or never started when `execution` is `None`).
    pub fn job_finished(&self, execution: Option<&JobExecution>, elapsed: Duration) {
        if self.started.swap(false, Ordering::AcqRel) && enabled() {
            gauge!("batch_job_active", "tenant" => self.tenant.clone(), "job" => self.job.clone())
                .decrement(1.0);
        }
        if let Some(e) = execution {
            job_finished(&self.tenant, &self.job, e.status, elapsed);
        }
    }
}

/// Two listeners as one: the CLI's progress display and the metrics.
#[allow(missing_debug_implementations, reason = "holds trait objects")]
pub struct Both<'a>(pub &'a dyn RunListener, pub &'a dyn RunListener);

impl RunListener for Both<'_> {
    fn job_started(&self, execution: &JobExecution, restart: bool) {
        self.0.job_started(execution, restart);
        self.1.job_started(execution, restart);
    }
    fn step_started(&self, step: &str) {
        self.0.step_started(step);
        self.1.step_started(step);
    }
    fn chunk_committed(&self, step: &StepExecution) {
        self.0.chunk_committed(step);
        self.1.chunk_committed(step);
    }
    fn retry_backoff(&self, step: &str, delay: Duration) {
        self.0.retry_backoff(step, delay);
        self.1.retry_backoff(step, delay);
    }
    fn step_finished(&self, report: &StepReport) {
        self.0.step_finished(report);
        self.1.step_finished(report);
    }
}
