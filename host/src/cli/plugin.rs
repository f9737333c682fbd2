use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{GlobalArgs, connect, exit};
use crate::plugin::PluginRuntime;
use crate::registry::{self, RegisterError};
use crate::repository::JobRepository;

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Validate a component, store it content-addressed, precompile it and record it by name.
    Register(RegisterCommand),
    /// List the registered plugins.
    List(ListCommand),
}

impl PluginCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> u8 {
        let r = match self {
            PluginCommand::Register(c) => c.execute(global).await,
            PluginCommand::List(c) => c.execute(global).await,
        };
        match r {
            Ok(c) | Err(c) => c,
        }
    }
}

/// `batch-host plugin register FILE.wasm`.
#[derive(Debug, Args)]
pub(super) struct RegisterCommand {
    /// The component file (built for wasm32-wasip2 with batch-sdk).
    #[arg(value_name = "FILE.wasm")]
    file: PathBuf,
    /// The registry name (default: the file name without `.wasm`, `_` turned into `-`).
    #[arg(long)]
    name: Option<String>,
    /// The version label (default `0.1.0`). Registering a name and version again replaces it.
    #[arg(long, default_value = "0.1.0")]
    version: String,
}

impl RegisterCommand {
    async fn execute(self, global: &GlobalArgs) -> Result<u8, u8> {
        let wasm = std::fs::read(&self.file).map_err(|e| {
            eprintln!("error: cannot read `{}`: {e}", self.file.display());
            exit::INVALID_INPUT
        })?;
        let name = match self.name {
            Some(n) => n,
            None => self
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().replace('_', "-"))
                .unwrap_or_default(),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if !valid(&name) || !valid(&self.version) {
            eprintln!(
                "error: plugin name `{name}` / version `{}` must be 1-100 letters, digits, `.`, `_` or `-`",
                self.version
            );
            return Err(exit::INVALID_INPUT);
        }
        let runtime = PluginRuntime::new().map_err(|e| {
            eprintln!("error: cannot start the WebAssembly runtime: {e:#}");
            exit::INTERNAL
        })?;
        let repo = connect(global).await?;
        let result = registry::register(&repo, &runtime, &wasm, &name, &self.version).await;
        repo.close().await;
        let record = result.map_err(|e| match e {
            RegisterError::Invalid(e) => {
                eprintln!("error: `{}` cannot be registered: {e}", self.file.display());
                exit::INVALID_INPUT
            }
            RegisterError::Repository(e) => {
                eprintln!("error: {e}");
                exit::INTERNAL
            }
        })?;
        println!(
            "registered {}@{} ({} plugin, {} bytes, sha256:{})",
            record.name, record.version, record.world, record.size, record.digest
        );
        Ok(exit::OK)
    }
}

/// `batch-host plugin list`.
#[derive(Debug, Args)]
pub(super) struct ListCommand {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

impl ListCommand {
    async fn execute(self, global: &GlobalArgs) -> Result<u8, u8> {
        let repo = connect(global).await?;
        let plugins = repo.list_plugins().await;
        repo.close().await;
        let plugins = plugins.map_err(|e| {
            eprintln!("error: {e}");
            exit::INTERNAL
        })?;
        if self.json {
            for p in &plugins {
                let line = serde_json::json!({
                    "name": p.name, "version": p.version, "world": p.world, "digest": p.digest,
                    "size": p.size, "registered_at": p.registered_at.to_rfc3339(),
                });
                println!("{line}");
            }
            return Ok(exit::OK);
        }
        if plugins.is_empty() {
            println!("no plugins registered; add one with `batch-host plugin register FILE.wasm`");
            return Ok(exit::OK);
        }
        println!(
            "{:<24} {:<10} {:<10} {:>10}  {:<14} REGISTERED",
            "NAME", "VERSION", "WORLD", "SIZE", "DIGEST"
        );
        for p in &plugins {
            println!(
                "{:<24} {:<10} {:<10} {:>10}  {:<14} {}",
                p.name,
                p.version,
                p.world,
                p.size,
                &p.digest[..12.min(p.digest.len())],
                p.registered_at.format("%Y-%m-%d %H:%M:%S")
            );
        }
        Ok(exit::OK)
    }
}
