//! `engine` → chunk loop: the step's processor, a WebAssembly component or a native
//! [`ItemProcessor`].

use super::items::ItemProcessor;
use crate::plugin::{PluginError, ProcessOutcome, ProcessorInstance};

/// A running processor.
pub(crate) enum StepProcessor {
    /// A processor component.
    Wasm(ProcessorInstance),
    /// A processor in the host.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "no built-in processor yet: the unit tests' seam")
    )]
    Native(Box<dyn ItemProcessor>),
}

impl StepProcessor {
    /// Processes one item: `Some` to pass on, `None` when filtered.
    pub(super) async fn process(&mut self, item: &Vec<u8>) -> Result<Option<Vec<u8>>, PluginError> {
        match self {
            StepProcessor::Wasm(p) => p.process(item).await,
            StepProcessor::Native(p) => p.process(item),
        }
    }

    /// Processes a chunk in one call; one outcome per item.
    pub(super) async fn process_batch(
        &mut self,
        items: &[Vec<u8>],
    ) -> Result<Vec<ProcessOutcome>, PluginError> {
        match self {
            StepProcessor::Wasm(p) => p.process_batch(items).await,
            StepProcessor::Native(p) => p.process_batch(items),
        }
    }

    /// Processes items in order until the first that fails (the replay model's batch call).
    pub(super) async fn process_until_error(
        &mut self,
        items: &[Vec<u8>],
    ) -> Result<Vec<ProcessOutcome>, PluginError> {
        match self {
            StepProcessor::Wasm(p) => p.process_until_error(items).await,
            StepProcessor::Native(p) => p.process_until_error(items),
        }
    }
}
