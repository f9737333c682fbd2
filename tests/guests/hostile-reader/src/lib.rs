//! Test guest: a reader on the raw bindings (no SDK in the way), breaking the contract as its
//! config `mode` says. It reads `items` JSON items (`{"id": N}`, default 30), then ends.
//!
//! - `ok`: behaves;
//! - `too-many`: `read-batch(max)` returns `max + 5000` items;
//! - `big-context`: `update` returns a 64 MiB ExecutionContext;
//! - `sleep-open`: sleeps for an hour in `open` (a blocking WASI call);
//! - `sleep-read`: sleeps for an hour in `read-batch` after the first `items` items.

wit_bindgen::generate!({ world: "reader", path: "../../../wit" });

use std::cell::RefCell;

use batch::plugin::types::{ContextEntry, ExitStatus, PluginError, PluginSetup, StepSummary};
use exports::batch::plugin::item_reader::{Batch, Guest as ItemReader, ReadOutcome};
use exports::batch::plugin::item_stream::Guest as ItemStream;
use exports::batch::plugin::lifecycle::Guest as Lifecycle;

struct State {
    mode: String,
    items: u64,
    next: u64,
}

thread_local! {
    static STATE: RefCell<State> = const {
        RefCell::new(State { mode: String::new(), items: 30, next: 0 })
    };
}

fn hour() {
    std::thread::sleep(std::time::Duration::from_secs(3600));
}

struct Reader;

impl Lifecycle for Reader {
    fn init(setup: PluginSetup) -> Result<(), PluginError> {
        let config: serde_json::Value = serde_json::from_str(&setup.config).unwrap_or_default();
        STATE.with_borrow_mut(|s| {
            s.mode = config["mode"].as_str().unwrap_or("ok").to_owned();
            s.items = config["items"].as_u64().unwrap_or(30);
        });
        Ok(())
    }
}

impl ItemStream for Reader {
    fn open(context: Vec<ContextEntry>) -> Result<(), PluginError> {
        if STATE.with_borrow(|s| s.mode == "sleep-open") {
            hour();
        }
        let next = context
            .iter()
            .find(|e| e.key == "next")
            .and_then(|e| e.value.parse().ok())
            .unwrap_or(0);
        STATE.with_borrow_mut(|s| s.next = next);
        Ok(())
    }

    fn update() -> Result<Vec<ContextEntry>, PluginError> {
        let (mode, next) = STATE.with_borrow(|s| (s.mode.clone(), s.next));
        let mut out = vec![ContextEntry {
            key: "next".into(),
            value: next.to_string(),
        }];
        if mode == "big-context" {
            out.push(ContextEntry {
                key: "hoard".into(),
                value: format!("\"{}\"", "x".repeat(64 << 20)),
            });
        }
        Ok(out)
    }

    fn after_step(_step: StepSummary) -> Option<ExitStatus> {
        None
    }

    fn close() -> Result<(), PluginError> {
        Ok(())
    }
}

fn item(n: u64) -> Vec<u8> {
    format!("{{\"id\":{n}}}").into_bytes()
}

impl ItemReader for Reader {
    fn read() -> Result<Option<Vec<u8>>, PluginError> {
        let batch = Self::read_batch(1);
        Ok(match batch.outcomes.into_iter().next() {
            Some(ReadOutcome::Item(i)) => Some(i),
            _ => None,
        })
    }

    fn read_batch(max: u32) -> Batch {
        let (mode, items, next) = STATE.with_borrow(|s| (s.mode.clone(), s.items, s.next));
        if mode == "sleep-read" && next >= items {
            hour();
        }
        let want = match mode.as_str() {
            "too-many" => u64::from(max) + 5000,
            _ => u64::from(max),
        };
        let limit = if mode == "too-many" { u64::MAX } else { items };
        let mut outcomes = Vec::new();
        let mut n = next;
        while (outcomes.len() as u64) < want && n < limit {
            n += 1;
            outcomes.push(ReadOutcome::Item(item(n)));
        }
        STATE.with_borrow_mut(|s| s.next = n);
        Batch {
            end: n >= limit && mode != "sleep-read",
            outcomes,
        }
    }
}

export!(Reader);
