//! Test guest: passes items through, but panics (a trap, not an error) on the item whose `id`
//! equals config `panic-on`.

use batch_sdk::{Error, ItemProcessor, Setup};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Config {
    panic_on: String,
}

/// The processor.
#[derive(Debug)]
pub struct PanicProcessor {
    panic_on: String,
}

impl ItemProcessor for PanicProcessor {
    type In = Map<String, Value>;
    type Out = Map<String, Value>;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        Ok(PanicProcessor {
            panic_on: c.panic_on,
        })
    }

    fn process(&mut self, item: Self::In) -> Result<Option<Self::Out>, Error> {
        if item.get("id").and_then(Value::as_str) == Some(self.panic_on.as_str()) {
            panic!("boom on item {}", self.panic_on);
        }
        Ok(Some(item))
    }
}

batch_sdk::export_processor!(PanicProcessor);
