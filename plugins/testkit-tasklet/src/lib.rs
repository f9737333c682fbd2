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
//! - `spin-ms: N` — computes for N ms without calling the host (except to read the clock), and
//!   appends `spin start <unix ms>` / `spin end <unix ms>` to `log`;
//! - `ticks: { file, count, every-ms, until? }` — appends `tick <unix ms>` to `file` `count`
//!   times, sleeping `every-ms` in between, and stops early once `until: { file, contains }`
//!   holds that text: with `spin-ms` in another split flow, ticks inside the spin
//!   show that a computing guest does not hold up the other flows;
//! - `barrier: { mine, wait-for, timeout-ms }` — creates the file `mine`, then waits (sleeping)
//!   until the file `wait-for` exists: two tasklets that wait for each other can only both
//!   finish when they run at the same time. Fails with kind `barrier.timeout` after `timeout-ms`.

use std::time::{Duration, Instant};

use batch_sdk::testkit::{Log, append_json_lines, injected};
use batch_sdk::{Error, ExecutionContext, ExitStatus, RepeatStatus, Setup, Tasklet};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
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
    #[serde(default)]
    spin_ms: Option<u64>,
    #[serde(default)]
    ticks: Option<Ticks>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Ticks {
    file: String,
    count: u32,
    every_ms: u64,
    /// Stop early once this file holds a line containing this text (an event, not a time).
    #[serde(default)]
    until: Option<Until>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Until {
    file: String,
    contains: String,
}

/// Wall-clock milliseconds since the Unix epoch.
fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Append {
    file: String,
    line: String,
}

#[derive(Debug, Deserialize)]
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
#[derive(Debug)]
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
            log: Log::new(config.log.clone())?,
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
        if let Some(ms) = self.config.spin_ms {
            self.log.append(&format!("spin start {}", unix_ms()))?;
            let started = Instant::now();
            let mut x = 0u64;
            while started.elapsed() < Duration::from_millis(ms) {
                for i in 0..10_000u64 {
                    x = std::hint::black_box(x.wrapping_add(i));
                }
            }
            self.log.append(&format!("spin end {}", unix_ms()))?;
        }
        if let Some(t) = &self.config.ticks {
            for _ in 0..t.count {
                if let Some(u) = &t.until
                    && std::fs::read_to_string(&u.file).is_ok_and(|s| s.contains(&u.contains))
                {
                    break;
                }
                append_json_lines(&t.file, &[format!("tick {}", unix_ms())])?;
                std::thread::sleep(Duration::from_millis(t.every_ms));
            }
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
