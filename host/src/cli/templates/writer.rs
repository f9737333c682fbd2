//! `__NAME__`: a writer. It appends each chunk's items to `path` as JSON lines. The file's
//! length is the checkpoint: a restart cuts away whatever a failed chunk left behind.

use std::fs::OpenOptions;
use std::io::Write;

use batch_sdk::{Error, ExecutionContext, ItemWriter, Setup, relative_path};
use serde::Deserialize;
use serde_json::Value;

/// The job.yaml `config` of this plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The output file, relative to the work directory.
    path: String,
}

pub struct Plugin {
    path: String,
    /// The file's length at the last committed chunk.
    committed: u64,
    /// Its length with what the current chunk wrote.
    length: u64,
}

impl Plugin {
    /// Cuts the file back to its committed length.
    fn truncate(&mut self) -> Result<(), Error> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .map_err(|e| Error::io("open", format!("{}: {e}", self.path)))?;
        file.set_len(self.committed)
            .map_err(|e| Error::io("truncate", format!("{}: {e}", self.path)))?;
        self.length = self.committed;
        Ok(())
    }
}

impl ItemWriter for Plugin {
    type Item = Value;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        relative_path("path", &c.path)?;
        Ok(Plugin {
            path: c.path,
            committed: 0,
            length: 0,
        })
    }

    fn open(&mut self, context: &ExecutionContext) -> Result<(), Error> {
        // A restart: cut away whatever a failed chunk left after the last commit.
        self.committed = context.get("length")?.unwrap_or(0);
        self.truncate()
    }

    fn write(&mut self, items: Vec<Value>) -> Result<(), Error> {
        let mut text = String::new();
        for item in &items {
            text.push_str(&item.to_string());
            text.push('\n');
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io("open", format!("{}: {e}", self.path)))?;
        file.write_all(text.as_bytes())
            .map_err(|e| Error::io("write", format!("{}: {e}", self.path)))?;
        self.length += text.len() as u64;
        Ok(())
    }

    fn update(&mut self) -> Result<ExecutionContext, Error> {
        let mut ctx = ExecutionContext::new();
        ctx.put("length", self.length);
        Ok(ctx)
    }

    fn after_chunk(&mut self) -> Result<(), Error> {
        self.committed = self.length;
        Ok(())
    }

    fn after_chunk_error(&mut self) -> Result<(), Error> {
        // The chunk rolled back: cut away what it wrote.
        self.truncate()
    }
}

batch_sdk::export_writer!(Plugin);
