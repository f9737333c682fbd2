//! `engine` → chunk loop → built-ins: the file readers and writers that run in the host
//! (`builtin: csv` and `builtin: jsonl`), trusted native code with the same restart guarantees
//! as the plugins — a reader's checkpoint is the records consumed and the byte offset after
//! them, a writer's is the committed length of its file — and the same directory grant.
//!
//! This file holds what they share: [`InputFile`], a bounded line reader that knows its byte
//! offset and line number, and [`OutputFile`], a transactional append-only file.

mod csv;
mod jsonl;

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

pub(super) use self::csv::{CsvReader, CsvWriter};
pub(super) use self::jsonl::{JsonlReader, JsonlWriter};
use crate::domain::{ExecutionContext, ItemError};
use crate::plugin::{Grant, PluginError, describe_open_error};

/// A reader's checkpoint keys: records consumed, the byte after them, the last line number.
const ROWS: &str = "rows";
const OFFSET: &str = "offset";
const LINE: &str = "line";
/// Where the input ends, in bytes (the file's length, or its range's end): with `offset`, what
/// progress displays turn into a percentage and an ETA.
const SIZE: &str = "size";

/// The input of a reader that has not been opened yet.
fn not_open() -> PluginError {
    failed("plugin.lifecycle", "read before open".into())
}

/// The `ItemReader` calls every built-in file reader makes on its [`InputFile`] `input`, with
/// `rows` records consumed.
macro_rules! input_file_calls {
    () => {
        fn update(&mut self) -> Result<ExecutionContext, PluginError> {
            let input = self.input.as_ref().ok_or_else(not_open)?;
            Ok(input.checkpoint(self.rows))
        }

        fn close(&mut self) -> Result<(), PluginError> {
            self.input = None;
            Ok(())
        }
    };
}
use input_file_calls;

/// The `ItemWriter` calls every built-in file writer makes on its [`OutputFile`] `out`.
macro_rules! output_file_calls {
    () => {
        fn update(&mut self) -> Result<ExecutionContext, PluginError> {
            self.out.update()
        }

        fn after_chunk(&mut self) -> Result<(), PluginError> {
            self.out.committed();
            Ok(())
        }

        fn after_chunk_error(&mut self) -> Result<(), PluginError> {
            self.out.rolled_back()
        }

        fn close(&mut self) -> Result<(), PluginError> {
            self.out.close()
        }
    };
}
use output_file_calls;

/// How much of the input is read from the file at a time.
const BUFFER: usize = 256 * 1024;

/// A failed call of a built-in, as the chunk loop sees a plugin's error.
fn failed(kind: &str, message: String) -> PluginError {
    PluginError::Failed(ItemError::new(kind, message))
}

/// An I/O error on `path`, without the OS's error number.
fn io_error(kind: &str, path: &str, what: &str, e: &std::io::Error) -> PluginError {
    failed(
        kind,
        format!("cannot {what} `{path}`: {}", describe_open_error(e)),
    )
}

/// A whole number the built-in stored in its checkpoint.
fn checkpoint(ctx: &ExecutionContext, key: &str) -> Result<Option<u64>, PluginError> {
    match ctx.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            failed(
                "io.checkpoint",
                format!("the checkpoint's `{key}` is {v}, not a whole number; the execution context was edited"),
            )
        }),
    }
}

/// The part of a file a reader reads (a partition's `partition.range`): the records that start
/// in bytes `start..end`, the first on line `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ByteRange {
    start: u64,
    end: u64,
    line: u64,
}

impl ByteRange {
    /// A reader's `range` config: `{ start, end, line }` (what `file-ranges` computes) or
    /// `"START-END"` (line numbers then count from the range's start).
    pub(super) fn parse(value: Option<&serde_json::Value>) -> Result<Option<Self>, PluginError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let bad = || {
            failed(
                "config.range",
                format!(
                    "`range: {value}` is not a byte range; give `{{ start: 0, end: 1000, line: 1 }}` or \"0-1000\" (usually \"${{partition.range}}\")"
                ),
            )
        };
        let (start, end, line) = match value {
            serde_json::Value::Object(m) => {
                let n = |k: &str| m.get(k).and_then(serde_json::Value::as_u64);
                (
                    n("start").ok_or_else(bad)?,
                    n("end").ok_or_else(bad)?,
                    n("line").unwrap_or(1),
                )
            }
            serde_json::Value::String(s) => {
                let (a, b) = s.split_once('-').ok_or_else(bad)?;
                let n = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
                (n(a)?, n(b)?, 1)
            }
            _ => return Err(bad()),
        };
        if start > end || line == 0 {
            return Err(bad());
        }
        Ok(Some(ByteRange { start, end, line }))
    }
}

/// One physical line of an [`InputFile`].
pub(super) enum Line {
    /// A line (without its `\n` or `\r\n`), numbered from 1.
    Text(u64),
    /// A line longer than the record limit; its first `limit` bytes are in the buffer.
    TooLong(u64),
    /// The end of the file.
    End,
}

/// A file read line by line, with the byte offset after the last line and that line's number.
pub(super) struct InputFile {
    reader: BufReader<File>,
    /// The path as the job gave it, for messages.
    pub(super) path: String,
    /// The byte offset just after the last line returned.
    pub(super) offset: u64,
    /// The number of the last line returned (0 before the first).
    pub(super) line: u64,
    limit: usize,
    /// Lines starting at or after this offset are not read (a [`ByteRange`]'s end).
    end: Option<u64>,
    /// The file's length when it was opened.
    size: u64,
}

impl InputFile {
    /// Opens `path` inside `grant`; lines longer than `limit` bytes are refused.
    pub(super) fn open(grant: &Grant, path: &str, limit: usize) -> Result<Self, PluginError> {
        let file = grant
            .open_read(Path::new(path))
            .map_err(|e| io_error("io.open", path, "open", &e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error("io.open", path, "open", &e))?
            .len();
        Ok(InputFile {
            reader: BufReader::with_capacity(BUFFER, file),
            path: path.to_owned(),
            offset: 0,
            line: 0,
            limit,
            end: None,
            size,
        })
    }

    /// Continues at `offset`, the start of line `line + 1`; a file shorter than that changed
    /// since the checkpoint was taken.
    pub(super) fn seek(&mut self, offset: u64, line: u64) -> Result<(), PluginError> {
        let len = self
            .reader
            .get_ref()
            .metadata()
            .map_err(|e| io_error("io.read", &self.path, "read", &e))?
            .len();
        if len < offset {
            return Err(failed(
                "io.input-changed",
                format!(
                    "`{}` is {len} bytes but the last committed chunk ended at byte {offset}; the file changed since that run. Restore it, or start a new instance",
                    self.path
                ),
            ));
        }
        self.reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| io_error("io.read", &self.path, "read", &e))?;
        self.offset = offset;
        self.line = line;
        Ok(())
    }

    /// Continues where the checkpoint `ctx` says, if it says anything (a restart); the number
    /// of records consumed before it. `offset` may not lie before `start` (the header's end).
    /// With a `range`, reading starts at its start (or the checkpoint inside it) and stops at its
    /// end.
    pub(super) fn resume(
        &mut self,
        ctx: &ExecutionContext,
        range: Option<ByteRange>,
    ) -> Result<u64, PluginError> {
        if let Some(r) = range {
            self.end = Some(r.end);
            if checkpoint(ctx, OFFSET)?.is_none() && r.start > self.offset {
                self.seek(r.start, r.line - 1)?;
            }
        }
        if let Some(offset) = checkpoint(ctx, OFFSET)? {
            if offset < self.offset {
                return Err(failed(
                    "io.checkpoint",
                    format!(
                        "the checkpoint's offset {offset} lies inside the header of `{}`",
                        self.path
                    ),
                ));
            }
            let line = checkpoint(ctx, LINE)?.unwrap_or(self.line);
            self.seek(offset, line)?;
        }
        Ok(checkpoint(ctx, ROWS)?.unwrap_or(0))
    }

    /// The reader's checkpoint: `rows` records consumed, and where the next one starts.
    pub(super) fn checkpoint(&self, rows: u64) -> ExecutionContext {
        let mut ctx = ExecutionContext::new();
        ctx.put(ROWS, serde_json::json!(rows));
        ctx.put(OFFSET, serde_json::json!(self.offset));
        ctx.put(LINE, serde_json::json!(self.line));
        ctx.put(SIZE, serde_json::json!(self.end.unwrap_or(self.size)));
        ctx
    }

    /// Reads the next line into `buf` (cleared first), without its line break.
    pub(super) fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Line, PluginError> {
        buf.clear();
        if self.end.is_some_and(|end| self.offset >= end) {
            return Ok(Line::End);
        }
        let mut consumed = 0u64;
        let mut too_long = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error("io.read", &self.path, "read", &e)),
            };
            if chunk.is_empty() {
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = self.limit.saturating_sub(buf.len());
            if take > room {
                too_long = true;
            }
            buf.extend_from_slice(&chunk[..take.min(room)]);
            self.reader.consume(take);
            consumed += take as u64;
            if done {
                break;
            }
        }
        if consumed == 0 {
            return Ok(Line::End);
        }
        self.offset += consumed;
        self.line += 1;
        if too_long {
            return Ok(Line::TooLong(self.line));
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        Ok(Line::Text(self.line))
    }
}

/// A file a writer appends to in chunk transactions: what a chunk writes becomes final when
/// the chunk commits; a rollback, and `open` on a restart, cut the file back to its committed
/// length, so the file holds every committed item exactly once.
pub(super) struct OutputFile {
    file: Option<File>,
    /// The path as the job gave it, for messages.
    pub(super) path: String,
    committed: u64,
    written: u64,
    /// fsync before every commit (`durability: power-loss`).
    sync: bool,
    read_only: bool,
    /// The bytes of the chunk being written.
    pub(super) buffer: Vec<u8>,
}

const COMMITTED: &str = "committed-bytes";

impl OutputFile {
    pub(super) fn new(path: &str, sync: bool, read_only: bool) -> Self {
        OutputFile {
            file: None,
            path: path.to_owned(),
            committed: 0,
            written: 0,
            sync,
            read_only,
            buffer: Vec::new(),
        }
    }

    /// Opens the file inside `grant` at the last committed length `ctx` records; true when the
    /// file is new (nothing was committed yet).
    pub(super) fn open(
        &mut self,
        grant: &Grant,
        ctx: &ExecutionContext,
    ) -> Result<bool, PluginError> {
        if self.read_only {
            return Err(failed(
                "io.read-only",
                format!(
                    "cannot write `{}`: the step's directory is granted read-only (`read-only: true`); give the writer a step whose directory is writable",
                    self.path
                ),
            ));
        }
        let file = grant
            .open_write(Path::new(&self.path))
            .map_err(|e| io_error("io.open", &self.path, "create", &e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error("io.write", &self.path, "write", &e))?
            .len();
        self.committed = checkpoint(ctx, COMMITTED)?.unwrap_or(0);
        if len < self.committed {
            return Err(failed(
                "io.output-truncated",
                format!(
                    "`{}` is {len} bytes but {} bytes were committed; it was changed outside the job. Restore it, or start a new instance",
                    self.path, self.committed
                ),
            ));
        }
        self.file = Some(file);
        self.truncate_to_committed()?;
        Ok(self.committed == 0)
    }

    fn file(&mut self) -> Result<&mut File, PluginError> {
        self.file
            .as_mut()
            .ok_or_else(|| failed("plugin.lifecycle", "write before open".into()))
    }

    fn truncate_to_committed(&mut self) -> Result<(), PluginError> {
        let committed = self.committed;
        let path = self.path.clone();
        let file = self.file()?;
        file.set_len(committed)
            .and_then(|()| file.seek(SeekFrom::Start(committed)).map(drop))
            .map_err(|e| io_error("io.write", &path, "truncate", &e))?;
        self.written = committed;
        Ok(())
    }

    /// Appends the buffer to the file and clears it.
    pub(super) fn flush_buffer(&mut self) -> Result<(), PluginError> {
        let buffer = std::mem::take(&mut self.buffer);
        let path = self.path.clone();
        let result = self.file().and_then(|f| {
            f.write_all(&buffer)
                .map_err(|e| io_error("io.write", &path, "write", &e))
        });
        self.written += buffer.len() as u64;
        self.buffer = buffer;
        self.buffer.clear();
        result
    }

    /// The checkpoint to commit: everything written so far (fsynced first when asked).
    pub(super) fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        if self.sync {
            let path = self.path.clone();
            self.file()?
                .sync_data()
                .map_err(|e| io_error("io.write", &path, "sync", &e))?;
        }
        let mut ctx = ExecutionContext::new();
        ctx.put(COMMITTED, serde_json::json!(self.written));
        Ok(ctx)
    }

    pub(super) fn committed(&mut self) {
        self.committed = self.written;
    }

    pub(super) fn rolled_back(&mut self) -> Result<(), PluginError> {
        self.truncate_to_committed()
    }

    pub(super) fn close(&mut self) -> Result<(), PluginError> {
        if let Some(file) = self.file.take()
            && self.sync
        {
            file.sync_all()
                .map_err(|e| io_error("io.write", &self.path, "sync", &e))?;
        }
        Ok(())
    }
}
