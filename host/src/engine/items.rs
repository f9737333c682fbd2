//! `engine` → chunk loop: the item roles as host-side traits, Spring's `ItemReader`,
//! `ItemProcessor` and `ItemWriter` (with `ItemStream`). The built-in readers and writers
//! implement them, and so do the native doubles the chunk loops' unit tests use; a component
//! reaches the loop through the same role wrappers (`reader.rs`, `processor.rs`, `writer.rs`).

use crate::domain::{ExecutionContext, TableRow};
use crate::plugin::{PluginError, ProcessOutcome, ReadBatch};

/// A reader that runs in the host. `open` gets the reader's last committed state, `update`
/// returns the state to commit with the current chunk.
pub(crate) trait ItemReader: Send {
    /// ItemStream `open`.
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError>;
    /// Up to `max` read outcomes; `end` once the input is exhausted.
    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError>;
    /// ItemStream `update`.
    fn update(&mut self) -> Result<ExecutionContext, PluginError>;
    /// ItemStream `close`.
    fn close(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Every item is JSON the host itself encoded (the built-in `csv` reader's), so a writer
    /// it reaches unchanged need not check it again.
    fn yields_host_json(&self) -> bool {
        false
    }
}

/// A processor that runs in the host.
pub(crate) trait ItemProcessor: Send {
    /// Transforms one item; `Ok(None)` filters it out.
    fn process(&mut self, item: &[u8]) -> Result<Option<Vec<u8>>, PluginError>;

    /// Processes a whole chunk in one call (the non-fault-tolerant loop's batched call).
    fn process_batch(&mut self, items: &[Vec<u8>]) -> Result<Vec<ProcessOutcome>, PluginError> {
        items
            .iter()
            .map(|item| match self.process(item) {
                Ok(Some(out)) => Ok(ProcessOutcome::Item(out)),
                Ok(None) => Ok(ProcessOutcome::Filtered),
                Err(PluginError::Failed(e)) => Ok(ProcessOutcome::Error(e)),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// Processes items in order until the first that fails; that error ends the outcomes.
    fn process_until_error(
        &mut self,
        items: &[Vec<u8>],
    ) -> Result<Vec<ProcessOutcome>, PluginError> {
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            let outcome = match self.process(item) {
                Ok(Some(out)) => ProcessOutcome::Item(out),
                Ok(None) => ProcessOutcome::Filtered,
                Err(PluginError::Failed(e)) => ProcessOutcome::Error(e),
                Err(e) => return Err(e),
            };
            let failed = matches!(outcome, ProcessOutcome::Error(_));
            outcomes.push(outcome);
            if failed {
                break;
            }
        }
        Ok(outcomes)
    }
}

/// A writer that runs in the host. Its chunk listener calls bracket every transaction.
pub(crate) trait ItemWriter: Send {
    /// ItemStream `open`.
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError>;
    /// Before the transaction's writes.
    fn before_chunk(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Writes items in the current transaction.
    fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError>;
    /// Writes items that are JSON the host itself encoded (see
    /// [`ItemReader::yields_host_json`]); a writer may skip checking them.
    fn write_host_json(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        self.write(items)
    }
    /// ItemStream `update`.
    fn update(&mut self) -> Result<ExecutionContext, PluginError>;
    /// Rows the repository inserts in the commit's own transaction (the `sql-table` writer).
    fn staged_rows(&self) -> &[TableRow] {
        &[]
    }
    /// After the transaction committed.
    fn after_chunk(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// After the transaction rolled back.
    fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// ItemStream `close`.
    fn close(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}
