//! `domain`: the process that runs a job execution (its owner), as the repository records it.

/// Who runs an execution: the host, the process id, and when that process started (the kernel's
/// boot id and the process start time, so a reused process id is not mistaken for the owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionOwner {
    /// The host name.
    pub host: String,
    /// The process id on that host.
    pub pid: u32,
    /// `BOOT_ID:START_TICKS` of the process.
    pub started: String,
}
