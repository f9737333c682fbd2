//! `engine` → built-ins → csv: the strict CSV reader (each record becomes a JSON object keyed
//! by the header) and the CSV writer (chosen fields of each JSON-object item).
//!
//! Strict means a malformed record is an error that names its file, line and column and keeps
//! its raw bytes — never a guess. A quote that does not close on its line (unless `multiline`
//! allows line breaks in quoted fields), a quote inside an unquoted field, text after a closing
//! quote, a wrong number of fields and bytes that are not UTF-8 each fail that one record, so a
//! stray `"` can never swallow the records after it.

use std::borrow::Cow;

use serde_json::Value;

use super::{
    ByteRange, InputFile, Line, OutputFile, failed, input_file_calls, not_open, output_file_calls,
};
use crate::domain::{ExecutionContext, ItemError};
use crate::engine::items::{ItemReader, ItemWriter};
use crate::plan::{CsvReaderConfig, CsvWriterConfig};
use crate::plugin::{Grant, PluginError, ReadBatch};

/// What is wrong with a record, at a 1-based column of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A quoted field that starts at this column does not close.
    Unclosed(usize),
    /// A quote character inside an unquoted field.
    Stray(usize),
    /// Text right after a closing quote, other than the delimiter.
    AfterQuote(usize),
}

impl Fault {
    /// The column and what is wrong there, in words.
    fn describe(self, q: char, multiline: bool) -> (usize, String) {
        match self {
            Fault::Unclosed(c) if multiline => (
                c,
                "a quoted field is not closed before the end of the file".to_owned(),
            ),
            Fault::Unclosed(c) => (
                c,
                "a quoted field is not closed on its line (set `multiline: true` if quoted fields contain line breaks)".to_owned(),
            ),
            Fault::Stray(c) => (
                c,
                format!("a {q} inside an unquoted field; quote the whole field and double the {q} inside it"),
            ),
            Fault::AfterQuote(c) => (c, format!("text after the closing {q} of a field")),
        }
    }
}

/// Splits one record into fields, calling `field` with each in order; the number of fields.
fn split(rec: &str, delimiter: u8, quote: u8, mut field: impl FnMut(&str)) -> Result<usize, Fault> {
    let b = rec.as_bytes();
    if memchr::memchr(quote, b).is_none() {
        let mut n = 0;
        for f in rec.split(delimiter as char) {
            field(f);
            n += 1;
        }
        return Ok(n);
    }
    let mut scratch = String::new();
    let (mut i, mut n) = (0, 0);
    loop {
        if b.get(i) == Some(&quote) {
            let start = i;
            i += 1;
            scratch.clear();
            let mut from = i;
            loop {
                let Some(k) = memchr::memchr(quote, &b[i..]) else {
                    return Err(Fault::Unclosed(start + 1));
                };
                let j = i + k;
                if b.get(j + 1) == Some(&quote) {
                    scratch.push_str(&rec[from..=j]);
                    i = j + 2;
                    from = i;
                } else {
                    scratch.push_str(&rec[from..j]);
                    i = j + 1;
                    break;
                }
            }
            field(&scratch);
            n += 1;
            match b.get(i) {
                None => return Ok(n),
                Some(&c) if c == delimiter => i += 1,
                Some(_) => return Err(Fault::AfterQuote(i + 1)),
            }
        } else {
            let end = memchr::memchr(delimiter, &b[i..]).map_or(b.len(), |k| i + k);
            if let Some(k) = memchr::memchr(quote, &b[i..end]) {
                return Err(Fault::Stray(i + k + 1));
            }
            field(&rec[i..end]);
            n += 1;
            if end == b.len() {
                return Ok(n);
            }
            i = end + 1;
        }
    }
}

/// Appends `s` to `out` as a JSON string.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

/// `builtin: csv` as a reader.
pub(crate) struct CsvReader {
    config: CsvReaderConfig,
    grant: Grant,
    limit: usize,
    input: Option<InputFile>,
    /// Each key as JSON (`"name":`), in column order.
    keys: Vec<Vec<u8>>,
    /// Records consumed (items and malformed records alike).
    rows: u64,
    line: Vec<u8>,
    record: Vec<u8>,
}

impl CsvReader {
    /// A reader of `config.file` inside `grant`; records longer than `limit` bytes are refused.
    pub(crate) fn new(config: CsvReaderConfig, grant: Grant, limit: usize) -> Self {
        CsvReader {
            config,
            grant,
            limit,
            input: None,
            keys: Vec::new(),
            rows: 0,
            line: Vec::new(),
            record: Vec::new(),
        }
    }

    fn path(&self) -> &str {
        &self.config.file.path
    }

    /// The next logical record into `self.record`: the line number it starts on, or `None` at
    /// the end of the file. A malformed record is an `Err` item error with its raw bytes.
    fn next_record(&mut self) -> Result<Option<Result<u64, ItemError>>, PluginError> {
        let input = self.input.as_mut().ok_or_else(not_open)?;
        loop {
            let start = match input.next_line(&mut self.line)? {
                Line::End => return Ok(None),
                Line::TooLong(n) => {
                    let e = ItemError::new(
                        "validation.csv.size",
                        format!(
                            "{}: line {n} is longer than the {}-byte record limit (`limits.max-item-size`)",
                            input.path, self.limit
                        ),
                    );
                    return Ok(Some(Err(e.with_raw(std::mem::take(&mut self.line)))));
                }
                Line::Text(n) => n,
            };
            if start == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
                self.line.drain(..3);
            }
            if self.line.is_empty() {
                continue; // a blank line holds no record
            }
            self.record.clear();
            self.record.extend_from_slice(&self.line);
            if self.config.multiline {
                // Join lines while a quoted field is open.
                while let Ok(text) = std::str::from_utf8(&self.record)
                    && matches!(
                        split(text, self.config.delimiter, self.config.quote, |_| {}),
                        Err(Fault::Unclosed(_))
                    )
                {
                    match input.next_line(&mut self.line)? {
                        Line::Text(_) if self.record.len() + self.line.len() < self.limit => {
                            self.record.push(b'\n');
                            self.record.extend_from_slice(&self.line);
                        }
                        // The end of the file or the limit inside a quoted field: report it.
                        _ => break,
                    }
                }
            }
            return Ok(Some(Ok(start)));
        }
    }

    /// Turns `self.record` (starting on `line`) into a JSON object, or the error that fails it.
    fn item(&self, line: u64) -> Result<Vec<u8>, ItemError> {
        let path = self.path();
        let bad = |kind: &str, message: String| {
            ItemError::new(kind, message).with_raw(self.record.clone())
        };
        let text = std::str::from_utf8(&self.record).map_err(|e| {
            bad(
                "validation.csv.encoding",
                format!(
                    "{path}: line {line} is not valid UTF-8 (byte {} of the record); convert the file to UTF-8",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let mut out = Vec::with_capacity(text.len() + 16 * self.keys.len());
        out.push(b'{');
        let mut n = 0;
        let count = split(text, self.config.delimiter, self.config.quote, |f| {
            if let Some(key) = self.keys.get(n) {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key);
                json_string(&mut out, f);
            }
            n += 1;
        })
        .map_err(|fault| {
            let (column, what) = fault.describe(self.config.quote as char, self.config.multiline);
            bad(
                "validation.csv.quote",
                format!("{path}: line {line}, column {column}: {what}"),
            )
        })?;
        if count != self.keys.len() {
            let source = if self.config.columns.is_some() {
                "`columns` name"
            } else {
                "the header has"
            };
            return Err(bad(
                "validation.csv.fields",
                format!(
                    "{path}: line {line} has {count} fields, {source} {}",
                    self.keys.len()
                ),
            ));
        }
        out.push(b'}');
        Ok(out)
    }
}

impl ItemReader for CsvReader {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.input = Some(InputFile::open(&self.grant, self.path(), self.limit)?);
        let names: Vec<String> = match &self.config.columns {
            Some(columns) => columns.clone(),
            None => match self.next_record()? {
                None => Vec::new(), // an empty file: no header, no records
                Some(Err(e)) => {
                    return Err(PluginError::Failed(ItemError::new(
                        e.kind,
                        format!("header: {}", e.message),
                    )));
                }
                Some(Ok(line)) => {
                    let text = std::str::from_utf8(&self.record).map_err(|_| {
                        failed(
                            "validation.csv.encoding",
                            format!("{}: the header line {line} is not valid UTF-8", self.path()),
                        )
                    })?;
                    let mut names = Vec::new();
                    split(text, self.config.delimiter, self.config.quote, |f| {
                        names.push(f.to_owned())
                    })
                    .map_err(|_| {
                        failed(
                            "validation.csv.quote",
                            format!(
                                "{}: the header line {line} has a malformed quoted name",
                                self.path()
                            ),
                        )
                    })?;
                    let mut seen = std::collections::HashSet::new();
                    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
                        return Err(failed(
                            "validation.csv.header",
                            format!(
                                "{}: the header names `{dup}` twice; item keys must be unique",
                                self.path()
                            ),
                        ));
                    }
                    names
                }
            },
        };
        self.keys = names
            .iter()
            .map(|n| {
                let mut k = Vec::with_capacity(n.len() + 3);
                json_string(&mut k, n);
                k.push(b':');
                k
            })
            .collect();
        let range = ByteRange::parse(self.config.file.range.as_ref())?;
        let input = self.input.as_mut().ok_or_else(not_open)?;
        self.rows = input.resume(ctx, range)?;
        Ok(())
    }

    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        let mut outcomes = Vec::with_capacity(max.min(4096) as usize);
        while outcomes.len() < max as usize {
            match self.next_record()? {
                None => {
                    return Ok(ReadBatch {
                        outcomes,
                        end: true,
                    });
                }
                Some(Err(e)) => outcomes.push(Err(e)),
                Some(Ok(line)) => outcomes.push(self.item(line)),
            }
            self.rows += 1;
        }
        Ok(ReadBatch {
            outcomes,
            end: false,
        })
    }

    /// Each item is a JSON object serde_json encoded from the record's fields.
    fn yields_host_json(&self) -> bool {
        true
    }

    input_file_calls!();
}

/// `builtin: csv` as a writer.
pub(crate) struct CsvWriter {
    config: CsvWriterConfig,
    grant: Grant,
    out: OutputFile,
}

impl CsvWriter {
    /// A writer of `config.file` inside `grant`.
    pub(crate) fn new(config: CsvWriterConfig, grant: Grant, sync: bool, read_only: bool) -> Self {
        let out = OutputFile::new(&config.file.path, sync, read_only);
        CsvWriter { config, grant, out }
    }

    /// Appends one record of `fields` to the buffer, quoting where needed.
    fn record<'a>(&mut self, fields: impl Iterator<Item = Cow<'a, str>>) {
        let d = self.config.delimiter;
        for (i, f) in fields.enumerate() {
            if i > 0 {
                self.out.buffer.push(d);
            }
            let needs_quotes = f
                .bytes()
                .any(|b| b == d || b == b'"' || b == b'\n' || b == b'\r');
            if needs_quotes {
                self.out.buffer.push(b'"');
                for part in f.split_inclusive('"') {
                    self.out.buffer.extend_from_slice(part.as_bytes());
                    if part.ends_with('"') {
                        self.out.buffer.push(b'"');
                    }
                }
                self.out.buffer.push(b'"');
            } else {
                self.out.buffer.extend_from_slice(f.as_bytes());
            }
        }
        self.out.buffer.push(b'\n');
    }
}

impl ItemWriter for CsvWriter {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        if self.out.open(&self.grant, ctx)? && self.config.header {
            let columns = self.config.columns.clone();
            self.record(columns.iter().map(|c| Cow::Borrowed(c.as_str())));
        }
        Ok(())
    }

    fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        let at = self.out.buffer.len();
        for (n, item) in items.iter().enumerate() {
            let object: serde_json::Map<String, Value> =
                serde_json::from_slice(item).map_err(|e| {
                    failed(
                        "validation.csv",
                        format!("item {} of the chunk is not a JSON object: {e}", n + 1),
                    )
                })?;
            let mut fields = Vec::with_capacity(self.config.columns.len());
            for c in &self.config.columns {
                fields.push(match object.get(c) {
                    Some(Value::String(s)) => Cow::Owned(s.clone()),
                    Some(Value::Null) => Cow::Borrowed(""),
                    Some(v @ (Value::Number(_) | Value::Bool(_))) => Cow::Owned(v.to_string()),
                    Some(_) => {
                        self.out.buffer.truncate(at);
                        return Err(failed("validation.csv", format!("item {} of the chunk: field `{c}` is an object or array; a CSV column holds text, numbers or booleans", n + 1)));
                    }
                    None => {
                        self.out.buffer.truncate(at);
                        return Err(failed("validation.csv", format!("item {} of the chunk has no field `{c}`", n + 1)));
                    }
                });
            }
            self.record(fields.into_iter());
        }
        self.out.flush_buffer()
    }

    output_file_calls!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(rec: &str) -> Result<Vec<String>, Fault> {
        let mut v = Vec::new();
        split(rec, b',', b'"', |f| v.push(f.to_owned()))?;
        Ok(v)
    }

    #[test]
    fn splits_plain_and_quoted_fields_strictly() {
        assert_eq!(fields("1,Ann,a@b.c").unwrap(), ["1", "Ann", "a@b.c"]);
        assert_eq!(fields("1,,").unwrap(), ["1", "", ""]);
        assert_eq!(fields("\"Lee, Ann\",x").unwrap(), ["Lee, Ann", "x"]);
        assert_eq!(
            fields("\"say \"\"hi\"\"\",\"\"").unwrap(),
            ["say \"hi\"", ""]
        );
        assert_eq!(fields("a,\"b\"").unwrap(), ["a", "b"]);
        assert_eq!(fields("\"multi\nline\",z").unwrap(), ["multi\nline", "z"]);
        assert_eq!(fields("1,\"Ann,a@b.c"), Err(Fault::Unclosed(3)));
        assert_eq!(fields("1,An\"n,a@b.c"), Err(Fault::Stray(5)));
        assert_eq!(fields("1,\"Ann\"x,a@b.c"), Err(Fault::AfterQuote(8)));
    }
}
