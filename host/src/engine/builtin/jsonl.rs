//! `engine` → built-ins → jsonl: the JSON-lines reader (each non-blank line is one item, checked
//! to be JSON) and writer (each item as one line, checked to be one line of JSON).

use serde::de::IgnoredAny;

use super::{
    ByteRange, InputFile, Line, OutputFile, failed, input_file_calls, not_open, output_file_calls,
};
use crate::domain::{ExecutionContext, ItemError};
use crate::engine::items::{ItemReader, ItemWriter};
use crate::plan::FileConfig;
use crate::plugin::{Grant, PluginError, ReadBatch};

/// `builtin: jsonl` as a reader.
pub(crate) struct JsonlReader {
    path: String,
    range: Option<serde_json::Value>,
    grant: Grant,
    limit: usize,
    input: Option<InputFile>,
    rows: u64,
    line: Vec<u8>,
}

impl JsonlReader {
    /// A reader of `config.path` inside `grant`; lines longer than `limit` bytes are refused.
    pub(crate) fn new(config: FileConfig, grant: Grant, limit: usize) -> Self {
        JsonlReader {
            path: config.path,
            range: config.range,
            grant,
            limit,
            input: None,
            rows: 0,
            line: Vec::new(),
        }
    }
}

impl ItemReader for JsonlReader {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        let mut input = InputFile::open(&self.grant, &self.path, self.limit)?;
        self.rows = input.resume(ctx, ByteRange::parse(self.range.as_ref())?)?;
        self.input = Some(input);
        Ok(())
    }

    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        let input = self.input.as_mut().ok_or_else(not_open)?;
        let mut outcomes = Vec::with_capacity(max.min(4096) as usize);
        while outcomes.len() < max as usize {
            let outcome = match input.next_line(&mut self.line)? {
                Line::End => return Ok(ReadBatch { outcomes, end: true }),
                Line::TooLong(n) => Err(ItemError::new(
                    "validation.jsonl.size",
                    format!(
                        "{}: line {n} is longer than the {}-byte record limit (`limits.max-item-size`)",
                        input.path, self.limit
                    ),
                )
                .with_raw(std::mem::take(&mut self.line))),
                Line::Text(n) => {
                    if n == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
                        self.line.drain(..3);
                    }
                    if self.line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<IgnoredAny>(&self.line) {
                        Ok(_) => Ok(self.line.clone()),
                        Err(e) => Err(ItemError::new(
                            "validation.jsonl",
                            format!("{}: line {n} is not JSON: {e}", input.path),
                        )
                        .with_raw(self.line.clone())),
                    }
                }
            };
            outcomes.push(outcome);
            self.rows += 1;
        }
        Ok(ReadBatch {
            outcomes,
            end: false,
        })
    }

    input_file_calls!();
}

/// `builtin: jsonl` as a writer.
pub(crate) struct JsonlWriter {
    grant: Grant,
    out: OutputFile,
}

impl JsonlWriter {
    /// A writer of `config.path` inside `grant`.
    pub(crate) fn new(config: FileConfig, grant: Grant, sync: bool, read_only: bool) -> Self {
        JsonlWriter {
            out: OutputFile::new(&config.path, sync, read_only),
            grant,
        }
    }
}

impl ItemWriter for JsonlWriter {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.out.open(&self.grant, ctx).map(drop)
    }

    fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        self.out.buffer.clear();
        for (n, item) in items.iter().enumerate() {
            // A line break would split the item in two; anything but JSON would not read back.
            let problem = if memchr::memchr2(b'\n', b'\r', item).is_some() {
                Some("contains a line break; items must be single-line JSON".to_owned())
            } else {
                serde_json::from_slice::<IgnoredAny>(item)
                    .err()
                    .map(|e| format!("is not JSON: {e}"))
            };
            if let Some(problem) = problem {
                self.out.buffer.clear();
                return Err(failed(
                    "validation.jsonl",
                    format!("item {} of the chunk {problem}", n + 1),
                ));
            }
            self.out.buffer.extend_from_slice(item);
            self.out.buffer.push(b'\n');
        }
        self.out.flush_buffer()
    }

    fn write_host_json(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        // The host's own single-line JSON: written as it is.
        self.out.buffer.clear();
        for item in items {
            self.out.buffer.extend_from_slice(item);
            self.out.buffer.push(b'\n');
        }
        self.out.flush_buffer()
    }

    output_file_calls!();
}
