//! `testkit-processor`: returns each string item unchanged, with injected faults.
//!
//! Config: `{ fail: {..}, fail-on-call: N, fail-kind: K, filter: [..], log: "process.log" }`.
//! Every invocation appends the item to `log` first (never rolled back); then the N-th call
//! overall fails with `fail-kind` (default `error`); an item listed in `fail` fails for its
//! first `times` invocations; an item in `filter` is filtered out.

use batch_sdk::testkit::{Common, Faults, Log, injected};
use batch_sdk::{Error, ItemProcessor, Setup};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Config {
    #[serde(flatten)]
    common: Common,
    #[serde(default)]
    filter: Vec<String>,
}

/// The processor.
#[derive(Debug)]
pub struct TestkitProcessor {
    faults: Faults,
    fail_on_call: Option<u64>,
    fail_kind: String,
    filter: Vec<String>,
    log: Log,
    calls: u64,
}

impl ItemProcessor for TestkitProcessor {
    type In = String;
    type Out = String;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        Ok(TestkitProcessor {
            faults: Faults::new(c.common.fail),
            fail_on_call: c.common.fail_on_call,
            fail_kind: c.common.fail_kind,
            filter: c.filter,
            log: Log::new(c.common.log)?,
            calls: 0,
        })
    }

    fn process(&mut self, item: String) -> Result<Option<String>, Error> {
        self.calls += 1;
        self.log.append(&item)?;
        if self.fail_on_call == Some(self.calls) {
            return Err(injected(
                &self.fail_kind,
                &format!("call {} on `{item}`", self.calls),
            ));
        }
        self.faults.check(&item)?;
        if self.filter.contains(&item) {
            return Ok(None);
        }
        Ok(Some(item))
    }
}

batch_sdk::export_processor!(TestkitProcessor);
