//! Test guest: a processor built on wit-bindgen directly (not the SDK) whose `process-block`
//! answers lie, as config `{"mode": …}` says — `overclaim` (the outcomes claim more bytes than
//! the data holds), `underclaim` (fewer: data left over), `huge` (an item of 4 GiB − 1 bytes),
//! `short` (one outcome fewer than items), `long` (one more). `process` and `process-batch`
//! answer honestly (the item passes unchanged), so the host's fallbacks work.
wit_bindgen::generate!({ world: "block-processor", path: "../../../wit", generate_all });

use std::cell::RefCell;

use batch::plugin::types::{PluginError, PluginSetup};
use exports::batch::plugin::item_block_processor::{
    BlockOutcome, Guest as BlockProcessor, ItemBlock, ProcessedBlock,
};
use exports::batch::plugin::item_processor::{Guest as Processor, ProcessOutcome};
use exports::batch::plugin::lifecycle::Guest as Lifecycle;

thread_local! {
    static MODE: RefCell<String> = const { RefCell::new(String::new()) };
}

struct Liar;

impl Lifecycle for Liar {
    fn init(setup: PluginSetup) -> Result<(), PluginError> {
        // `{"mode":"NAME"}`: the mode is the text between the third and fourth quotes.
        let mode = setup
            .config
            .split('"')
            .nth(3)
            .unwrap_or_default()
            .to_owned();
        MODE.with(|m| *m.borrow_mut() = mode);
        Ok(())
    }
}

impl Processor for Liar {
    fn process(item: Vec<u8>) -> Result<Option<Vec<u8>>, PluginError> {
        Ok(Some(item))
    }

    fn process_batch(items: Vec<Vec<u8>>) -> Vec<ProcessOutcome> {
        items.into_iter().map(ProcessOutcome::Item).collect()
    }
}

impl BlockProcessor for Liar {
    fn process_block(items: ItemBlock) -> ProcessedBlock {
        let mut start = 0;
        let mut outcomes: Vec<BlockOutcome> = (items.ends.iter())
            .map(|&end| {
                let len = end - start;
                start = end;
                BlockOutcome::Item(len)
            })
            .collect();
        let mut data = items.data;
        match MODE.with(|m| m.borrow().clone()).as_str() {
            "overclaim" => data.truncate(data.len() / 2),
            "underclaim" => data.extend_from_slice(b"{\"smuggled\":true}"),
            "huge" => outcomes[0] = BlockOutcome::Item(u32::MAX),
            "short" => {
                outcomes.pop();
            }
            "long" => outcomes.push(BlockOutcome::Filtered),
            _ => {}
        }
        ProcessedBlock { data, outcomes }
    }
}

export!(Liar);
