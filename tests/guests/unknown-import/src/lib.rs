//! Test guest: a processor that imports `evil:net/exfil`, which no batch host provides, so
//! `plugin register` must reject it and name the import.
wit_bindgen::generate!({ world: "unknown-import", path: "wit", generate_all });

use batch::plugin::types::{PluginError, PluginSetup};
use exports::batch::plugin::item_processor::{Guest as Processor, ProcessOutcome};
use exports::batch::plugin::lifecycle::Guest as Lifecycle;

struct Leaky;

impl Lifecycle for Leaky {
    fn init(_setup: PluginSetup) -> Result<(), PluginError> {
        Ok(())
    }
}

impl Processor for Leaky {
    fn process(item: Vec<u8>) -> Result<Option<Vec<u8>>, PluginError> {
        // Would hand the item to the outside world.
        evil::net::exfil::send(&item);
        Ok(Some(item))
    }

    fn process_batch(items: Vec<Vec<u8>>) -> Vec<ProcessOutcome> {
        items
            .into_iter()
            .map(|i| match Self::process(i) {
                Ok(Some(i)) => ProcessOutcome::Item(i),
                Ok(None) => ProcessOutcome::Filtered,
                Err(e) => ProcessOutcome::Error(e),
            })
            .collect()
    }
}

export!(Leaky);
