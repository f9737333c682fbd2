//! A processor built against `batch:plugin@0.2.0`, for the contract-version refusal test.
wit_bindgen::generate!({ world: "processor", path: "wit" });

struct Echo;

impl exports::batch::plugin::item_processor::Guest for Echo {
    fn process(item: Vec<u8>) -> Vec<u8> {
        item
    }
}

export!(Echo);
