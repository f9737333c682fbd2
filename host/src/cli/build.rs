//! `cli` → `plugin build`: builds a plugin project into a component from any directory, checks
//! it exports the world its manifest declares, and (with `--register`) registers it.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use super::plugin::RegisterCommand;
use super::{CliError, CliResult, GlobalArgs, exit};

/// The toolchain recipe shared with `plugins/build.sh`: cargo for wasm32-wasip2 through
/// rustup's target, or Debian's Rust with `-Zbuild-std` where rustup has no such target.
const WASM_CARGO: &str = include_str!("../../../plugins/wasm-cargo.sh");

/// `batch-host plugin build [DIR] [--register]`.
#[derive(Debug, Args)]
pub(super) struct BuildCommand {
    /// The plugin project (default: the current directory).
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Register the component once it is built.
    #[arg(long)]
    register: bool,
    /// The version label to register it under.
    #[arg(long, default_value = "0.1.0", requires = "register")]
    version: String,
    /// Cargo's target directory (default: `plugin-build` in the host's home, shared by every
    /// project so the standard library for wasm32-wasip2 is compiled once).
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
}

/// What `cargo metadata` says about the project.
struct Project {
    name: String,
    /// `[package.metadata.batch-host] role`, when the manifest declares one.
    role: Option<String>,
}

impl BuildCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        let dir = self
            .dir
            .canonicalize()
            .map_err(|e| CliError::invalid(format!("`{}`: {e}", self.dir.display())))?;
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            let other = if dir.join("pyproject.toml").is_file() || dir.join("app.py").is_file() {
                " It looks like a Python project: this batch-host builds Rust projects only; build it with componentize-py (docs/plugins.md)."
            } else if dir.join("package.json").is_file() {
                " It looks like a JavaScript project: this batch-host builds Rust projects only; build it with componentize-js (docs/plugins.md)."
            } else {
                " Start one with `batch-host plugin new NAME --role processor`."
            };
            return Err(CliError::invalid(format!(
                "no Cargo.toml in `{}`.{other}",
                dir.display()
            )));
        }
        let project = metadata(&manifest)?;
        let target = self
            .target_dir
            .clone()
            .unwrap_or_else(|| crate::config::home().join("plugin-build"));
        let status = Command::new("bash")
            .arg("-c")
            .arg(WASM_CARGO)
            .arg("wasm-cargo")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .status()
            .map_err(|e| CliError::invalid(format!("cannot run bash to build the plugin: {e}")))?;
        if !status.success() {
            return Err(CliError::invalid(format!(
                "building `{}` failed (cargo's messages are above); fix them and run `batch-host plugin build` again",
                project.name
            )));
        }
        let file = project.name.replace('-', "_");
        let built = target
            .join("wasm32-wasip2/release")
            .join(format!("{file}.wasm"));
        let wasm = std::fs::read(&built).map_err(|e| {
            CliError::invalid(format!(
                "cargo finished but `{}` is missing ({e}); is the crate a `cdylib` (`[lib] crate-type = [\"cdylib\"]`)?",
                built.display()
            ))
        })?;
        let policy = super::host_policy(global)?;
        let runtime = super::plugin_runtime(&policy, Default::default())?;
        let compiled = runtime.compile(&wasm).map_err(|e| {
            CliError::invalid(format!("`{}` is not a usable plugin: {e}", built.display()))
        })?;
        let world = compiled.role.world();
        if let Some(role) = &project.role
            && role != world
        {
            return Err(CliError::invalid(format!(
                "Cargo.toml declares role `{role}` ([package.metadata.batch-host]) but the component exports the {world} world; enable the batch-sdk feature `{role}` and export it with `batch_sdk::export_{role}!`"
            )));
        }
        let out = dir.join(format!("{}.wasm", project.name));
        std::fs::write(&out, &wasm)
            .map_err(|e| CliError::invalid(format!("cannot write `{}`: {e}", out.display())))?;
        println!(
            "built {} ({world} plugin, {} KiB, sha256:{})",
            out.display(),
            wasm.len().div_ceil(1024),
            crate::plugin::digest(&wasm)
        );
        if self.register {
            return RegisterCommand::for_file(out, self.version)
                .execute(global)
                .await;
        }
        println!(
            "register it with: batch-host plugin register {}",
            out.display()
        );
        Ok(exit::OK)
    }
}

/// The package name and declared role, from `cargo metadata` (no TOML parsing of our own).
fn metadata(manifest: &Path) -> Result<Project, CliError> {
    let out = Command::new("cargo")
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|e| {
            CliError::invalid(format!(
                "cannot run cargo ({e}); install Rust with rustup (https://rustup.rs)"
            ))
        })?;
    if !out.status.success() {
        return Err(CliError::invalid(format!(
            "`{}` is not a valid Cargo manifest: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| CliError::invalid(format!("cargo metadata: {e}")))?;
    let package = meta["packages"]
        .as_array()
        .and_then(|p| p.first())
        .ok_or_else(|| CliError::invalid(format!("`{}` has no package", manifest.display())))?;
    Ok(Project {
        name: package["name"].as_str().unwrap_or_default().to_owned(),
        role: package["metadata"]["batch-host"]["role"]
            .as_str()
            .map(str::to_owned),
    })
}
