//! `engine` → operator: the owner of a running execution — this process, recorded at launch —
//! and whether a recorded owner is still alive, decided on its own host from `/proc`.

use crate::domain::ExecutionOwner;

/// What can be known about a recorded owner from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Its process runs on this host.
    Alive,
    /// It ran on this host and its process is gone (or the host rebooted since).
    Gone,
    /// It runs on another host: only its heartbeat can tell.
    Elsewhere,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The kernel's id of the current boot.
fn boot_id() -> String {
    read("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

/// A process's start time in clock ticks after boot (field 22 of `/proc/PID/stat`).
fn start_ticks(pid: &str) -> Option<String> {
    let stat = read(&format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: count after the last `)`.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_owned)
}

/// This host's name.
fn host_name() -> String {
    read("/proc/sys/kernel/hostname").unwrap_or_else(|| "localhost".into())
}

/// The owner record of this process.
pub(crate) fn this_process() -> ExecutionOwner {
    ExecutionOwner {
        host: host_name(),
        pid: std::process::id(),
        started: format!("{}:{}", boot_id(), start_ticks("self").unwrap_or_default()),
    }
}

/// Whether `owner` is alive, as far as this host can tell. The same host means the same host
/// name; a different boot id means the host rebooted since, so the owner is gone.
pub(crate) fn liveness(owner: &ExecutionOwner) -> Liveness {
    if owner.host != host_name() {
        return Liveness::Elsewhere;
    }
    let (boot, ticks) = owner.started.split_once(':').unwrap_or(("", ""));
    if boot != boot_id() {
        return Liveness::Gone;
    }
    match start_ticks(&owner.pid.to_string()) {
        // The same process id and start time: the owner itself.
        Some(now) if now == ticks => Liveness::Alive,
        // No such process, or the id was reused by a later one.
        _ => Liveness::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_or_reused_pid_is_gone() {
        let me = this_process();
        assert_eq!(liveness(&me), Liveness::Alive);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = ExecutionOwner { pid, ..me.clone() };
        assert_eq!(liveness(&gone), Liveness::Gone, "an exited process");
        let reused = ExecutionOwner {
            started: format!("{}:1", boot_id()),
            ..me.clone()
        };
        assert_eq!(
            liveness(&reused),
            Liveness::Gone,
            "same pid, other start time"
        );
        let rebooted = ExecutionOwner {
            started: "another-boot:1".into(),
            ..me.clone()
        };
        assert_eq!(liveness(&rebooted), Liveness::Gone);
        let elsewhere = ExecutionOwner {
            host: format!("{}-other", me.host),
            ..me
        };
        assert_eq!(liveness(&elsewhere), Liveness::Elsewhere);
    }
}
