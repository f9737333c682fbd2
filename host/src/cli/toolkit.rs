//! `cli` → toolkit: what `plugin build` needs for Python and JavaScript projects, carried in the
//! binary — the WIT contract, the Python and JavaScript SDKs and the componentize recipe — and
//! unpacked into the host's home on first use, so a project builds from any directory.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::CliError;

/// The recipe shared with `plugins/build.sh` (`make plugins`).
const COMPONENTIZE: &str = include_str!("../../../plugins/componentize.sh");

/// Every embedded file, by its path inside the toolkit directory.
const FILES: &[(&str, &str)] = &[
    ("componentize.sh", COMPONENTIZE),
    ("wit/types.wit", include_str!("../../../wit/types.wit")),
    ("wit/log.wit", include_str!("../../../wit/log.wit")),
    (
        "wit/lifecycle.wit",
        include_str!("../../../wit/lifecycle.wit"),
    ),
    (
        "wit/item-stream.wit",
        include_str!("../../../wit/item-stream.wit"),
    ),
    (
        "wit/item-reader.wit",
        include_str!("../../../wit/item-reader.wit"),
    ),
    (
        "wit/item-processor.wit",
        include_str!("../../../wit/item-processor.wit"),
    ),
    (
        "wit/item-writer.wit",
        include_str!("../../../wit/item-writer.wit"),
    ),
    ("wit/tasklet.wit", include_str!("../../../wit/tasklet.wit")),
    ("wit/decider.wit", include_str!("../../../wit/decider.wit")),
    (
        "wit/partitioner.wit",
        include_str!("../../../wit/partitioner.wit"),
    ),
    ("wit/worlds.wit", include_str!("../../../wit/worlds.wit")),
    (
        "python/batch_sdk/__init__.py",
        include_str!("../../../sdk/python/batch_sdk/__init__.py"),
    ),
    (
        "python/batch_sdk/context.py",
        include_str!("../../../sdk/python/batch_sdk/context.py"),
    ),
    (
        "python/batch_sdk/errors.py",
        include_str!("../../../sdk/python/batch_sdk/errors.py"),
    ),
    (
        "python/batch_sdk/exports.py",
        include_str!("../../../sdk/python/batch_sdk/exports.py"),
    ),
    (
        "python/batch_sdk/log.py",
        include_str!("../../../sdk/python/batch_sdk/log.py"),
    ),
    (
        "python/batch_sdk/roles.py",
        include_str!("../../../sdk/python/batch_sdk/roles.py"),
    ),
    (
        "js/package.json",
        include_str!("../../../sdk/js/package.json"),
    ),
    (
        "js/src/index.js",
        include_str!("../../../sdk/js/src/index.js"),
    ),
    (
        "js/src/context.js",
        include_str!("../../../sdk/js/src/context.js"),
    ),
    (
        "js/src/errors.js",
        include_str!("../../../sdk/js/src/errors.js"),
    ),
    (
        "js/src/exports.js",
        include_str!("../../../sdk/js/src/exports.js"),
    ),
    ("js/src/log.js", include_str!("../../../sdk/js/src/log.js")),
    (
        "js/src/roles.js",
        include_str!("../../../sdk/js/src/roles.js"),
    ),
];

/// The unpacked toolkit.
pub(super) struct Toolkit {
    dir: PathBuf,
}

impl Toolkit {
    /// Unpacks the toolkit under `root` (once per content: the directory is named by the
    /// digest of what it holds, and written whole before it is renamed into place).
    pub(super) fn unpack(root: &Path) -> Result<Toolkit, CliError> {
        let mut digest = Sha256::new();
        for (path, text) in FILES {
            digest.update(path.as_bytes());
            digest.update([0]);
            digest.update(text.as_bytes());
            digest.update([0]);
        }
        let id = hex::encode(&digest.finalize()[..6]);
        let dir = root.join(format!("toolkit-{id}"));
        if dir.join("componentize.sh").is_file() {
            return Ok(Toolkit { dir });
        }
        let fail = |p: &Path, e: std::io::Error| {
            CliError::invalid(format!(
                "cannot unpack the plugin toolkit into `{}`: {e}",
                p.display()
            ))
        };
        let staging = root.join(format!(".toolkit-{id}.{}", std::process::id()));
        for (path, text) in FILES {
            let file = staging.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
            }
            std::fs::write(&file, text).map_err(|e| fail(&file, e))?;
        }
        if let Err(e) = std::fs::rename(&staging, &dir) {
            // Another build unpacked the same toolkit first: use it.
            let _ = std::fs::remove_dir_all(&staging);
            if !dir.join("componentize.sh").is_file() {
                return Err(fail(&dir, e));
            }
        }
        Ok(Toolkit { dir })
    }

    /// The recipe script.
    pub(super) fn script(&self) -> PathBuf {
        self.dir.join("componentize.sh")
    }

    /// The WIT contract (`batch:plugin@0.1.0`).
    pub(super) fn wit(&self) -> PathBuf {
        self.dir.join("wit")
    }

    /// The folder holding the SDKs, `python/` and `js/`.
    pub(super) fn sdk_root(&self) -> PathBuf {
        self.dir.clone()
    }
}
