//! `volume-decider`: routes a flow on the size of an input file in the work directory.
//!
//! Config: `{ path: FILE, big-bytes: N, big?: BIG, small?: SMALL, empty?: EMPTY }`. Answers `big`
//! when the file has at least `big-bytes` bytes, `empty` when it has none, `small` otherwise.
//! A missing file is an error of kind `io.not-found`.

use batch_sdk::{Decider, Error, ExecutionContext, Setup, StepSummary};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Config {
    path: String,
    big_bytes: u64,
    #[serde(default = "big")]
    big: String,
    #[serde(default = "small")]
    small: String,
    #[serde(default = "empty")]
    empty: String,
}

fn big() -> String {
    "BIG".into()
}

fn small() -> String {
    "SMALL".into()
}

fn empty() -> String {
    "EMPTY".into()
}

/// The decider.
#[derive(Debug)]
pub struct VolumeDecider {
    config: Config,
}

impl VolumeDecider {
    fn classify(&self, size: u64) -> String {
        let c = &self.config;
        if size == 0 {
            c.empty.clone()
        } else if size >= c.big_bytes {
            c.big.clone()
        } else {
            c.small.clone()
        }
    }
}

impl Decider for VolumeDecider {
    fn init(setup: &Setup) -> Result<Self, Error> {
        Ok(VolumeDecider {
            config: setup.config()?,
        })
    }

    fn decide(
        &mut self,
        _job_context: &ExecutionContext,
        _last_step: Option<&StepSummary>,
    ) -> Result<String, Error> {
        let size = std::fs::metadata(&self.config.path)
            .map_err(|e| {
                Error::new(
                    "io.not-found",
                    format!("cannot read `{}`: {e}", self.config.path),
                )
            })?
            .len();
        Ok(self.classify(size))
    }
}

batch_sdk::export_decider!(VolumeDecider);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_size() {
        let d = VolumeDecider {
            config: serde_json::from_value(serde_json::json!({ "path": "x", "big-bytes": 10 }))
                .unwrap(),
        };
        assert_eq!(d.classify(0), "EMPTY");
        assert_eq!(d.classify(9), "SMALL");
        assert_eq!(d.classify(10), "BIG");
    }
}
