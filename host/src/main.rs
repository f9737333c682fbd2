//! The `batch-host` binary: parse the command line, run the command, exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    batch_host::cli::Cli::parse().execute()
}
