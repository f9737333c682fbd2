//! `cli` → `skipped`: the dead-letter table of one execution, as a table or JSON lines.

use clap::{Args, ValueEnum};

use super::{CliError, CliResult, GlobalArgs, connect, exit};
use crate::repository::JobExplorer;

/// Output format of `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// A human-readable table.
    Table,
    /// One JSON object per item (payload as UTF-8 text when it is text, else base16).
    Jsonl,
}

/// `batch-host skipped <execution-id>`: the dead letters of a job execution.
#[derive(Debug, Args)]
pub(super) struct SkippedCommand {
    /// The job execution id (shown in the run summary).
    #[arg(value_name = "EXECUTION_ID")]
    execution_id: i64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl SkippedCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        let repo = connect(global).await?;
        let known = repo.execution_status(self.execution_id).await;
        let items = repo.skipped_items(self.execution_id).await;
        repo.close().await;
        if known?.is_none() {
            return Err(CliError::invalid(format!(
                "no job execution {} in this repository; `batch-host executions` lists them",
                self.execution_id
            )));
        }
        let items = items?;
        match self.format {
            Format::Jsonl => {
                for (step, item) in &items {
                    let line = crate::views::skipped_json(self.execution_id, step, item);
                    println!("{}", super::output::json_line(&line));
                }
            }
            Format::Table => {
                if items.is_empty() {
                    println!("job execution {} skipped no items", self.execution_id);
                    return Ok(exit::OK);
                }
                let mut t = super::output::table(
                    &["STEP", "PHASE", "POSITION", "CHUNK", "KIND", "MESSAGE"],
                    &[2, 3],
                    &[0, 4, 5],
                );
                for (step, item) in &items {
                    t.add_row(vec![
                        step.clone(),
                        item.phase.as_str().to_owned(),
                        item.position.to_string(),
                        item.chunk.to_string(),
                        item.kind.clone(),
                        item.message.clone(),
                    ]);
                }
                super::output::print_table(&t);
                println!("{} item(s); export with --format jsonl", items.len());
            }
        }
        Ok(exit::OK)
    }
}
