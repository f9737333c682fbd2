//! `registry`: the plugin catalogue — a tenant's own registrations, then the shared catalogue.
//! Register (validate a component, store it content-addressed, precompile and seal it),
//! resolve a [`PluginName`], list, inspect and remove. The CLI's `plugin` commands and the
//! planner's resolver both go through [`Catalogue`].

mod name;

pub use name::{MIN_DIGEST_PREFIX, NameError, PluginName, Selector};

use crate::domain::now;
use crate::plugin::{Compiled, InvalidPlugin, PluginRuntime, digest};
use crate::repository::{
    PluginRecord, PluginStore, RepositoryError, SqlRepository, StoredArtifact,
};

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
pub async fn register<R: PluginStore>(
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

/// True when `s` can be a plugin name or version: 1-100 letters, digits, `.`, `_` or `-`.
pub fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A freshly compiled artifact as the repository keeps it.
pub(crate) fn stored(compiled: &Compiled) -> StoredArtifact {
    StoredArtifact {
        artifact: compiled.artifact.clone(),
        world: compiled.role.world().to_owned(),
        seal: compiled.seal.clone(),
    }
}

/// Opens the shared catalogue the jobs of `tenant` may use, in the repository at `url`: `None`
/// for the shared tenant itself, or when no plugin was ever shared (it is never created here).
pub async fn shared_catalogue(
    url: &str,
    tenant: &str,
) -> Result<Option<SqlRepository>, RepositoryError> {
    if tenant == crate::config::SHARED_TENANT {
        return Ok(None);
    }
    SqlRepository::connect_existing_tenant(url, crate::config::SHARED_TENANT).await
}

/// Where a resolved plugin was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The tenant's own registry.
    Own,
    /// The shared catalogue every tenant can use.
    Shared,
}

/// One tenant's view of the plugins: its own registry, then (for lookups) the shared catalogue.
#[derive(Debug)]
pub struct Catalogue<'a, S> {
    own: &'a S,
    shared: Option<&'a S>,
}

impl<'a, S: PluginStore> Catalogue<'a, S> {
    /// The catalogue of a tenant whose registry is `own`, with the shared one if there is one.
    pub fn new(own: &'a S, shared: Option<&'a S>) -> Self {
        Catalogue { own, shared }
    }

    /// The tenant's own registry.
    pub fn own(&self) -> &'a S {
        self.own
    }

    /// Registers `wasm` as `name@version` in the tenant's own registry.
    pub async fn register(
        &self,
        runtime: &PluginRuntime,
        wasm: &[u8],
        name: &str,
        version: &str,
    ) -> Result<PluginRecord, RegisterError> {
        register(self.own, runtime, wasm, name, version).await
    }

    /// The registration `name` selects: the tenant's own first, then the shared catalogue's.
    pub async fn resolve(
        &self,
        name: &PluginName,
    ) -> Result<Option<(PluginRecord, Origin)>, RepositoryError> {
        if let Some(r) = find(self.own, name).await? {
            return Ok(Some((r, Origin::Own)));
        }
        if let Some(shared) = self.shared
            && let Some(r) = find(shared, name).await?
        {
            return Ok(Some((r, Origin::Shared)));
        }
        Ok(None)
    }

    /// Every registration of the tenant's own registry, by name then registration time.
    pub async fn list(&self) -> Result<Vec<PluginRecord>, RepositoryError> {
        self.own.list_plugins().await
    }

    /// Every version of `name.name` in the tenant's own registry, and the component bytes of
    /// the one `name` selects (`None` when it selects none).
    pub async fn inspect(
        &self,
        name: &PluginName,
    ) -> Result<(Vec<PluginRecord>, Option<(PluginRecord, Option<Vec<u8>>)>), RepositoryError> {
        let all: Vec<_> = self
            .own
            .list_plugins()
            .await?
            .into_iter()
            .filter(|p| p.name == name.name)
            .collect();
        let selected = match all.iter().rev().find(|p| selects(name, p)) {
            Some(p) => Some((p.clone(), self.own.plugin_wasm(&p.digest).await?)),
            None => None,
        };
        Ok((all, selected))
    }

    /// Removes the registrations `name` selects from the tenant's own registry (every version
    /// for a bare name); returns how many were removed.
    pub async fn remove(&self, name: &PluginName) -> Result<u64, RepositoryError> {
        match &name.selector {
            Selector::Latest => self.own.remove_plugin(&name.name, None).await,
            Selector::Version(v) => self.own.remove_plugin(&name.name, Some(v)).await,
            Selector::Digest(_) => {
                let mut removed = 0;
                let matching: Vec<_> = self
                    .own
                    .list_plugins()
                    .await?
                    .into_iter()
                    .filter(|p| selects(name, p))
                    .collect();
                for p in matching {
                    removed += self.own.remove_plugin(&p.name, Some(&p.version)).await?;
                }
                Ok(removed)
            }
        }
    }
}

/// True when `record` is a registration `name` selects (any version for [`Selector::Latest`]).
fn selects(name: &PluginName, record: &PluginRecord) -> bool {
    record.name == name.name
        && match &name.selector {
            Selector::Latest => true,
            Selector::Version(v) => &record.version == v,
            Selector::Digest(hex) => record.digest.starts_with(hex.as_str()),
        }
}

/// The registration `name` selects in one registry (the most recent one that matches).
async fn find<S: PluginStore>(
    store: &S,
    name: &PluginName,
) -> Result<Option<PluginRecord>, RepositoryError> {
    match &name.selector {
        Selector::Digest(_) => Ok(store
            .list_plugins()
            .await?
            .into_iter()
            .rev()
            .find(|p| selects(name, p))),
        selector => {
            let version = match selector {
                Selector::Version(v) => Some(v.as_str()),
                _ => None,
            };
            store.find_plugin(&name.name, version).await
        }
    }
}
