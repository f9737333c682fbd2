//! `testkit-tasklet`: a scriptable tasklet for flow, restart and split tests.
//!
//! Config (all optional):
//! - `repeat: N` — return CONTINUABLE until the step's N-th call (the call count is kept in the
//!   step's ExecutionContext under `calls`, so it survives a restart), then FINISHED;
//! - `fail-on-call: N`, `fail-kind: K` — the N-th call (counted as above) fails with kind `K`;
//! - `fail-if-exists: FILE` — every call fails (kind `K`) while `FILE` exists;
//! - `exit-code`, `exit-description` — the step's exit status when it finishes;
//! - `append: { file, line }` — appends `line` as a JSON line to `file` when it finishes;
//! - `log: FILE` — appends `"<step> call <n>"` to `FILE` on every call;
//! - `barrier: { mine, wait-for, timeout-ms }` — creates the file `mine`, then waits (sleeping)
//!   until the file `wait-for` exists: two tasklets that wait for each other can only both
//!   finish when they run at the same time. Fails with kind `barrier.timeout` after `timeout-ms`.

use std::time::{Duration, Instant};

use batch_sdk::testkit::{Log, append_json_lines, injected};
use batch_sdk::{Error, ExecutionContext, ExitStatus, RepeatStatus, Setup, Tasklet};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Config {
    #[serde(default = "one")]
    repeat: u64,
    #[serde(default)]
    fail_on_call: Option<u64>,
    #[serde(default = "error_kind")]
    fail_kind: String,
    #[serde(default)]
    fail_if_exists: Option<String>,
    #[serde(default)]
    exit_code: Option<String>,
    #[serde(default)]
    exit_description: String,
    #[serde(default)]
    append: Option<Append>,
    #[serde(default)]
    log: Option<String>,
    #[serde(default)]
    barrier: Option<Barrier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Append {
    file: String,
    line: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Barrier {
    mine: String,
    wait_for: String,
    #[serde(default = "ten_seconds")]
    timeout_ms: u64,
}

fn one() -> u64 {
    1
}

fn ten_seconds() -> u64 {
    10_000
}

fn error_kind() -> String {
    "error".into()
}

/// The tasklet.
pub struct TestkitTasklet {
    config: Config,
    step: String,
    log: Log,
}

impl TestkitTasklet {
    fn wait(&self, b: &Barrier) -> Result<(), Error> {
        std::fs::write(&b.mine, self.step.as_bytes())?;
        let started = Instant::now();
        while std::fs::metadata(&b.wait_for).is_err() {
            if started.elapsed() > Duration::from_millis(b.timeout_ms) {
                return Err(Error::new(
                    "barrier.timeout",
                    format!(
                        "`{}` did not appear within {} ms: the other branch is not running",
                        b.wait_for, b.timeout_ms
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl Tasklet for TestkitTasklet {
    fn init(setup: &Setup) -> Result<Self, Error> {
        let config: Config = setup.config()?;
        Ok(TestkitTasklet {
            log: Log::new(config.log.clone()),
            config,
            step: setup.step_name().to_owned(),
        })
    }

    fn execute(&mut self, context: &mut ExecutionContext) -> Result<RepeatStatus, Error> {
        let calls = context.get::<u64>("calls")?.unwrap_or(0) + 1;
        self.log.append(&format!("{} call {calls}", self.step))?;
        if self.config.fail_on_call == Some(calls) {
            return Err(injected(&self.config.fail_kind, &format!("call {calls}")));
        }
        if let Some(file) = &self.config.fail_if_exists
            && std::fs::metadata(file).is_ok()
        {
            return Err(injected(
                &self.config.fail_kind,
                &format!("call {calls}: `{file}` exists"),
            ));
        }
        context.put("calls", calls);
        if let Some(b) = &self.config.barrier {
            self.wait(b)?;
        }
        if calls < self.config.repeat {
            return Ok(RepeatStatus::Continuable);
        }
        if let Some(a) = &self.config.append {
            append_json_lines(&a.file, std::slice::from_ref(&a.line))?;
        }
        Ok(RepeatStatus::Finished)
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.config
            .exit_code
            .as_ref()
            .map(|code| ExitStatus::new(code).with_description(&self.config.exit_description))
    }
}

batch_sdk::export_tasklet!(TestkitTasklet);
