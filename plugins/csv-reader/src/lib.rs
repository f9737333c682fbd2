//! `csv-reader`: reads a CSV file with a header row; each data row becomes a JSON object
//! (`{"<header>": "<value>", …}`).
//!
//! Config: `path` (relative to the step's work directory), optional `delimiter` (one character,
//! default `,`). Checkpoint: the number of data rows consumed and the byte offset after them, so
//! a restart seeks straight past the last committed row.

use std::fs::File;
use std::io::{Seek, SeekFrom};

use batch_sdk::{Error, ExecutionContext, ItemReader, Setup};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    path: String,
    #[serde(default = "default_delimiter")]
    delimiter: char,
}

fn default_delimiter() -> char {
    ','
}

/// The reader's state between calls.
#[derive(Debug)]
pub struct CsvReader {
    config: Config,
    headers: Vec<String>,
    reader: Option<csv::Reader<File>>,
    rows: u64,
    start: u64,
    offset: u64,
    record: csv::StringRecord,
}

const ROWS: &str = "rows";
const OFFSET: &str = "offset";

impl CsvReader {
    fn builder(&self) -> csv::ReaderBuilder {
        let mut b = csv::ReaderBuilder::new();
        b.delimiter(self.config.delimiter as u8).flexible(false);
        b
    }
}

impl ItemReader for CsvReader {
    type Item = Map<String, Value>;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let config: Config = setup.config()?;
        batch_sdk::relative_path("path", &config.path)?;
        if !config.delimiter.is_ascii() {
            return Err(Error::config(
                "`delimiter` must be a single ASCII character",
            ));
        }
        Ok(CsvReader {
            config,
            headers: Vec::new(),
            reader: None,
            rows: 0,
            start: 0,
            offset: 0,
            record: csv::StringRecord::new(),
        })
    }

    fn open(&mut self, context: &ExecutionContext) -> Result<(), Error> {
        let path = &self.config.path;
        let file = File::open(path).map_err(|e| {
            let e = Error::from(e);
            Error::new(e.kind, format!("cannot open `{path}`: {}", e.message))
        })?;
        let mut reader = self.builder().has_headers(true).from_reader(file);
        self.headers = reader
            .headers()
            .map_err(|e| Error::io("csv", format!("{}: header: {e}", self.config.path)))?
            .iter()
            .map(str::to_owned)
            .collect();
        let header_end = reader.position().byte();
        let rows: u64 = context.get(ROWS)?.unwrap_or(0);
        let offset: u64 = context.get(OFFSET)?.unwrap_or(header_end);
        // Continue after the last committed row: seek the file, then read without headers.
        let mut file = reader.into_inner();
        file.seek(SeekFrom::Start(offset))?;
        self.reader = Some(self.builder().has_headers(false).from_reader(file));
        self.rows = rows;
        self.start = offset;
        self.offset = offset;
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Self::Item>, Error> {
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| Error::new("plugin.lifecycle", "read before open"))?;
        let line = self.rows + 2; // 1-based line number of this row, after the header line
        let more = reader.read_record(&mut self.record);
        // csv positions count from where this reader started; keep the absolute file offset.
        self.offset = self.start + reader.position().byte();
        match more {
            Ok(true) => self.rows += 1,
            Ok(false) => return Ok(None),
            Err(e) => {
                self.rows += 1;
                let path = &self.config.path;
                return Err(Error::new("io.csv", format!("{path}: line {line}: {e}")));
            }
        }
        if self.record.len() != self.headers.len() {
            return Err(Error::new(
                "validation.csv",
                format!(
                    "{}: line {line} has {} fields, the header has {}",
                    self.config.path,
                    self.record.len(),
                    self.headers.len()
                ),
            ));
        }
        let mut row = Map::with_capacity(self.headers.len());
        for (h, v) in self.headers.iter().zip(self.record.iter()) {
            row.insert(h.clone(), Value::String(v.to_owned()));
        }
        Ok(Some(row))
    }

    fn update(&mut self) -> Result<ExecutionContext, Error> {
        let mut ctx = ExecutionContext::new();
        ctx.put(ROWS, self.rows).put(OFFSET, self.offset);
        Ok(ctx)
    }
}

batch_sdk::export_reader!(CsvReader);
