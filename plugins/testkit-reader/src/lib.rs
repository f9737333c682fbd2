//! `testkit-reader`: returns the configured string items in order; an item listed in `fail`
//! returns an error of that kind instead, and is consumed (reads are forward-only).
//! ItemStream state: the position, so a restart resumes after the last committed item.
//!
//! Config: `{ items: [..], fail: { "<item>": { kind: "<k>", times: N | "always" } } }`.

use std::collections::HashMap;

use batch_sdk::testkit::{Fault, Faults};
use batch_sdk::{Error, ExecutionContext, ItemReader, Setup};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    items: Vec<String>,
    #[serde(default)]
    fail: HashMap<String, Fault>,
}

/// The reader.
#[derive(Debug)]
pub struct TestkitReader {
    items: Vec<String>,
    faults: Faults,
    position: usize,
}

impl ItemReader for TestkitReader {
    type Item = String;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        Ok(TestkitReader {
            items: c.items,
            faults: Faults::new(c.fail),
            position: 0,
        })
    }

    fn open(&mut self, context: &ExecutionContext) -> Result<(), Error> {
        self.position = context.get("position")?.unwrap_or(0);
        Ok(())
    }

    fn read(&mut self) -> Result<Option<String>, Error> {
        let Some(item) = self.items.get(self.position).cloned() else {
            return Ok(None);
        };
        self.position += 1;
        self.faults.check(&item)?;
        Ok(Some(item))
    }

    fn update(&mut self) -> Result<ExecutionContext, Error> {
        let mut ctx = ExecutionContext::new();
        ctx.put("position", self.position);
        Ok(ctx)
    }
}

batch_sdk::export_reader!(TestkitReader);
