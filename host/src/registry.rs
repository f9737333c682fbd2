//! The plugin registry: validate a component, store it content-addressed, precompile it.
//!
//! Used by `batch-host plugin register` and by anything else that registers components.

use crate::domain::now;
use crate::plugin::{Compiled, InvalidPlugin, PluginRuntime, digest};
use crate::repository::{JobRepository, PluginRecord, RepositoryError, StoredArtifact};

/// Why a component could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The file is not a usable plugin component.
    #[error(transparent)]
    Invalid(#[from] InvalidPlugin),
    /// The repository failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Validates `wasm` (a component exporting exactly one `batch:plugin` world), stores its bytes
/// by sha256, stores the precompiled artifact for this engine, and records `name@version`.
pub async fn register<R: JobRepository>(
    repo: &R,
    runtime: &PluginRuntime,
    wasm: &[u8],
    name: &str,
    version: &str,
) -> Result<PluginRecord, RegisterError> {
    let compiled = runtime.compile(wasm)?;
    let record = PluginRecord {
        name: name.to_owned(),
        version: version.to_owned(),
        digest: digest(wasm),
        world: compiled.role.world().to_owned(),
        size: wasm.len() as i64,
        registered_at: now(),
    };
    repo.register_plugin(&record, wasm).await?;
    repo.put_plugin_artifact(&record.digest, runtime.engine_hash(), &stored(&compiled))
        .await?;
    Ok(record)
}

/// A freshly compiled artifact as the repository keeps it.
pub(crate) fn stored(compiled: &Compiled) -> StoredArtifact {
    StoredArtifact {
        artifact: compiled.artifact.clone(),
        world: compiled.role.world().to_owned(),
        seal: compiled.seal.clone(),
    }
}
