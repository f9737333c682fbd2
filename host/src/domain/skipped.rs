//! `domain`: a skipped item (phase, kind, message, raw payload, position) and the `sql-table`
//! writer's row.

use std::fmt;

/// Where in the chunk an item was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipPhase {
    /// The reader failed to produce it.
    Read,
    /// The processor failed on it.
    Process,
    /// The writer failed on it.
    Write,
}

impl SkipPhase {
    /// `read`, `process` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipPhase::Read => "read",
            SkipPhase::Process => "process",
            SkipPhase::Write => "write",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<SkipPhase> {
        match s {
            "read" => Some(SkipPhase::Read),
            "process" => Some(SkipPhase::Process),
            "write" => Some(SkipPhase::Write),
            _ => None,
        }
    }
}

impl fmt::Display for SkipPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A skipped item, kept in the repository's dead-letter table so it is never silently lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedItem {
    /// The phase that skipped it.
    pub phase: SkipPhase,
    /// The error kind.
    pub kind: String,
    /// The error message.
    pub message: String,
    /// The item's bytes (`None` for a read skip: the reader produced no item).
    pub payload: Option<Vec<u8>>,
    /// 1-based position of the item in the step's read order.
    pub position: i64,
    /// 1-based number of the chunk within the step execution.
    pub chunk: i64,
}

/// A row the built-in `sql-table` writer stages; it is inserted in the chunk's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// The logical table (`config.table`).
    pub table: String,
    /// 1-based row number within the table, in commit order.
    pub row_number: i64,
    /// The item, as text (JSON for SDK items).
    pub payload: String,
}
