//! Progress while a job runs, and the end-of-run summary.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::domain::{JobExecution, StepExecution};
use crate::engine::{JobReport, RunListener, StepReport};

/// `value` as one line of JSON that is safe on a terminal: characters JSON allows raw inside
/// strings but a terminal may act on (DEL, C1 controls, bidirectional and zero-width format
/// characters — guest data such as contexts and payloads may hold them) become `\uXXXX`.
pub(super) fn json_line(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.chars().any(crate::domain::is_unsafe_char) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if crate::domain::is_unsafe_char(c) {
            // Raw C0 characters never appear in serialized JSON; the rest fit in one `\u`.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Set once logs are JSON (`--log-format json`): then stderr carries only JSON objects.
static JSON_LOGS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Records the log format, before anything is printed.
pub(super) fn set_json_logs(json: bool) {
    let _ = JSON_LOGS.set(json);
}

/// A line for the person watching the run, on stderr: as it is, or, when logs are JSON, as one
/// more JSON log object (target `batch.progress`), so the stream stays machine-readable.
pub(super) fn notice(line: &str) {
    if JSON_LOGS.get().copied().unwrap_or(false) {
        tracing::info!(target: "batch.progress", "{line}");
    } else {
        eprintln!("{line}");
    }
}

/// An error for the user, on stderr: `error: …`, or a JSON log object at level ERROR when logs
/// are JSON.
pub(super) fn notice_error(message: &str) {
    if JSON_LOGS.get().copied().unwrap_or(false) {
        tracing::error!(target: "batch.cli", "{message}");
    } else {
        eprintln!("error: {message}");
    }
}

/// A spinner on a terminal; a log line every 10 s otherwise.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<(String, Instant, Instant)>,
}

impl Progress {
    /// A progress display; drawn only when `enabled` and stderr is a terminal.
    pub(super) fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            state: Mutex::new((String::new(), now, now)),
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl RunListener for Progress {
    fn job_started(&self, execution: &JobExecution, restart: bool) {
        let what = if restart { "restarting" } else { "starting" };
        let line = format!(
            "{what} job `{}` (instance {}, execution {})",
            execution.instance.job_name, execution.instance.id, execution.id
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => notice(&line),
        }
    }

    fn step_started(&self, step: &str) {
        if let Ok(mut s) = self.state.lock() {
            *s = (step.to_owned(), Instant::now(), Instant::now());
        }
        if let Some(bar) = &self.bar {
            bar.set_message(format!("step `{step}` starting"));
        }
    }

    fn chunk_committed(&self, step: &StepExecution) {
        let Ok(mut s) = self.state.lock() else { return };
        let secs = s.1.elapsed().as_secs_f64().max(1e-9);
        let msg = format!(
            "step `{}`: {} read · {} written · {} filtered · {} commits · {:.0} items/s",
            s.0,
            step.read_count,
            step.write_count,
            step.filter_count,
            step.commit_count,
            step.read_count as f64 / secs
        );
        match &self.bar {
            Some(bar) => bar.set_message(msg),
            None if s.2.elapsed() >= Duration::from_secs(10) => {
                s.2 = Instant::now();
                notice(&msg);
            }
            None => {}
        }
    }

    fn step_finished(&self, report: &StepReport) {
        let line = if report.already_complete {
            format!(
                "step `{}` already completed in an earlier execution; skipped",
                report.execution.step_name
            )
        } else {
            format!(
                "step `{}` {}",
                report.execution.step_name, report.execution.status
            )
        };
        match &self.bar {
            Some(bar) => bar.println(line),
            None => notice(&line),
        }
    }
}

fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.2}s")
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

/// Prints the end-of-run table: one row per step.
pub(super) fn print_summary(report: &JobReport) {
    let e = &report.execution;
    println!();
    println!(
        "Job `{}` {} (exit code {}) · instance {} · execution {}{} · {}",
        e.instance.job_name,
        e.status,
        e.exit_status.code,
        e.instance.id,
        e.id,
        if report.restart { " (restart)" } else { "" },
        duration(report.duration)
    );
    if !e.parameters.is_empty() {
        println!("Parameters: {}", e.parameters);
    }
    println!();
    println!(
        "{:<20} {:<10} {:>10} {:>10} {:>9} {:>7} {:>8} {:>9} {:>9} {:>11}  EXIT CODE",
        "STEP",
        "STATUS",
        "READ",
        "WRITTEN",
        "FILTERED",
        "SKIPPED",
        "COMMITS",
        "ROLLBACKS",
        "DURATION",
        "ITEMS/S"
    );
    for s in &report.steps {
        let x = &s.execution;
        let status = if s.already_complete {
            "(done)".to_owned()
        } else {
            x.status.to_string()
        };
        println!(
            "{:<20} {:<10} {:>10} {:>10} {:>9} {:>7} {:>8} {:>9} {:>9} {:>11.0}  {}",
            x.step_name,
            status,
            x.read_count,
            x.write_count,
            x.filter_count,
            x.skip_count(),
            x.commit_count,
            x.rollback_count,
            duration(s.duration),
            s.items_per_second(),
            x.exit_status.code
        );
    }
    if !report.route.is_empty() {
        println!();
        println!("Flow: {}", report.route.join("; "));
    }
    let skips: Vec<_> = report
        .steps
        .iter()
        .flat_map(|s| {
            s.skips
                .iter()
                .map(move |((phase, kind), n)| (&s.execution.step_name, phase, kind, n))
        })
        .collect();
    if !skips.is_empty() {
        println!();
        println!("Skipped items (phase, kind, count):");
        for (step, phase, kind, n) in skips {
            println!("  {step:<18} {:<8} {kind:<32} {n:>8}", phase.as_str());
        }
        println!(
            "List them with: batch-host skipped {}   (add --format jsonl to export)",
            e.id
        );
    }
    if !e.exit_status.description.is_empty() {
        println!();
        println!("{}", e.exit_status.description);
    }
    if e.status.is_unsuccessful() {
        println!();
        println!(
            "Fix the cause and run the same command again: the job restarts from its last committed chunk."
        );
    }
}
