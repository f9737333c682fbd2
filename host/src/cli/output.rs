//! Progress while a job runs, and the end-of-run summary.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
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
    started: Instant,
    state: Mutex<StepProgress>,
}

/// What the display remembers about the running step.
struct StepProgress {
    step: String,
    started: Instant,
    last_notice: Instant,
    /// The first input position seen in this run, and when, for the ETA.
    first: Option<(u64, Instant)>,
}

impl StepProgress {
    fn new(step: &str) -> Self {
        let now = Instant::now();
        StepProgress {
            step: step.to_owned(),
            started: now,
            last_notice: now,
            first: None,
        }
    }

    /// ` · 42% · ETA 1m05s` when the reader tells its size.
    fn eta(&mut self, step: &StepExecution) -> String {
        let Some((offset, size)) = step.input_progress() else {
            return String::new();
        };
        let pct = offset as f64 * 100.0 / size as f64;
        let (from, at) = *self.first.get_or_insert((offset, Instant::now()));
        let rate = (offset.saturating_sub(from)) as f64 / at.elapsed().as_secs_f64().max(1e-9);
        if rate > 0.0 && offset < size {
            let left = Duration::from_secs_f64((size - offset) as f64 / rate);
            format!(" · {pct:.0}% · ETA {}", clock(left))
        } else {
            format!(" · {pct:.0}%")
        }
    }
}

/// `12s`, `3m07s`, `2h05m`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
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
        Progress {
            bar,
            started: Instant::now(),
            state: Mutex::new(StepProgress::new("")),
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
            *s = StepProgress::new(step);
        }
        if let Some(bar) = &self.bar {
            bar.set_message(format!("step `{step}` starting"));
        }
    }

    fn chunk_committed(&self, step: &StepExecution) {
        let Ok(mut s) = self.state.lock() else { return };
        let secs = s.started.elapsed().as_secs_f64().max(1e-9);
        let eta = s.eta(step);
        let msg = format!(
            "{} · step `{}`: {} read · {} written · {} filtered · {} skipped · {} commits · {:.0} items/s{eta}",
            clock(self.started.elapsed()),
            s.step,
            step.read_count,
            step.write_count,
            step.filter_count,
            step.skip_count(),
            step.commit_count,
            step.read_count as f64 / secs
        );
        match &self.bar {
            Some(bar) => bar.set_message(msg),
            None if s.last_notice.elapsed() >= Duration::from_secs(10) => {
                s.last_notice = Instant::now();
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

/// A table for the terminal: a header row, no borders, columns two spaces apart, numbers right
/// aligned (the `numeric` column indexes). To fit a terminal's width only the `wrap` columns
/// (names, parameters, messages) wrap; the others keep their width. Output to a pipe or a file
/// never wraps.
pub(super) fn table(header: &[&str], numeric: &[usize], wrap: &[usize]) -> Table {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    for &i in numeric {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    for (i, c) in t.column_iter_mut().enumerate() {
        c.set_constraint(match wrap.contains(&i) {
            true => ColumnConstraint::LowerBoundary(Width::Fixed(12)),
            false => ColumnConstraint::ContentWidth,
        });
    }
    // Each cell carries one space of padding on both sides; drop the outer ones.
    if let Some(c) = t.column_mut(0) {
        c.set_padding((0, 1));
    }
    t
}

/// Prints `t` with its rows' trailing blanks trimmed.
pub(super) fn print_table(t: &Table) {
    for line in t.lines() {
        println!("{}", line.trim_end());
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
    let mut steps = table(
        &[
            "STEP",
            "STATUS",
            "READ",
            "WRITTEN",
            "FILTERED",
            "SKIPPED",
            "COMMITS",
            "ROLLBACKS",
            "DURATION",
            "ITEMS/S",
            "EXIT CODE",
        ],
        &[2, 3, 4, 5, 6, 7, 8, 9],
        &[0, 10],
    );
    for s in &report.steps {
        let x = &s.execution;
        let status = if s.already_complete {
            "(done)".to_owned()
        } else {
            x.status.to_string()
        };
        steps.add_row(vec![
            x.step_name.clone(),
            status,
            x.read_count.to_string(),
            x.write_count.to_string(),
            x.filter_count.to_string(),
            x.skip_count().to_string(),
            x.commit_count.to_string(),
            x.rollback_count.to_string(),
            duration(s.duration),
            format!("{:.0}", s.items_per_second()),
            x.exit_status.code.clone(),
        ]);
    }
    print_table(&steps);
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
        println!("Skipped items:");
        let mut t = table(&["STEP", "PHASE", "KIND", "COUNT"], &[3], &[0, 2]);
        for (step, phase, kind, n) in skips {
            t.add_row(vec![
                step.clone(),
                phase.as_str().to_owned(),
                kind.clone(),
                n.to_string(),
            ]);
        }
        print_table(&t);
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
