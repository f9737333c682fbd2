//! `domain`: how much a committed chunk survives — a crash of the process, or a power loss.

use std::fmt;

/// What a committed chunk survives. Both levels keep restarts exactly-once, because every
/// output's checkpoint is committed in the same repository transaction as the chunk's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// A killed or crashed process loses nothing committed; a power loss or kernel crash may
    /// lose the last commits (the repository and the outputs roll back together, never
    /// corrupted). SQLite runs `synchronous=NORMAL`; built-in writers do not fsync.
    #[default]
    ProcessCrash,
    /// A committed chunk survives a power loss: built-in writers fsync their file before the
    /// repository commit, and SQLite runs `synchronous=FULL`.
    PowerLoss,
}

impl Durability {
    /// Parses the job.yaml / host configuration spelling.
    pub fn parse(s: &str) -> Option<Durability> {
        match s {
            "process-crash" => Some(Durability::ProcessCrash),
            "power-loss" => Some(Durability::PowerLoss),
            _ => None,
        }
    }

    /// The job.yaml spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::ProcessCrash => "process-crash",
            Durability::PowerLoss => "power-loss",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
