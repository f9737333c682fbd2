//! `engine` → chunk loop: the step's writer, a WebAssembly component or a writer that runs in
//! the host (the built-in `sql-table` writer, or a native [`ItemWriter`]).

use super::items::ItemWriter;
use crate::domain::{ExecutionContext, ExitStatus, ItemError, StepExecution, TableRow};
use crate::plugin::{PluginError, Setup, WriterInstance};

/// A running writer.
#[allow(
    clippy::large_enum_variant,
    reason = "one per step; boxing would add a pointer chase to every call"
)]
pub(crate) enum StepWriter {
    /// A writer component.
    Wasm(WriterInstance),
    /// A writer in the host.
    Native(Box<dyn ItemWriter>),
}

impl StepWriter {
    pub(super) async fn init(&mut self, setup: &Setup) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.init(setup).await,
            StepWriter::Native(_) => Ok(()),
        }
    }

    pub(super) async fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.open(ctx).await,
            StepWriter::Native(w) => w.open(ctx),
        }
    }

    pub(super) async fn before_chunk(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.before_chunk().await,
            StepWriter::Native(w) => w.before_chunk(),
        }
    }

    pub(super) async fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.write(items).await,
            StepWriter::Native(w) => w.write(items),
        }
    }

    /// Writes items that are JSON the host encoded, unchanged since (no processor ran).
    pub(super) async fn write_host_json(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.write(items).await,
            StepWriter::Native(w) => w.write_host_json(items),
        }
    }

    pub(super) async fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        match self {
            StepWriter::Wasm(w) => w.update().await,
            StepWriter::Native(w) => w.update(),
        }
    }

    /// The rows to insert with the commit that is about to happen.
    pub(super) fn staged_rows(&self) -> &[TableRow] {
        match self {
            StepWriter::Wasm(_) => &[],
            StepWriter::Native(w) => w.staged_rows(),
        }
    }

    pub(super) async fn after_chunk(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.after_chunk().await,
            StepWriter::Native(w) => w.after_chunk(),
        }
    }

    pub(super) async fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.after_chunk_error().await,
            StepWriter::Native(w) => w.after_chunk_error(),
        }
    }

    /// ItemStream `after-step` (writers in the host set no exit status).
    pub(super) async fn after_step(
        &mut self,
        step: &StepExecution,
    ) -> Result<Option<ExitStatus>, PluginError> {
        match self {
            StepWriter::Wasm(w) => w.after_step(step).await,
            StepWriter::Native(_) => Ok(None),
        }
    }

    pub(super) async fn close(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.close().await,
            StepWriter::Native(w) => w.close(),
        }
    }
}

/// Stages each chunk's items as rows of a logical table in the repository; the rows are inserted
/// in the same database transaction as the chunk's commit, so they are exactly-once by
/// construction. Checkpoint: the number of committed rows.
pub(super) struct TableWriter {
    table: String,
    committed: i64,
    staged: Vec<TableRow>,
}

const ROWS: &str = "rows";

impl TableWriter {
    pub(super) fn new(table: String) -> Self {
        TableWriter {
            table,
            committed: 0,
            staged: Vec::new(),
        }
    }
}

impl ItemWriter for TableWriter {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.committed = ctx.get(ROWS).and_then(|v| v.as_i64()).unwrap_or(0);
        self.staged.clear();
        Ok(())
    }

    fn before_chunk(&mut self) -> Result<(), PluginError> {
        self.staged.clear();
        Ok(())
    }

    fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        for item in items {
            let payload = String::from_utf8(item.clone()).map_err(|_| {
                PluginError::Failed(ItemError::new(
                    "validation.utf8",
                    "the sql-table writer stores text items",
                ))
            })?;
            let row_number = self.committed + self.staged.len() as i64 + 1;
            self.staged.push(TableRow {
                table: self.table.clone(),
                row_number,
                payload,
            });
        }
        Ok(())
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        let mut ctx = ExecutionContext::new();
        ctx.put(
            ROWS,
            serde_json::json!(self.committed + self.staged.len() as i64),
        );
        Ok(ctx)
    }

    fn staged_rows(&self) -> &[TableRow] {
        &self.staged
    }

    fn after_chunk(&mut self) -> Result<(), PluginError> {
        self.committed += self.staged.len() as i64;
        self.staged.clear();
        Ok(())
    }

    fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        self.staged.clear();
        Ok(())
    }
}
