//! `__NAME__`: a decider. It answers where the flow goes next: the answer is matched against
//! the decider step's `next` transitions like an exit code.

use batch_sdk::{Decider, Error, ExecutionContext, Setup, StepSummary};
use serde::Deserialize;

/// The job.yaml `config` of this plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// At least this many items read by the step before: `BIG`, otherwise `SMALL`.
    #[serde(default = "default_threshold")]
    threshold: i64,
}

fn default_threshold() -> i64 {
    3
}

pub struct Plugin {
    config: Config,
}

impl Decider for Plugin {
    fn init(setup: &Setup) -> Result<Self, Error> {
        Ok(Plugin {
            config: setup.config()?,
        })
    }

    fn decide(
        &mut self,
        _job_context: &ExecutionContext,
        last_step: Option<&StepSummary>,
    ) -> Result<String, Error> {
        let read = last_step.map(|s| s.read_count).unwrap_or(0);
        Ok(if read >= self.config.threshold { "BIG" } else { "SMALL" }.into())
    }
}

batch_sdk::export_decider!(Plugin);
