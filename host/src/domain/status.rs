//! `domain`: `BatchStatus` (with Spring's `upgrade_to`) and `ExitStatus`.

use std::fmt;
use std::str::FromStr;

/// The lifecycle status of a job or step execution (Spring Batch's `BatchStatus`).
///
/// Variants are declared in Spring's order, from most to least successful outcome for the purpose
/// of [`BatchStatus::upgrade_to`]: a job's status is the "worst" of its steps'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BatchStatus {
    /// Finished successfully.
    Completed,
    /// Created, not started yet.
    Starting,
    /// Running.
    Started,
    /// A stop was requested; the execution will stop at the next chunk boundary.
    Stopping,
    /// Stopped on request; restartable.
    Stopped,
    /// Failed; restartable.
    Failed,
    /// Given up by an operator; never restarted.
    Abandoned,
    /// The state is not known (for example after a crash with no heartbeat).
    Unknown,
}

impl BatchStatus {
    /// All statuses, in declaration order.
    pub const ALL: [BatchStatus; 8] = [
        BatchStatus::Completed,
        BatchStatus::Starting,
        BatchStatus::Started,
        BatchStatus::Stopping,
        BatchStatus::Stopped,
        BatchStatus::Failed,
        BatchStatus::Abandoned,
        BatchStatus::Unknown,
    ];

    /// The name stored in the `STATUS` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Completed => "COMPLETED",
            BatchStatus::Starting => "STARTING",
            BatchStatus::Started => "STARTED",
            BatchStatus::Stopping => "STOPPING",
            BatchStatus::Stopped => "STOPPED",
            BatchStatus::Failed => "FAILED",
            BatchStatus::Abandoned => "ABANDONED",
            BatchStatus::Unknown => "UNKNOWN",
        }
    }

    /// True for STARTING, STARTED and STOPPING.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            BatchStatus::Starting | BatchStatus::Started | BatchStatus::Stopping
        )
    }

    /// True for FAILED and worse.
    pub fn is_unsuccessful(self) -> bool {
        self >= BatchStatus::Failed
    }

    /// Combines two statuses the way Spring does: once started, the worse of the two wins;
    /// before that, the better one.
    pub fn upgrade_to(self, other: BatchStatus) -> BatchStatus {
        if self > BatchStatus::Started || other > BatchStatus::Started {
            self.max(other)
        } else if self == BatchStatus::Completed || other == BatchStatus::Completed {
            BatchStatus::Completed
        } else {
            self.max(other)
        }
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BatchStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BatchStatus::ALL
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown batch status `{s}`"))
    }
}

/// How an execution ended, as recorded in `EXIT_CODE` / `EXIT_MESSAGE` (Spring's `ExitStatus`).
/// The code is open-ended: plugins and flows may use their own codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, such as `COMPLETED` or `FAILED`.
    pub code: String,
    /// A description, such as the error that failed a step.
    pub description: String,
}

impl ExitStatus {
    fn of(code: &str) -> Self {
        ExitStatus {
            code: code.into(),
            description: String::new(),
        }
    }

    /// The state is not known yet.
    pub fn unknown() -> Self {
        Self::of("UNKNOWN")
    }
    /// Still running.
    pub fn executing() -> Self {
        Self::of("EXECUTING")
    }
    /// Finished successfully.
    pub fn completed() -> Self {
        Self::of("COMPLETED")
    }
    /// Nothing was done (for example a step that was already complete).
    pub fn noop() -> Self {
        Self::of("NOOP")
    }
    /// Failed.
    pub fn failed() -> Self {
        Self::of("FAILED")
    }
    /// Stopped on request.
    pub fn stopped() -> Self {
        Self::of("STOPPED")
    }

    /// The same code with a description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.description.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.description)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BatchStatus::*;
    use super::*;

    #[test]
    fn upgrade_follows_spring() {
        assert_eq!(Completed.upgrade_to(Failed), Failed);
        assert_eq!(Failed.upgrade_to(Completed), Failed);
        assert_eq!(Starting.upgrade_to(Completed), Completed);
        assert_eq!(Started.upgrade_to(Starting), Started);
        assert_eq!(Stopped.upgrade_to(Failed), Failed);
        assert_eq!(Abandoned.upgrade_to(Unknown), Unknown);
    }

    #[test]
    fn names_round_trip() {
        for s in BatchStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchStatus>().unwrap(), s);
        }
        assert!(Started.is_running() && !Failed.is_running());
        assert!(Failed.is_unsuccessful() && !Stopped.is_unsuccessful());
    }
}
