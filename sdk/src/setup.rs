//! `batch-sdk` → setup: what a plugin learns in `init` (config, job parameters, names).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;
use crate::bindings::platform::batch::plugin::types::PluginSetup;

/// One job parameter of the current run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobParameter {
    /// The parameter name, such as `run.date`.
    pub name: String,
    /// The value as text.
    pub value: String,
    /// The Java type Spring Batch records, such as `java.lang.String`.
    pub type_name: String,
    /// Whether the parameter identifies the JobInstance.
    pub identifying: bool,
}

/// What a plugin receives before its first call: its job.yaml `config` and the job parameters.
#[derive(Debug, Clone)]
pub struct Setup {
    config: Value,
    params: Vec<JobParameter>,
    job_name: String,
    step_name: String,
}

/// Checks a path from the plugin's config: it must be relative and stay inside the step's
/// directory (no `..`), the only directory a plugin can see. An absolute path would otherwise be
/// read as a path *inside* that directory, silently; this makes it a `config` error naming the
/// field, such as ``config: `path`: `/srv/out.jsonl` is absolute; …``.
pub fn relative_path(field: &str, path: &str) -> Result<(), Error> {
    let p = std::path::Path::new(path);
    if path.is_empty() {
        return Err(Error::config(format!(
            "config `{field}` is empty; give a file name"
        )));
    }
    if p.is_absolute() {
        return Err(Error::config(format!(
            "`{field}`: `{path}` is absolute; paths are relative to the step's directory, the only one a plugin can see"
        )));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::config(format!(
            "`{field}`: `{path}` leaves the step's directory (`..`); paths stay inside it"
        )));
    }
    Ok(())
}

impl Setup {
    /// The plugin's `config` section decoded as `T`. A mismatch is an error of kind `config`
    /// that names the offending field.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(self.config.clone())
            .map_err(|e| Error::config(format!("invalid plugin config: {e}")))
    }

    /// The raw `config` section.
    pub fn config_value(&self) -> &Value {
        &self.config
    }

    /// The value of job parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    /// All job parameters.
    pub fn params(&self) -> &[JobParameter] {
        &self.params
    }

    /// The job's name.
    pub fn job_name(&self) -> &str {
        &self.job_name
    }

    /// The name of the step this plugin runs in.
    pub fn step_name(&self) -> &str {
        &self.step_name
    }

    /// A setup for native unit tests of plugin logic.
    pub fn for_test(config: Value) -> Self {
        Setup {
            config,
            params: Vec::new(),
            job_name: "test-job".into(),
            step_name: "test-step".into(),
        }
    }

    #[allow(dead_code, reason = "used by the wasm glue of some roles only")]
    pub(crate) fn from_wire(s: PluginSetup) -> Result<Self, Error> {
        let config = if s.config.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&s.config)
                .map_err(|e| Error::config(format!("config is not JSON: {e}")))?
        };
        Ok(Setup {
            config,
            params: s
                .params
                .into_iter()
                .map(|p| JobParameter {
                    name: p.name,
                    value: p.value,
                    type_name: p.type_,
                    identifying: p.identifying,
                })
                .collect(),
            job_name: s.job_name,
            step_name: s.step_name,
        })
    }
}
