//! Test guest: a partitioner that breaks the contract on purpose, per config `mode`: `many`
//! (5,000 partitions), `reserved` (a `batch.` key that would clobber the host's own), `huge`
//! (a value far above the context size limit).

use batch_sdk::{Error, ExecutionContext, Partitioner, Setup};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Config {
    mode: String,
}

/// The partitioner.
#[derive(Debug)]
pub struct HostilePartitioner {
    mode: String,
}

impl Partitioner for HostilePartitioner {
    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        Ok(HostilePartitioner { mode: c.mode })
    }

    fn partition(&mut self, _grid_size: u32) -> Result<Vec<ExecutionContext>, Error> {
        let one = |key: &str, value: serde_json::Value| {
            let mut ctx = ExecutionContext::new();
            ctx.put(key, value);
            ctx
        };
        Ok(match self.mode.as_str() {
            "many" => (0..5000).map(|i| one("n", i.into())).collect(),
            "reserved" => vec![one("batch.stepType", "pwned".into())],
            "huge" => vec![one("blob", "x".repeat(8 << 20).into())],
            _ => Vec::new(),
        })
    }
}

batch_sdk::export_partitioner!(HostilePartitioner);
