//! Test guest: a tasklet that attacks the host as config `mode` says.
//!
//! - `swap-grant` (`dir`, `target`): renames the folder `dir` of its grant to `dir.orig` and puts
//!   a relative symlink to `target` in its place, so that a later step granted `dir` would see
//!   `target` (outside the work directory) if the host opened grants by path;
//! - `probe` (`out`): looks for the host's files from inside its grant — every file it can
//!   list, every `*.db*` and `artifact.key` it can open, and paths that would lead to them
//!   (`../`, absolute) — and writes what it found to `out` as JSON;
//! - `write-probe` (`file`, `text`): writes `text` to `file` (to check a grant's effect);
//! - `sleep`: sleeps for an hour inside `execute` (a blocking WASI call, no guest compute);
//! - `error-text`: fails with a 20 MiB message full of terminal escapes and forged log lines,
//!   and an error kind with escapes;
//! - `exit-text`: finishes with a 1 MiB exit code and description full of escapes;
//! - `big-context`: returns a 64 MiB ExecutionContext;
//! - `log-flood`: sends 128 MiB through the `log` import, with escapes in every message and
//!   field.

use batch_sdk::{Error, ExecutionContext, ExitStatus, RepeatStatus, Setup, Tasklet};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Config {
    mode: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    out: String,
    #[serde(default)]
    file: String,
    #[serde(default)]
    text: String,
}

/// Text built to attack a terminal and a log: an OSC title change with BEL, CSI colours, a
/// carriage return that overwrites the line, a forged log line, a C1 CSI and a bidi override.
pub const EVIL: &str =
    "\x1b]0;pwned\x07\x1b[31mRED\r\nERROR forged log line\u{9b}2J\u{202e}gnp.exe";

/// The tasklet.
#[derive(Debug)]
pub struct Hostile {
    config: Config,
    exit: Option<ExitStatus>,
}

fn probe_file(path: &str) -> String {
    match std::fs::read(path) {
        Ok(bytes) => format!("read {} bytes", bytes.len()),
        Err(e) => format!("refused: {e}"),
    }
}

fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        found.push(path.display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&path, found);
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn symlink(target: &str, link: &str) -> Result<(), Error> {
    let dirs = wasi::filesystem::preopens::get_directories();
    let (dir, _) = dirs
        .into_iter()
        .next()
        .ok_or_else(|| Error::new("attack.setup", "no preopened directory"))?;
    dir.symlink_at(target, link)
        .map_err(|e| Error::new("attack.setup", format!("symlink-at: {e:?}")))
}

#[cfg(not(target_arch = "wasm32"))]
fn symlink(_target: &str, _link: &str) -> Result<(), Error> {
    Err(Error::new("attack.setup", "only inside WebAssembly"))
}

impl Tasklet for Hostile {
    fn init(setup: &Setup) -> Result<Self, Error> {
        Ok(Hostile {
            config: setup.config()?,
            exit: None,
        })
    }

    fn execute(&mut self, context: &mut ExecutionContext) -> Result<RepeatStatus, Error> {
        let c = &self.config;
        match c.mode.as_str() {
            "swap-grant" => {
                let moved = format!("{}.orig", c.dir);
                std::fs::rename(&c.dir, &moved)
                    .map_err(|e| Error::new("attack.setup", format!("rename: {e}")))?;
                symlink(&c.target, &c.dir)?;
            }
            "probe" => {
                let mut listed = Vec::new();
                walk(std::path::Path::new("."), &mut listed);
                let mut opened = serde_json::Map::new();
                for path in &listed {
                    if path.contains(".db") || path.ends_with("artifact.key") {
                        opened.insert(path.clone(), json!(probe_file(path)));
                    }
                }
                let mut tried = serde_json::Map::new();
                for path in [
                    "../repo/repo.db",
                    "../repo.db",
                    "../home/artifact.key",
                    "../home/batch-host.db",
                    "/etc/passwd",
                ] {
                    tried.insert(path.to_owned(), json!(probe_file(path)));
                }
                let report = json!({ "listed": listed, "opened": opened, "tried": tried });
                std::fs::write(&c.out, report.to_string())
                    .map_err(|e| Error::io("probe", e.to_string()))?;
            }
            "write-probe" => {
                std::fs::write(&c.file, &c.text).map_err(|e| Error::io("write", e.to_string()))?;
            }
            "sleep" => std::thread::sleep(std::time::Duration::from_secs(3600)),
            "error-text" => {
                let message = format!("{EVIL} ").repeat((20 << 20) / (EVIL.len() + 1));
                return Err(Error::new(format!("evil{EVIL}.kind"), message));
            }
            "exit-text" => {
                self.exit = Some(ExitStatus {
                    code: format!("CODE{EVIL}").repeat((1 << 20) / (EVIL.len() + 4)),
                    description: format!("desc{EVIL}").repeat((1 << 20) / (EVIL.len() + 4)),
                });
            }
            "big-context" => {
                context.put("hoard", "x".repeat(64 << 20));
            }
            "log-flood" => {
                let message = format!("flood {EVIL} ").repeat(4000);
                for _ in 0..(128usize << 20) / message.len() {
                    batch_sdk::log::log(
                        batch_sdk::log::Level::Warn,
                        &message,
                        &[(EVIL, EVIL), ("field\nname", "value\r\nERROR forged")],
                    );
                }
            }
            other => return Err(Error::config(format!("unknown mode `{other}`"))),
        }
        Ok(RepeatStatus::Finished)
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.exit.take()
    }
}

batch_sdk::export_tasklet!(Hostile);
