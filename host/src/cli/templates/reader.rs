//! `__NAME__`: a reader. It produces `count` items and checkpoints its position, so a restart
//! continues after the last committed chunk instead of starting over.

use batch_sdk::{Error, ExecutionContext, ItemReader, Setup};
use serde::Deserialize;
use serde_json::{Value, json};

/// The job.yaml `config` of this plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// How many items to produce.
    count: u64,
}

pub struct Plugin {
    count: u64,
    next: u64,
}

impl ItemReader for Plugin {
    type Item = Value;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        Ok(Plugin {
            count: c.count,
            next: 1,
        })
    }

    fn open(&mut self, context: &ExecutionContext) -> Result<(), Error> {
        // The checkpoint of the last committed chunk, if this is a restart.
        self.next = context.get("next")?.unwrap_or(1);
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Value>, Error> {
        if self.next > self.count {
            return Ok(None);
        }
        let item = json!({ "id": self.next, "name": format!("item {}", self.next) });
        self.next += 1;
        Ok(Some(item))
    }

    fn update(&mut self) -> Result<ExecutionContext, Error> {
        let mut ctx = ExecutionContext::new();
        ctx.put("next", self.next);
        Ok(ctx)
    }
}

batch_sdk::export_reader!(Plugin);
