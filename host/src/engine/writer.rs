//! The step's writer: a WebAssembly component, or the built-in `sql-table` writer.

use crate::domain::{ExecutionContext, ItemError, TableRow};
use crate::plugin::{PluginError, Setup, WriterInstance};

/// A running writer.
pub(super) enum StepWriter {
    /// A writer component.
    Wasm(WriterInstance),
    /// The built-in writer whose rows live in the repository database.
    Table(TableWriter),
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

impl StepWriter {
    pub(super) fn table(table: String) -> Self {
        StepWriter::Table(TableWriter {
            table,
            committed: 0,
            staged: Vec::new(),
        })
    }

    pub(super) async fn init(&mut self, setup: &Setup) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.init(setup).await,
            StepWriter::Table(_) => Ok(()),
        }
    }

    pub(super) async fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.open(ctx).await,
            StepWriter::Table(t) => {
                t.committed = ctx.get(ROWS).and_then(|v| v.as_i64()).unwrap_or(0);
                t.staged.clear();
                Ok(())
            }
        }
    }

    pub(super) async fn before_chunk(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.before_chunk().await,
            StepWriter::Table(t) => {
                t.staged.clear();
                Ok(())
            }
        }
    }

    pub(super) async fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.write(items).await,
            StepWriter::Table(t) => {
                for item in items {
                    let payload = String::from_utf8(item.clone()).map_err(|_| {
                        PluginError::Failed(ItemError::new(
                            "validation.utf8",
                            "the sql-table writer stores text items",
                        ))
                    })?;
                    let row_number = t.committed + t.staged.len() as i64 + 1;
                    t.staged.push(TableRow {
                        table: t.table.clone(),
                        row_number,
                        payload,
                    });
                }
                Ok(())
            }
        }
    }

    pub(super) async fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        match self {
            StepWriter::Wasm(w) => w.update().await,
            StepWriter::Table(t) => {
                let mut ctx = ExecutionContext::new();
                ctx.put(ROWS, serde_json::json!(t.committed + t.staged.len() as i64));
                Ok(ctx)
            }
        }
    }

    /// The rows to insert with the commit that is about to happen.
    pub(super) fn staged_rows(&self) -> &[TableRow] {
        match self {
            StepWriter::Wasm(_) => &[],
            StepWriter::Table(t) => &t.staged,
        }
    }

    pub(super) async fn after_chunk(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.after_chunk().await,
            StepWriter::Table(t) => {
                t.committed += t.staged.len() as i64;
                t.staged.clear();
                Ok(())
            }
        }
    }

    pub(super) async fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.after_chunk_error().await,
            StepWriter::Table(t) => {
                t.staged.clear();
                Ok(())
            }
        }
    }

    /// ItemStream `after-step` (built-ins set no exit status).
    pub(super) async fn after_step(
        &mut self,
        step: &crate::domain::StepExecution,
    ) -> Result<Option<(String, String)>, PluginError> {
        match self {
            StepWriter::Wasm(p) => p.after_step(step).await,
            StepWriter::Table(_) => Ok(None),
        }
    }

    pub(super) async fn close(&mut self) -> Result<(), PluginError> {
        match self {
            StepWriter::Wasm(w) => w.close().await,
            StepWriter::Table(_) => Ok(()),
        }
    }
}
