//! `plan` → resolve: finds each plugin a job names (path, the tenant's registry, then the
//! shared catalogue) and prepares it: its precompiled artifact when its seal verifies, else a
//! fresh compilation that is cached back into the registry (the one write planning makes).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use super::PluginPlan;
use super::diagnostics::Collector;
use crate::plugin::{PluginRuntime, Prepared, Role, digest};
use crate::registry::{Catalogue, Origin, PluginName, Selector};
use crate::repository::{PluginStore, RepositoryError};
use crate::spec::{PluginRef, Spanned, location};

pub(super) struct Resolver<'a, R> {
    pub(super) repo: &'a R,
    /// The shared plugin catalogue, searched after the tenant's own registry.
    pub(super) catalogue: Option<&'a R>,
    pub(super) runtime: &'a PluginRuntime,
    pub(super) base: &'a Path,
    /// Refuse `path:` plugins (`batch-host serve`: tenants run registered plugins only).
    pub(super) registered_only: bool,
    /// Components already prepared in this plan, by digest.
    pub(super) cache: HashMap<String, Prepared>,
}

impl<R: PluginStore> Resolver<'_, R> {
    pub(super) async fn resolve(
        &mut self,
        r: &Spanned<PluginRef>,
        role: Role,
        field: String,
        c: &mut Collector<'_>,
    ) -> Result<Option<PluginPlan>, RepositoryError> {
        let at = location(r);
        let spec = &r.value;
        let config = spec
            .config
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        if !config.is_object() {
            c.push(
                at,
                format!("{field}.config"),
                "`config` must be a map".into(),
                None,
            );
        }
        if let (Some(n), true) = (&spec.concurrency, role != Role::Processor) {
            c.push(
                location(n),
                format!("{field}.concurrency"),
                format!("a {} cannot run concurrently", role.world()),
                Some("only a chunk step's processor takes `concurrency`".into()),
            );
        }
        let (label, digest, wasm, at) = match (&spec.plugin, &spec.path) {
            _ if spec.builtin.is_some() => {
                c.push(
                    at,
                    field,
                    format!(
                        "the built-in readers cannot be used as the {}",
                        role.world()
                    ),
                    Some(format!(
                        "use `{}: {{ plugin: NAME }}` or `path: FILE.wasm`",
                        role.world()
                    )),
                );
                return Ok(None);
            }
            (Some(_), Some(_)) | (None, None) => {
                c.push(
                    at,
                    field,
                    "give exactly one of `plugin` (a registered name) or `path` (a .wasm file)"
                        .into(),
                    Some(format!(
                        "for example `{}: {{ plugin: NAME }}`",
                        role.world()
                    )),
                );
                return Ok(None);
            }
            (Some(name), None) => {
                let at = location(name);
                let wanted = match PluginName::parse(&name.value) {
                    Ok(wanted) => wanted,
                    Err(e) => {
                        c.push(at, format!("{field}.plugin"), e.to_string(), None);
                        return Ok(None);
                    }
                };
                let (n, version) = (wanted.name.as_str(), wanted.version());
                // The tenant's own registry first, then the shared catalogue.
                let found = Catalogue::new(self.repo, self.catalogue)
                    .resolve(&wanted)
                    .await?;
                let Some((record, origin)) = found else {
                    let known: BTreeMap<String, String> = self
                        .repo
                        .list_plugins()
                        .await?
                        .into_iter()
                        .map(|p| (p.name, p.world))
                        .collect();
                    let known = if known.is_empty() {
                        "none are registered yet".to_owned()
                    } else {
                        format!(
                            "registered: {}",
                            known
                                .iter()
                                .map(|(n, w)| format!("{n} ({w})"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    let what = match (&wanted.selector, version) {
                        (_, Some(v)) => format!("plugin `{n}` version `{v}` is not registered"),
                        (Selector::Digest(hex), _) => {
                            format!("plugin `{n}` with digest sha256:{hex}… is not registered")
                        }
                        _ => format!("plugin `{n}` is not registered"),
                    };
                    c.push(
                        at,
                        format!("{field}.plugin"),
                        what,
                        Some(format!(
                            "register it with `batch-host plugin register FILE.wasm --name {n}`, or use `path: FILE.wasm`; {known}"
                        )),
                    );
                    return Ok(None);
                };
                let label = format!("{}@{}", record.name, record.version);
                if origin == Origin::Shared {
                    // Compiled into this tenant's artifact cache on first use.
                    let wasm = match self.catalogue {
                        Some(catalogue) => catalogue.plugin_wasm(&record.digest).await?,
                        None => None,
                    };
                    (format!("{label} (shared)"), record.digest, wasm, at)
                } else {
                    (label, record.digest, None, at)
                }
            }
            (None, Some(path)) if self.registered_only => {
                c.push(
                    location(path),
                    format!("{field}.path"),
                    "plugins given by `path:` cannot run here: the server runs registered plugins only".to_owned(),
                    Some("upload the component (`POST /api/v1/plugins?name=NAME`) and name it with `plugin: NAME`".into()),
                );
                return Ok(None);
            }
            (None, Some(path)) => {
                let at = location(path);
                let full = self.base.join(&path.value);
                match std::fs::read(&full) {
                    Ok(bytes) => (
                        format!("path {}", path.value),
                        digest(&bytes),
                        Some(bytes),
                        at,
                    ),
                    Err(e) => {
                        c.push(
                            at,
                            format!("{field}.path"),
                            format!("cannot read component `{}`: {e}", full.display()),
                            Some("paths are relative to the folder of job.yaml".into()),
                        );
                        return Ok(None);
                    }
                }
            }
        };
        let prepared = match self.prepare(&digest, wasm).await? {
            Ok(p) => p,
            Err(message) => {
                c.push(at, field, format!("{label}: {message}"), None);
                return Ok(None);
            }
        };
        if prepared.role() != role {
            c.push(
                at,
                field,
                format!(
                    "{label} is a {} plugin, but is used as the {}",
                    prepared.role(),
                    role.world()
                ),
                Some(format!(
                    "use a component that exports the `{}` world here",
                    role.world()
                )),
            );
            return Ok(None);
        }
        Ok(Some(PluginPlan {
            label,
            digest,
            prepared,
            config,
        }))
    }

    /// Loads the host's own precompiled artifact for `digest`, or compiles the component and
    /// stores the artifact for next time. `Ok(Err(_))` is a problem with the component itself.
    pub(super) async fn prepare(
        &mut self,
        digest: &str,
        wasm: Option<Vec<u8>>,
    ) -> Result<Result<Prepared, String>, RepositoryError> {
        if let Some(p) = self.cache.get(digest) {
            return Ok(Ok(p.clone()));
        }
        let engine = self.runtime.engine_hash().to_owned();
        if let Some(stored) = self.repo.plugin_artifact(digest, &engine).await?
            && let Some(role) = Role::from_world(&stored.world)
        {
            match self
                .runtime
                .load(digest, &stored.artifact, &stored.seal, role)
            {
                Ok(p) => {
                    self.cache.insert(digest.to_owned(), p.clone());
                    return Ok(Ok(p));
                }
                Err(e) => tracing::warn!(
                    component = digest,
                    "{e}; compiling the component again and replacing the stored code"
                ),
            }
        }
        let wasm = match wasm {
            Some(w) => w,
            None => match self.repo.plugin_wasm(digest).await? {
                Some(w) => w,
                None => {
                    return Ok(Err(format!(
                        "component {digest} is missing from the registry"
                    )));
                }
            },
        };
        if crate::plugin::digest(&wasm) != digest {
            return Ok(Err(format!(
                "the registry's bytes of component {digest} do not have that sha256; register the component again"
            )));
        }
        match self.runtime.compile(&wasm) {
            Ok(compiled) => {
                self.repo
                    .put_plugin_artifact(digest, &engine, &crate::registry::stored(&compiled))
                    .await?;
                self.cache
                    .insert(digest.to_owned(), compiled.prepared.clone());
                Ok(Ok(compiled.prepared))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }
}
