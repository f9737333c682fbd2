//! The `batch-host` binary: parse the command line, run the command, exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
    raise_file_limit();
    batch_host::cli::Cli::parse().execute()
}

/// Raises the soft limit on open files to the hard limit. Each plugin instance may hold up to
/// `MAX_HANDLES` resources; with the common soft limit of 1024 a few instances together could
/// run the process out of descriptors, and another plugin's `open` would then fail.
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// Rust ignores SIGPIPE, so `batch-host skipped 1 | head` would panic on the closed pipe.
/// Restore the default action: like any Unix tool, the process ends quietly when its reader
/// goes away (a run killed this way restarts from its last committed chunk).
#[cfg(unix)]
#[allow(
    unsafe_code,
    reason = "libc::signal has no safe wrapper; see the SAFETY note"
)]
fn restore_sigpipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; setting a signal's
    // disposition to SIG_DFL has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
