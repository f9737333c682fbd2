//! `testkit-decider`: a scriptable decider for flow-routing tests.
//!
//! Config: exactly one source of the answer —
//! - `status: TEXT` — always `TEXT`;
//! - `from-context: KEY` — the job ExecutionContext value under `KEY` (a string as is, anything
//!   else as JSON); fails with kind `decider.missing` when absent;
//! - `from-last-step: exit-code | status` — the previous step's exit code or BatchStatus;
//! - `fail-kind: K` — fail with kind `K`.
//!
//! `log: FILE` appends `"decided <answer>"` to `FILE`.

use batch_sdk::testkit::{Log, injected};
use batch_sdk::{Decider, Error, ExecutionContext, Setup, StepSummary};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Config {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    from_context: Option<String>,
    #[serde(default)]
    from_last_step: Option<String>,
    #[serde(default)]
    fail_kind: Option<String>,
    #[serde(default)]
    log: Option<String>,
}

/// The decider.
#[derive(Debug)]
pub struct TestkitDecider {
    config: Config,
    log: Log,
}

impl Decider for TestkitDecider {
    fn init(setup: &Setup) -> Result<Self, Error> {
        let config: Config = setup.config()?;
        let sources = [
            config.status.is_some(),
            config.from_context.is_some(),
            config.from_last_step.is_some(),
            config.fail_kind.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(Error::new(
                "config",
                "set exactly one of `status`, `from-context`, `from-last-step`, `fail-kind`",
            ));
        }
        Ok(TestkitDecider {
            log: Log::new(config.log.clone())?,
            config,
        })
    }

    fn decide(
        &mut self,
        job_context: &ExecutionContext,
        last_step: Option<&StepSummary>,
    ) -> Result<String, Error> {
        let c = &self.config;
        let answer = if let Some(kind) = &c.fail_kind {
            return Err(injected(kind, "decide"));
        } else if let Some(s) = &c.status {
            s.clone()
        } else if let Some(key) = &c.from_context {
            match job_context.get::<serde_json::Value>(key)? {
                Some(serde_json::Value::String(s)) => s,
                Some(v) => v.to_string(),
                None => {
                    return Err(Error::new(
                        "decider.missing",
                        format!("the job context has no key `{key}`"),
                    ));
                }
            }
        } else {
            let last = last_step
                .ok_or_else(|| Error::new("decider.missing", "no step ran before this decider"))?;
            match c.from_last_step.as_deref() {
                Some("status") => last.status.clone(),
                _ => last.exit_code.clone(),
            }
        };
        self.log.append(&format!("decided {answer}"))?;
        Ok(answer)
    }
}

batch_sdk::export_decider!(TestkitDecider);
