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
    length: u64,
}

impl ItemWriter for Plugin {
    type Item = Value;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        relative_path("path", &c.path)?;
        Ok(Plugin {
            path: c.path,
            length: 0,
        })
    }

    fn open(&mut self, context: &ExecutionContext) -> Result<(), Error> {
        self.length = context.get("length")?.unwrap_or(0);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .map_err(|e| Error::io("open", format!("{}: {e}", self.path)))?;
        file.set_len(self.length)
            .map_err(|e| Error::io("truncate", format!("{}: {e}", self.path)))?;
        Ok(())
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
}

batch_sdk::export_writer!(Plugin);
