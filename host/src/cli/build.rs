//! `cli` → `plugin build`: builds a plugin project into a component from any directory, checks
//! it exports the world its manifest declares, and (with `--register`) registers it.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use super::CliError;
use super::toolkit::Toolkit;

/// The toolchain recipe shared with `plugins/build.sh`: cargo for wasm32-wasip2 through
/// rustup's target, or Debian's Rust with `-Zbuild-std` where rustup has no such target.
const WASM_CARGO: &str = include_str!("../../../plugins/wasm-cargo.sh");

/// `batch-host plugin build [DIR] [--register]`: Rust (Cargo.toml), Python (pyproject.toml) or
/// JavaScript (package.json).
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
    /// The build directory (default: `plugin-build` in the host's home, shared by every
    /// project): cargo's target directory, so the standard library for wasm32-wasip2 is compiled
    /// once, and the home of the Python and JavaScript tools, installed there on first use.
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
}

/// What `cargo metadata` says about a Rust project.
struct Project {
    name: String,
    /// `[package.metadata.batch-host] role`, when the manifest declares one.
    role: Option<String>,
}

/// A component built from a project, before it is checked.
struct Built {
    name: String,
    /// The role the manifest declares, when it declares one.
    role: Option<String>,
    /// How the manifest says to select the role, for the error when the world differs.
    fix: String,
    wasm: Vec<u8>,
}

impl BuildCommand {
    /// Builds and checks the component; returns it with its version when `--register` asks
    /// for it to be registered (which `plugin` does, so this file does not depend on it).
    pub(super) fn execute(self) -> Result<Option<(PathBuf, String)>, CliError> {
        let dir = self
            .dir
            .canonicalize()
            .map_err(|e| CliError::invalid(format!("`{}`: {e}", self.dir.display())))?;
        let root = self
            .target_dir
            .clone()
            .unwrap_or_else(|| crate::config::home().join("plugin-build"));
        let built = if dir.join("Cargo.toml").is_file() {
            build_rust(&dir, &root)?
        } else if dir.join("pyproject.toml").is_file() || dir.join("package.json").is_file() {
            build_polyglot(&dir, &root)?
        } else {
            return Err(CliError::invalid(format!(
                "no Cargo.toml, pyproject.toml or package.json in `{}`. Start a project with `batch-host plugin new NAME --role processor [--lang rust|python|js]`.",
                dir.display()
            )));
        };
        // The world is read from the bytes (compiling an 18 MB Python component takes seconds;
        // `--register` compiles and links it once, with every check registration makes).
        let out = dir.join(format!("{}.wasm", built.name));
        let world = crate::plugin::Surface::of(&built.wasm)
            .and_then(|s| s.role())
            .map_err(|e| {
                CliError::invalid(format!("`{}` is not a usable plugin: {e}", out.display()))
            })?
            .world();
        if let Some(role) = &built.role
            && role != world
        {
            return Err(CliError::invalid(format!(
                "the manifest declares role `{role}` but the component exports the {world} world; {}",
                built.fix.replace("{role}", role)
            )));
        }
        std::fs::write(&out, &built.wasm)
            .map_err(|e| CliError::invalid(format!("cannot write `{}`: {e}", out.display())))?;
        println!(
            "built {} ({world} plugin, {} KiB, sha256:{})",
            out.display(),
            built.wasm.len().div_ceil(1024),
            crate::plugin::digest(&built.wasm)
        );
        if self.register {
            return Ok(Some((out, self.version)));
        }
        println!(
            "register it with: batch-host plugin register {}",
            out.display()
        );
        Ok(None)
    }
}

/// A Rust project: cargo for wasm32-wasip2 with the shared recipe.
fn build_rust(dir: &Path, target: &Path) -> Result<Built, CliError> {
    let manifest = dir.join("Cargo.toml");
    let project = metadata(&manifest)?;
    let status = Command::new("bash")
        .arg("-c")
        .arg(WASM_CARGO)
        .arg("wasm-cargo")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target)
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
    Ok(Built {
        name: project.name,
        role: project.role,
        fix: "enable the batch-sdk feature `{role}` in Cargo.toml and export the plugin with `batch_sdk::export_{role}!`".into(),
        wasm,
    })
}

/// A Python (pyproject.toml) or JavaScript (package.json) project: the componentize recipe with
/// the WIT and SDKs this binary carries; the tools are installed under `root` on first use.
fn build_polyglot(dir: &Path, root: &Path) -> Result<Built, CliError> {
    let kit = Toolkit::unpack(root)?;
    let script = |args: &[&std::ffi::OsStr]| {
        Command::new("bash")
            .arg(kit.script())
            .args(args)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| CliError::invalid(format!("cannot run bash to build the plugin: {e}")))
    };
    let manifest = script(&["manifest".as_ref(), dir.as_os_str()])?;
    let line = String::from_utf8_lossy(&manifest.stdout);
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [lang, name, role, _entry] = fields[..] else {
        return Err(CliError::invalid(format!(
            "the project manifest in `{}` could not be read (the reason is above); fix it and build again",
            dir.display()
        )));
    };
    // The recipe checked the name; it names a file beside the manifest, never a path.
    if !manifest.status.success() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(CliError::invalid(format!(
            "the project manifest in `{}` could not be used (the reason is above)",
            dir.display()
        )));
    }
    let out = dir.join(format!("{name}.wasm"));
    let status = script(&[
        "build".as_ref(),
        dir.as_os_str(),
        out.as_os_str(),
        kit.wit().as_os_str(),
        kit.sdk_root().as_os_str(),
        root.join("tools").as_os_str(),
    ])?;
    if !status.status.success() {
        return Err(CliError::invalid(format!(
            "building `{name}` failed (the messages are above); fix them and run `batch-host plugin build` again"
        )));
    }
    let wasm =
        std::fs::read(&out).map_err(|e| CliError::invalid(format!("`{}`: {e}", out.display())))?;
    let fix = if lang == "python" {
        "set `role` under [tool.batch-host] in pyproject.toml and end app.py with the matching `batch_sdk.export_{role}(...)` line"
    } else {
        "set \"batch-host\": { \"role\" } in package.json and export the matching `export{Role}(...)` objects"
    };
    Ok(Built {
        name: name.to_owned(),
        role: Some(role.to_owned()),
        fix: fix.into(),
        wasm,
    })
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
