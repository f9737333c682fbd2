//! `testkit-writer`: stages string items per chunk and appends them to `output` only when the
//! chunk commits (chunk-listener), dropping them on rollback, so `output` is exactly what was
//! committed, in order, as JSON lines. Every staged item is also appended to `log` (never rolled
//! back). A fault of kind `panic` panics (a trap) instead of returning an error.
//!
//! Config: `{ fail: {..}, mode: M, position: I, fail-on-call: N, fail-kind: K, log, output,
//! exit-code }`; `exit-code` is the step's exit status set in `after-step`.
//! Modes, per write call: `append-then-throw` (default: per item, stage it, then fail if it is
//! failing), `throw-before-append`, `append-all-then-throw-if-contains`, `throw-if-contains`
//! (fail before staging anything), `always-throw`, `position` (fail on reaching index I of any
//! chunk), `nth-call` (the `fail-on-call`-th write call fails).

use batch_sdk::testkit::{Common, Faults, Log, append_json_lines, injected};
use batch_sdk::{Error, ExitStatus, ItemWriter, Setup, StepSummary};
use serde::Deserialize;

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    #[default]
    AppendThenThrow,
    ThrowBeforeAppend,
    AppendAllThenThrowIfContains,
    ThrowIfContains,
    AlwaysThrow,
    Position,
    NthCall,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Config {
    #[serde(flatten)]
    common: Common,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    position: Option<usize>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    exit_code: Option<String>,
}

/// The writer.
#[derive(Debug)]
pub struct TestkitWriter {
    faults: Faults,
    mode: Mode,
    position: Option<usize>,
    fail_on_call: Option<u64>,
    fail_kind: String,
    log: Log,
    output: Option<String>,
    exit_code: Option<String>,
    staged: Vec<String>,
    calls: u64,
}

impl TestkitWriter {
    fn stage(&mut self, item: &str) -> Result<(), Error> {
        self.log.append(item)?;
        self.staged.push(item.to_owned());
        Ok(())
    }
}

impl ItemWriter for TestkitWriter {
    type Item = String;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        // The output exists once the writer runs, even if nothing is ever committed to it.
        if let Some(output) = &c.output {
            append_json_lines::<&str>(output, &[])?;
        }
        Ok(TestkitWriter {
            faults: Faults::new(c.common.fail),
            mode: c.mode,
            position: c.position,
            fail_on_call: c.common.fail_on_call,
            fail_kind: c.common.fail_kind,
            log: Log::new(c.common.log)?,
            output: c.output,
            exit_code: c.exit_code,
            staged: Vec::new(),
            calls: 0,
        })
    }

    fn after_step(&mut self, step: &StepSummary) -> Option<ExitStatus> {
        self.exit_code.as_ref().map(|code| {
            ExitStatus::new(code).with_description(format!(
                "{} written, previous exit code {}",
                step.write_count, step.exit_code
            ))
        })
    }

    fn write(&mut self, items: Vec<String>) -> Result<(), Error> {
        self.calls += 1;
        let kind = self.fail_kind.clone();
        if self.mode == Mode::NthCall && self.fail_on_call == Some(self.calls) {
            return Err(injected(&kind, &format!("write call {}", self.calls)));
        }
        match self.mode {
            Mode::AppendThenThrow | Mode::NthCall => {
                for item in &items {
                    self.stage(item)?;
                    self.faults.check(item)?;
                }
            }
            Mode::ThrowBeforeAppend => {
                for item in &items {
                    self.faults.check(item)?;
                    self.stage(item)?;
                }
            }
            Mode::AppendAllThenThrowIfContains => {
                for item in &items {
                    self.stage(item)?;
                }
                for item in &items {
                    self.faults.check(item)?;
                }
            }
            Mode::ThrowIfContains => {
                for item in &items {
                    self.faults.check(item)?;
                }
                for item in &items {
                    self.stage(item)?;
                }
            }
            Mode::AlwaysThrow => return Err(injected(&kind, "always-throw")),
            Mode::Position => {
                for (i, item) in items.iter().enumerate() {
                    if Some(i) == self.position {
                        return Err(injected(&kind, &format!("position {i} (`{item}`)")));
                    }
                    self.stage(item)?;
                }
            }
        }
        Ok(())
    }

    fn before_chunk(&mut self) -> Result<(), Error> {
        self.staged.clear();
        Ok(())
    }

    fn after_chunk(&mut self) -> Result<(), Error> {
        let staged = std::mem::take(&mut self.staged);
        match &self.output {
            Some(path) if !staged.is_empty() => append_json_lines(path, &staged),
            _ => Ok(()),
        }
    }

    fn after_chunk_error(&mut self) -> Result<(), Error> {
        self.staged.clear();
        Ok(())
    }
}

batch_sdk::export_writer!(TestkitWriter);
