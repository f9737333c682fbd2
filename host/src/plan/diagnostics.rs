//! `plan` → diagnostics: every problem of a job, collected with its file, line, column,
//! field and hint, and reported together.

use std::fmt;
use std::path::Path;

use crate::repository::RepositoryError;
use crate::spec::Diagnostic;

/// Everything wrong with a job, reported together.
#[derive(Debug)]
pub struct PlanErrors {
    /// The problems, in file order.
    pub problems: Vec<Diagnostic>,
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{n} problem{} in the job:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

/// Why planning could not even be attempted (not the job's fault).
#[derive(Debug, thiserror::Error)]
pub enum PlanFailure {
    /// The job has problems; fix the file.
    #[error("{0}")]
    Invalid(PlanErrors),
    /// The repository could not be read.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Collects the problems of one job file.
pub(super) struct Collector<'a> {
    pub(super) file: &'a Path,
    pub(super) problems: Vec<Diagnostic>,
}

impl Collector<'_> {
    pub(super) fn push(
        &mut self,
        at: (u64, u64),
        field: String,
        message: String,
        hint: Option<String>,
    ) {
        self.problems.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: at.0,
            column: at.1,
            field,
            message,
            hint,
        });
    }
}
