//! `report-tasklet`: writes a small Markdown report of the run: a title, the job and step, the
//! job parameters, and any lines from the config (which may use `${job.context.KEY}` placeholders
//! to report what earlier steps promoted).
//!
//! Config: `{ path: FILE, title?: TEXT, lines?: [TEXT], exit-code?: CODE }`. The file is written
//! to a temporary name and renamed, so a crash never leaves half a report. `exit-code` sets the
//! step's exit code (for `next` routing).

use batch_sdk::{Error, ExecutionContext, ExitStatus, RepeatStatus, Setup, Tasklet};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Config {
    path: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    lines: Vec<String>,
    #[serde(default)]
    exit_code: Option<String>,
}

/// The tasklet.
#[derive(Debug)]
pub struct ReportTasklet {
    config: Config,
    text: String,
}

/// Renders the report.
fn render(setup: &Setup, config: &Config) -> String {
    let title = config
        .title
        .clone()
        .unwrap_or_else(|| format!("{} / {}", setup.job_name(), setup.step_name()));
    let mut out = format!(
        "# {title}\n\n- job: `{}`\n- step: `{}`\n",
        setup.job_name(),
        setup.step_name()
    );
    if !setup.params().is_empty() {
        out.push_str("\n| parameter | value |\n|---|---|\n");
        for p in setup.params() {
            out.push_str(&format!("| {} | {} |\n", p.name, p.value));
        }
    }
    if !config.lines.is_empty() {
        out.push('\n');
        for line in &config.lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Tasklet for ReportTasklet {
    fn init(setup: &Setup) -> Result<Self, Error> {
        let config: Config = setup.config()?;
        if config.path.is_empty() {
            return Err(Error::new("config", "`path` must not be empty"));
        }
        Ok(ReportTasklet {
            text: render(setup, &config),
            config,
        })
    }

    fn execute(&mut self, context: &mut ExecutionContext) -> Result<RepeatStatus, Error> {
        let path = std::path::Path::new(&self.config.path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = format!("{}.tmp", self.config.path);
        std::fs::write(&tmp, self.text.as_bytes())?;
        std::fs::rename(&tmp, path)?;
        context.put("report.bytes", self.text.len());
        Ok(RepeatStatus::Finished)
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.config
            .exit_code
            .as_ref()
            .map(|c| ExitStatus::new(c).with_description(format!("report {}", self.config.path)))
    }
}

batch_sdk::export_tasklet!(ReportTasklet);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_title_params_and_lines() {
        let setup = Setup::for_test(serde_json::json!({ "path": "r.md", "lines": ["written: 5"] }));
        let config: Config = setup.config().unwrap();
        let text = render(&setup, &config);
        assert!(text.starts_with("# "), "{text}");
        assert!(text.ends_with("\nwritten: 5\n"), "{text}");
    }
}
