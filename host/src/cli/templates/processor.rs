//! `__NAME__`: a processor. It receives one JSON object per input record and returns it
//! changed, filters it (`Ok(None)`), or fails it with a dotted error kind the job's
//! fault-tolerance rules can skip or retry.

use batch_sdk::{Error, ItemProcessor, Setup};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The job.yaml `config` of this plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The field that must hold a value.
    #[serde(default = "default_field")]
    field: String,
}

fn default_field() -> String {
    "name".into()
}

pub struct Plugin {
    config: Config,
}

impl ItemProcessor for Plugin {
    type In = Map<String, Value>;
    type Out = Map<String, Value>;

    fn init(setup: &Setup) -> Result<Self, Error> {
        Ok(Plugin {
            config: setup.config()?,
        })
    }

    fn process(&mut self, mut item: Map<String, Value>) -> Result<Option<Self::Out>, Error> {
        let value = match item.get(&self.config.field) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_uppercase(),
            _ => {
                return Err(Error::validation(
                    "missing",
                    format!("`{}` is empty", self.config.field),
                ));
            }
        };
        item.insert(self.config.field.clone(), Value::String(value));
        Ok(Some(item))
    }
}

batch_sdk::export_processor!(Plugin);
