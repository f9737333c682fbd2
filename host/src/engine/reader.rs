//! The step's reader: a WebAssembly component, or a reader built into the host.

use crate::domain::{ExecutionContext, ItemError, SkipPhase};
use crate::plan::SkippedItemsConfig;
use crate::plugin::{PluginError, ReadBatch, ReaderInstance, Setup};
use crate::repository::JobRepository;

/// A running reader.
pub(super) enum StepReader {
    /// A reader component.
    Wasm(ReaderInstance),
    /// The built-in skipped-items reader.
    Skipped(SkippedItemsReader),
}

/// Reads the payloads of the items a job execution skipped (the dead-letter table), so a
/// follow-up job can reprocess them. ItemStream state: the position.
pub(super) struct SkippedItemsReader {
    config: SkippedItemsConfig,
    items: Vec<Vec<u8>>,
    position: usize,
}

impl StepReader {
    pub(super) fn skipped_items(config: SkippedItemsConfig) -> Self {
        StepReader::Skipped(SkippedItemsReader {
            config,
            items: Vec::new(),
            position: 0,
        })
    }

    pub(super) async fn init(&mut self, setup: &Setup) -> Result<(), PluginError> {
        match self {
            StepReader::Wasm(r) => r.init(setup).await,
            StepReader::Skipped(_) => Ok(()),
        }
    }

    pub(super) async fn open<R: JobRepository>(
        &mut self,
        ctx: &ExecutionContext,
        repo: &R,
    ) -> Result<(), PluginError> {
        match self {
            StepReader::Wasm(r) => r.open(ctx).await,
            StepReader::Skipped(s) => {
                let rows = repo.skipped_items(s.config.execution).await.map_err(|e| {
                    PluginError::Failed(ItemError::new("io.repository", e.to_string()))
                })?;
                let phase = s.config.phase.as_deref().and_then(SkipPhase::parse);
                s.items = rows
                    .into_iter()
                    .filter(|(step, _)| s.config.step.as_ref().is_none_or(|want| want == step))
                    .filter(|(_, item)| phase.is_none_or(|p| p == item.phase))
                    .filter_map(|(_, item)| item.payload)
                    .collect();
                s.position = ctx
                    .get("position")
                    .and_then(|v| v.as_u64())
                    .map_or(0, |p| p as usize);
                Ok(())
            }
        }
    }

    pub(super) async fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        match self {
            StepReader::Wasm(r) => r.read_batch(max).await,
            StepReader::Skipped(s) => {
                let end = (s.position + max as usize).min(s.items.len());
                let outcomes = s.items[s.position.min(end)..end]
                    .iter()
                    .cloned()
                    .map(Ok)
                    .collect();
                s.position = end;
                Ok(ReadBatch {
                    outcomes,
                    end: s.position >= s.items.len(),
                })
            }
        }
    }

    pub(super) async fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        match self {
            StepReader::Wasm(r) => r.update().await,
            StepReader::Skipped(s) => {
                let mut ctx = ExecutionContext::new();
                ctx.put("position", serde_json::json!(s.position));
                Ok(ctx)
            }
        }
    }

    /// ItemStream `after-step` (built-ins set no exit status).
    pub(super) async fn after_step(
        &mut self,
        step: &crate::domain::StepExecution,
    ) -> Result<Option<(String, String)>, PluginError> {
        match self {
            StepReader::Wasm(p) => p.after_step(step).await,
            StepReader::Skipped(_) => Ok(None),
        }
    }

    pub(super) async fn close(&mut self) -> Result<(), PluginError> {
        match self {
            StepReader::Wasm(r) => r.close().await,
            StepReader::Skipped(_) => Ok(()),
        }
    }
}
