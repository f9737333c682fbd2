//! `cli` → `plugin new | build | register | list | inspect | remove`, over the tenant's
//! [`Catalogue`] (`new` and `build` live in `scaffold` and `build`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, CliResult, GlobalArgs, connect, exit};
use crate::registry::{Catalogue, PluginName, RegisterError};

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Write a new plugin project: manifest, a working example of the role, README, sample job.
    New(super::scaffold::NewCommand),
    /// Build a plugin project into a component (wasm32-wasip2), check its world, optionally register it.
    Build(super::build::BuildCommand),
    /// Validate a component, store it content-addressed, precompile it and record it by name.
    Register(RegisterCommand),
    /// List the registered plugins.
    List(ListCommand),
    /// Show one plugin: versions, digests, world, size, imports and exports.
    Inspect(InspectCommand),
    /// Remove a plugin (one version, or all of them) from the registry.
    Remove(RemoveCommand),
}

impl PluginCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        match self {
            PluginCommand::New(c) => c.execute(),
            PluginCommand::Build(c) => match c.execute()? {
                Some((file, version)) => {
                    RegisterCommand::for_file(file, version)
                        .execute(global)
                        .await
                }
                None => Ok(exit::OK),
            },
            PluginCommand::Register(c) => c.execute(global).await,
            PluginCommand::List(c) => c.execute(global).await,
            PluginCommand::Inspect(c) => c.execute(global).await,
            PluginCommand::Remove(c) => c.execute(global).await,
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
    /// Registers `file` under its file name and `version` (for `plugin build --register`).
    pub(super) fn for_file(file: PathBuf, version: String) -> Self {
        RegisterCommand {
            file,
            name: None,
            version,
        }
    }

    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        let wasm = std::fs::read(&self.file).map_err(|e| {
            CliError::invalid(format!("cannot read `{}`: {e}", self.file.display()))
        })?;
        let name = match self.name {
            Some(n) => n,
            None => self
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().replace('_', "-"))
                .unwrap_or_default(),
        };
        let valid = crate::registry::valid_label;
        if !valid(&name) || !valid(&self.version) {
            return Err(CliError::invalid(format!(
                "plugin name `{name}` / version `{}` must be 1-100 letters, digits, `.`, `_` or `-`",
                self.version
            )));
        }
        let policy = super::host_policy(global)?;
        let runtime = super::plugin_runtime(&policy, Default::default())?;
        let repo = connect(global).await?;
        let result = Catalogue::new(&repo, None)
            .register(&runtime, &wasm, &name, &self.version)
            .await;
        repo.close().await;
        let record = result.map_err(|e| match e {
            RegisterError::Invalid(e) => CliError::invalid(format!(
                "`{}` cannot be registered: {e}",
                self.file.display()
            )),
            RegisterError::Repository(e) => e.into(),
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
    async fn execute(self, global: &GlobalArgs) -> CliResult {
        let repo = connect(global).await?;
        let plugins = Catalogue::new(&repo, None).list().await;
        repo.close().await;
        let plugins = plugins?;
        if self.json {
            for p in &plugins {
                println!("{}", crate::views::plugin_json(p));
            }
            return Ok(exit::OK);
        }
        if plugins.is_empty() {
            println!("no plugins registered; add one with `batch-host plugin register FILE.wasm`");
            return Ok(exit::OK);
        }
        let mut t = super::output::table(
            &["NAME", "VERSION", "WORLD", "SIZE", "DIGEST", "REGISTERED"],
            &[3],
            &[0],
        );
        for p in &plugins {
            t.add_row(vec![
                p.name.clone(),
                p.version.clone(),
                p.world.to_string(),
                p.size.to_string(),
                p.digest[..12.min(p.digest.len())].to_owned(),
                p.registered_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]);
        }
        super::output::print_table(&t);
        Ok(exit::OK)
    }
}

/// Reads `NAME`, `NAME@VERSION` or `NAME@sha256:HEX` from the command line.
fn plugin_name(text: &str) -> Result<PluginName, CliError> {
    PluginName::parse(text).map_err(CliError::invalid)
}

/// `batch-host plugin inspect NAME[@VERSION|@sha256:HEX]`.
#[derive(Debug, Args)]
pub(super) struct InspectCommand {
    /// The plugin, optionally with a version: `csv-reader` or `csv-reader@1.2.0`.
    #[arg(value_name = "NAME[@VERSION]")]
    plugin: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl InspectCommand {
    async fn execute(self, global: &GlobalArgs) -> CliResult {
        let name = plugin_name(&self.plugin)?;
        let repo = connect(global).await?;
        let result = Catalogue::new(&repo, None).inspect(&name).await;
        repo.close().await;
        let (all, selected) = result?;
        let Some((record, wasm)) = selected else {
            return Err(not_registered(&self.plugin));
        };
        // Read from the bytes, not compiled: an 18 MB component inspects in milliseconds.
        let surface = match wasm.as_deref().map(crate::plugin::Surface::of) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                return Err(CliError::internal(format!(
                    "the stored component cannot be read: {e}"
                )));
            }
            None => {
                return Err(CliError::internal(format!(
                    "the component bytes of `{}` are missing",
                    self.plugin
                )));
            }
        };
        let producers = wasm
            .as_deref()
            .map(crate::plugin::Producers::of)
            .unwrap_or_default();
        let language = producers.summary();
        if self.json {
            println!(
                "{}",
                crate::views::inspect_json(&record, &all, &surface, &producers)
            );
            return Ok(exit::OK);
        }
        let (imports, exports) = (&surface.imports, &surface.exports);
        println!("{}@{}", record.name, record.version);
        println!("  world:         {}", record.world);
        if let Some(language) = &language {
            println!("  language:      {language}");
        }
        println!("  digest:        sha256:{}", record.digest);
        println!("  size:          {} bytes", record.size);
        println!(
            "  registered at: {}",
            record.registered_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        println!("  imports:");
        for i in imports {
            println!("    {i}");
        }
        println!("  exports:");
        for e in exports {
            println!("    {e}");
        }
        if all.len() > 1 {
            println!("  versions:");
            for p in &all {
                println!(
                    "    {:<12} sha256:{}  {}",
                    p.version,
                    &p.digest[..12.min(p.digest.len())],
                    p.registered_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
        }
        Ok(exit::OK)
    }
}

/// `batch-host plugin remove NAME[@VERSION|@sha256:HEX]`.
#[derive(Debug, Args)]
pub(super) struct RemoveCommand {
    /// The plugin: `csv-reader` removes every version, `csv-reader@1.2.0` one.
    #[arg(value_name = "NAME[@VERSION]")]
    plugin: String,
}

impl RemoveCommand {
    async fn execute(self, global: &GlobalArgs) -> CliResult {
        let name = plugin_name(&self.plugin)?;
        let repo = connect(global).await?;
        let removed = Catalogue::new(&repo, None).remove(&name).await;
        repo.close().await;
        match removed {
            Ok(0) => Err(not_registered(&self.plugin)),
            Ok(n) => {
                println!("removed {n} registration(s) of `{}`", self.plugin);
                Ok(exit::OK)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A plugin name that selects no registration.
fn not_registered(plugin: &str) -> CliError {
    CliError::invalid(format!(
        "plugin `{plugin}` is not registered; `batch-host plugin list` shows what is"
    ))
}
