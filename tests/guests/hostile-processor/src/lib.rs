//! Test guest: misbehaves on every item, as config `mode` says — `loop` (spins forever),
//! `memory` (allocates without bound), `recursion` (unbounded recursion), `big-item` (returns an
//! 8 MiB item), `stdout` (floods stdout with 64 MiB, then passes the item on), `env` (reports
//! the environment it sees), `files` (reports which host paths it can open), `sleep` (sleeps for
//! an hour: a blocking WASI call, no compute), `fd-leak` (opens `inside.txt` 20,000 times and
//! keeps every handle), `error-text` (fails with a 20 MiB message full of terminal escapes).

use batch_sdk::{Error, ItemProcessor, Setup};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct Config {
    mode: String,
}

/// The processor.
#[derive(Debug)]
pub struct Hostile {
    mode: String,
    hoard: Vec<std::fs::File>,
}

#[inline(never)]
#[allow(unconditional_recursion, reason = "the point of this mode")]
fn recurse(n: u64, sink: &mut Vec<u64>) -> u64 {
    sink.push(n);
    recurse(n + 1, sink) + sink.len() as u64
}

impl ItemProcessor for Hostile {
    type In = Value;
    type Out = Value;

    fn init(setup: &Setup) -> Result<Self, Error> {
        let c: Config = setup.config()?;
        Ok(Hostile {
            mode: c.mode,
            hoard: Vec::new(),
        })
    }

    fn process(&mut self, item: Value) -> Result<Option<Value>, Error> {
        match self.mode.as_str() {
            "loop" => {
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => {
                let mut sink = Vec::new();
                Ok(Some(json!(recurse(0, &mut sink))))
            }
            "big-item" => Ok(Some(Value::String("x".repeat(8 << 20)))),
            "stdout" => {
                let line = "flood ".repeat(1000);
                for _ in 0..10_000 {
                    println!("{line}");
                }
                Ok(Some(item))
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                Ok(Some(
                    json!({ "item": item, "env": vars, "home": std::env::var("HOME").ok() }),
                ))
            }
            "files" => {
                let probe = |p: &str| {
                    std::fs::read(p)
                        .map(|_| "readable".to_owned())
                        .unwrap_or_else(|e| e.to_string())
                };
                Ok(Some(json!({
                    "/etc/passwd": probe("/etc/passwd"),
                    "../outside.txt": probe("../outside.txt"),
                    "link-out": probe("link-out"),
                    "inside.txt": probe("inside.txt"),
                })))
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(Some(item))
            }
            "fd-leak" => {
                for n in 0..20_000 {
                    let f = std::fs::File::open("inside.txt").map_err(|e| {
                        Error::io("leak", format!("open number {} failed: {e}", n + 1))
                    })?;
                    self.hoard.push(f);
                }
                Ok(Some(item))
            }
            "error-text" => {
                let evil = "\x1b]0;pwned\x07\x1b[31mRED\r\nERROR forged log line\u{9b}2J\u{202e}";
                Err(Error::new(
                    format!("validation.x{evil}"),
                    evil.repeat((20 << 20) / evil.len()),
                ))
            }
            other => Err(Error::config(format!("unknown mode `{other}`"))),
        }
    }
}

batch_sdk::export_processor!(Hostile);
