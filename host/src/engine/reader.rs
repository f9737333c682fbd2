//! `engine` → chunk loop: the step's reader, a WebAssembly component or a reader that runs in
//! the host (the built-in `skipped-items` and `sql-table` readers, or a native [`ItemReader`]).

use super::items::ItemReader;
use crate::domain::{ExecutionContext, ExitStatus, ItemError, SkipPhase, StepExecution};
use crate::plan::{SkippedItemsConfig, SqlTableReaderConfig};
use crate::plugin::{PluginError, ReadBatch, ReaderInstance, Setup};
use crate::repository::JobRepository;

/// A running reader.
pub(crate) enum StepReader {
    /// A reader component.
    Wasm(ReaderInstance),
    /// A reader in the host.
    Native(Box<dyn ItemReader>),
}

impl StepReader {
    pub(super) async fn init(&mut self, setup: &Setup) -> Result<(), PluginError> {
        match self {
            StepReader::Wasm(r) => r.init(setup).await,
            StepReader::Native(_) => Ok(()),
        }
    }

    pub(super) async fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        match self {
            StepReader::Wasm(r) => r.open(ctx).await,
            StepReader::Native(r) => r.open(ctx),
        }
    }

    pub(super) async fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        match self {
            StepReader::Wasm(r) => r.read_batch(max).await,
            StepReader::Native(r) => r.read_batch(max),
        }
    }

    /// Every item is JSON the host encoded (a component's items never are: they are checked).
    pub(super) fn yields_host_json(&self) -> bool {
        match self {
            StepReader::Wasm(_) => false,
            StepReader::Native(r) => r.yields_host_json(),
        }
    }

    pub(super) async fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        match self {
            StepReader::Wasm(r) => r.update().await,
            StepReader::Native(r) => r.update(),
        }
    }

    /// ItemStream `after-step` (readers in the host set no exit status).
    pub(super) async fn after_step(
        &mut self,
        step: &StepExecution,
    ) -> Result<Option<ExitStatus>, PluginError> {
        match self {
            StepReader::Wasm(r) => r.after_step(step).await,
            StepReader::Native(_) => Ok(None),
        }
    }

    pub(super) async fn close(&mut self) -> Result<(), PluginError> {
        match self {
            StepReader::Wasm(r) => r.close().await,
            StepReader::Native(r) => r.close(),
        }
    }
}

/// Reads the payloads of the items a job execution skipped (the dead-letter table), so a
/// follow-up job can reprocess them. ItemStream state: the position.
pub(super) struct SkippedItemsReader {
    items: Vec<Vec<u8>>,
    position: usize,
}

impl SkippedItemsReader {
    /// Loads the payloads `config` selects from the repository.
    pub(super) async fn load<R: JobRepository>(
        config: &SkippedItemsConfig,
        repo: &R,
    ) -> Result<Self, PluginError> {
        let rows = repo
            .skipped_items(config.execution)
            .await
            .map_err(|e| PluginError::Failed(ItemError::new("io.repository", e.to_string())))?;
        let phase = config.phase.as_deref().and_then(SkipPhase::parse);
        let items = rows
            .into_iter()
            .filter(|(step, _)| config.step.as_ref().is_none_or(|want| want == step))
            .filter(|(_, item)| phase.is_none_or(|p| p == item.phase))
            .filter_map(|(_, item)| item.payload)
            .collect();
        Ok(SkippedItemsReader { items, position: 0 })
    }
}

impl ItemReader for SkippedItemsReader {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.position = ctx
            .get("position")
            .and_then(|v| v.as_u64())
            .map_or(0, |p| p as usize);
        Ok(())
    }

    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        let end = (self.position + max as usize).min(self.items.len());
        let outcomes = self.items[self.position.min(end)..end]
            .iter()
            .cloned()
            .map(Ok)
            .collect();
        self.position = end;
        Ok(ReadBatch {
            outcomes,
            end: self.position >= self.items.len(),
        })
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        let mut ctx = ExecutionContext::new();
        ctx.put("position", serde_json::json!(self.position));
        Ok(ctx)
    }
}

/// The most rows one `sql-table` reader holds: it loads its range when it opens.
pub(super) const MAX_TABLE_READ: i64 = 1_000_000;

/// Reads the rows a `sql-table` writer wrote, numbers `min..=max`, in row order (Spring's
/// `JdbcPagingItemReader` over a key range, as a `sql-ranges` partition reads it). ItemStream
/// state: the last row number read.
pub(super) struct TableReader {
    rows: Vec<(i64, Vec<u8>)>,
    position: usize,
}

impl TableReader {
    /// Loads the rows of `config`'s range (`min`, `max`: the resolved bounds).
    pub(super) async fn load<R: JobRepository>(
        config: &SqlTableReaderConfig,
        min: Option<i64>,
        max: Option<i64>,
        repo: &R,
    ) -> Result<Self, PluginError> {
        let (min, max) = (min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX));
        let rows = repo
            .table_rows(&config.table, min, max, MAX_TABLE_READ + 1)
            .await
            .map_err(|e| PluginError::Failed(ItemError::new("io.repository", e.to_string())))?;
        if rows.len() as i64 > MAX_TABLE_READ {
            return Err(PluginError::Failed(ItemError::new(
                "io.too-large",
                format!(
                    "table `{}` holds more than {MAX_TABLE_READ} rows in this range, more than one reader loads at once; partition the step with `partitioner: {{ builtin: sql-ranges, config: {{ table: {} }} }}` and `min`/`max`",
                    config.table, config.table
                ),
            )));
        }
        Ok(TableReader {
            rows: rows.into_iter().map(|(n, p)| (n, p.into_bytes())).collect(),
            position: 0,
        })
    }
}

impl ItemReader for TableReader {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        if let Some(last) = ctx.get("row").and_then(serde_json::Value::as_i64) {
            self.position = self.rows.partition_point(|(n, _)| *n <= last);
        }
        Ok(())
    }

    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        let end = (self.position + max as usize).min(self.rows.len());
        let outcomes = self.rows[self.position..end]
            .iter()
            .map(|(_, p)| Ok(p.clone()))
            .collect();
        self.position = end;
        Ok(ReadBatch {
            outcomes,
            end: self.position >= self.rows.len(),
        })
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        let mut ctx = ExecutionContext::new();
        if let Some((n, _)) = self.position.checked_sub(1).and_then(|i| self.rows.get(i)) {
            ctx.put("row", serde_json::json!(n));
        }
        Ok(ctx)
    }
}
