//! `__NAME__`: a tasklet. It runs once per step (return `Continuable` to be called again, one
//! transaction per call) and writes a line to `path`.

use batch_sdk::{Error, ExecutionContext, RepeatStatus, Setup, Tasklet, relative_path};
use serde::Deserialize;

/// The job.yaml `config` of this plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The file to write, relative to the work directory.
    path: String,
    /// What to write.
    #[serde(default = "default_text")]
    text: String,
}

fn default_text() -> String {
    "done".into()
}

pub struct Plugin {
    config: Config,
}

impl Tasklet for Plugin {
    fn init(setup: &Setup) -> Result<Self, Error> {
        let config: Config = setup.config()?;
        relative_path("path", &config.path)?;
        Ok(Plugin { config })
    }

    fn execute(&mut self, context: &mut ExecutionContext) -> Result<RepeatStatus, Error> {
        std::fs::write(&self.config.path, format!("{}\n", self.config.text))
            .map_err(|e| Error::io("write", format!("{}: {e}", self.config.path)))?;
        context.put("written", true);
        Ok(RepeatStatus::Finished)
    }
}

batch_sdk::export_tasklet!(Plugin);
