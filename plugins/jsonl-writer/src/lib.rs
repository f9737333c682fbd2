//! `jsonl-writer`: appends items as JSON lines to a file in the step's work directory.
//!
//! Transactional: a chunk's lines are appended in one write when the chunk is written, and
//! become final when the chunk commits. The checkpoint is the committed byte length of the file.
//! When a chunk rolls back, the file is truncated back to the last committed length, and `open`
//! on a restart does the same, so the output holds every committed item exactly once even after
//! a crash between the file write and the repository commit.
//!
//! Config: `path` (relative to the work directory; parent directories are created),
//! `sync` (default `true`: fsync before each commit, so a power loss cannot lose a committed chunk),
//! `empty-exit-code` (the step's exit code when it wrote nothing, such as `NO DATA`).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use batch_sdk::{Error, ExecutionContext, ExitStatus, ItemWriter, Raw, Setup, StepSummary};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    path: String,
    #[serde(default = "yes")]
    sync: bool,
    /// The step's exit code when it wrote nothing (for `next: [{ on: NO DATA, ... }]`).
    #[serde(default, rename = "empty-exit-code")]
    empty_exit_code: Option<String>,
}

fn yes() -> bool {
    true
}

const COMMITTED: &str = "committed-bytes";

/// The writer's state between calls.
#[derive(Debug)]
pub struct JsonlWriter {
    config: Config,
    file: Option<File>,
    /// Length of the file at the last committed chunk.
    committed: u64,
    /// Length of the file including what the current chunk wrote.
    written: u64,
    buffer: Vec<u8>,
}

impl JsonlWriter {
    fn file(&mut self) -> Result<&mut File, Error> {
        self.file
            .as_mut()
            .ok_or_else(|| Error::new("plugin.lifecycle", "write before open"))
    }

    /// Cuts the file back to the committed length, discarding uncommitted lines.
    fn truncate_to_committed(&mut self) -> Result<(), Error> {
        let committed = self.committed;
        let file = self.file()?;
        file.set_len(committed)?;
        file.seek(SeekFrom::Start(committed))?;
        self.written = committed;
        Ok(())
    }
}

impl ItemWriter for JsonlWriter {
    type Item = Raw;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let config: Config = setup.config()?;
        batch_sdk::relative_path("path", &config.path)?;
        Ok(JsonlWriter {
            config,
            file: None,
            committed: 0,
            written: 0,
            buffer: Vec::new(),
        })
    }

    fn open(&mut self, context: &ExecutionContext) -> Result<(), Error> {
        let path = Path::new(&self.config.path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| {
                let e = Error::from(e);
                Error::new(
                    e.kind,
                    format!("cannot open `{}`: {}", self.config.path, e.message),
                )
            })?;
        let len = file.metadata()?.len();
        // First run: start an empty file. Restart: keep what was committed, drop the rest.
        self.committed = context.get(COMMITTED)?.unwrap_or(0);
        if len < self.committed {
            return Err(Error::new(
                "io.output-truncated",
                format!(
                    "`{}` is {len} bytes but {} bytes were committed; it was changed outside the job",
                    self.config.path, self.committed
                ),
            ));
        }
        self.file = Some(file);
        self.truncate_to_committed()
    }

    fn write(&mut self, items: Vec<Raw>) -> Result<(), Error> {
        self.buffer.clear();
        for Raw(item) in items {
            if item.contains(&b'\n') {
                return Err(Error::new(
                    "validation.jsonl",
                    "an item contains a newline; items must be single-line JSON",
                ));
            }
            self.buffer.extend_from_slice(&item);
            self.buffer.push(b'\n');
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = self
            .file()
            .and_then(|f| f.write_all(&buffer).map_err(Error::from));
        self.written += buffer.len() as u64;
        buffer.clear();
        self.buffer = buffer;
        result
    }

    fn update(&mut self) -> Result<ExecutionContext, Error> {
        let sync = self.config.sync;
        let file = self.file()?;
        file.flush()?;
        if sync {
            file.sync_data()?;
        }
        let mut ctx = ExecutionContext::new();
        ctx.put(COMMITTED, self.written);
        Ok(ctx)
    }

    fn after_chunk(&mut self) -> Result<(), Error> {
        self.committed = self.written;
        Ok(())
    }

    fn after_chunk_error(&mut self) -> Result<(), Error> {
        self.truncate_to_committed()
    }

    fn after_step(&mut self, step: &StepSummary) -> Option<ExitStatus> {
        match &self.config.empty_exit_code {
            Some(code) if step.write_count == 0 => Some(
                ExitStatus::new(code)
                    .with_description(format!("nothing written to {}", self.config.path)),
            ),
            _ => None,
        }
    }

    fn close(&mut self) -> Result<(), Error> {
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        Ok(())
    }
}

batch_sdk::export_writer!(JsonlWriter);
