//! The host's own configuration (`--config FILE`, `BATCH_HOST_CONFIG`): sandbox defaults and
//! ceilings for every job, and per-tenant quotas.
//!
//! ```yaml
//! limits:
//!   defaults: { cpu-per-call: 60s, memory: 256MiB, max-item-size: 16MiB }
//!   ceilings: { cpu-per-call: 10m, memory: 4GiB, max-item-size: 1GiB, fuel-per-item: 10G }
//! tenants:
//!   acme:
//!     max-concurrent-executions: 2
//!     max-memory: 2GiB      # linear memory its running executions may reserve together
//!     max-cpus: 4           # guest calls its running executions may make at once
//!     ceilings: { cpu-per-call: 5s, memory: 128MiB }
//! artifact-key-file: /etc/batch-host/artifact.key   # default: in the host's home directory
//! durability: power-loss   # default process-crash; a job's own `durability` wins
//! ```
//!
//! Also the host's home directory ([`home`]): where the default repository and the artifact key
//! live, outside every directory a job grants its plugins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::plugin::Limits;
use crate::spec::{
    Diagnostic, LimitsSpec, Spanned, location, parse_count, parse_duration, parse_size, show_size,
};

/// The tenant every command uses unless `--tenant` says otherwise.
pub const DEFAULT_TENANT: &str = "default";

/// The tenant whose plugin registry is the shared catalogue: every other tenant's jobs find a
/// plugin there when their own registry does not have it.
pub const SHARED_TENANT: &str = "shared";

/// What the host allows, for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    /// The tenant.
    pub tenant: String,
    /// Limits a step gets when its job.yaml sets none.
    pub defaults: Limits,
    /// Limits no job of this tenant may exceed.
    pub ceilings: Limits,
    /// How many executions of this tenant may run at once.
    pub max_concurrent_executions: Option<u32>,
    /// How much linear memory the tenant's running executions may reserve together, in bytes.
    pub max_memory: Option<usize>,
    /// How many guest calls the tenant's running executions may make at once.
    pub max_cpus: Option<u32>,
    /// The key that seals precompiled plugin code (created on first use).
    pub artifact_key_file: PathBuf,
    /// What a committed chunk survives when job.yaml does not say.
    pub durability: crate::domain::Durability,
    /// The host configuration lists the tenant under `tenants:`, which creates its repository
    /// on first use (as `batch-host tenant create` does).
    pub declared: bool,
}

/// The host's home directory: `BATCH_HOST_HOME`, else `$XDG_DATA_HOME/batch-host`, else
/// `~/.local/share/batch-host`. The default repository (`batch-host.db`) and the artifact key
/// (`artifact.key`) live here — never in a job's work directory, which plugins can see.
pub fn home() -> PathBuf {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("BATCH_HOST_HOME") {
        return dir;
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return data.join("batch-host");
    }
    match var("HOME") {
        Some(home) => home.join(".local/share/batch-host"),
        None => PathBuf::from("/var/lib/batch-host"),
    }
}

/// The repository used when none is given: `sqlite:<home>/batch-host.db`.
pub fn default_repository() -> String {
    format!("sqlite:{}", home().join("batch-host.db").display())
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy {
            tenant: DEFAULT_TENANT.into(),
            defaults: Limits::default(),
            ceilings: Limits::ceilings(),
            max_concurrent_executions: None,
            max_memory: None,
            max_cpus: None,
            artifact_key_file: home().join("artifact.key"),
            durability: crate::domain::Durability::default(),
            declared: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostConfigSpec {
    #[serde(default)]
    limits: Option<LimitsConfigSpec>,
    #[serde(default)]
    tenants: BTreeMap<String, Spanned<TenantSpec>>,
    #[serde(default, rename = "artifact-key-file")]
    artifact_key_file: Option<String>,
    #[serde(default)]
    durability: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsConfigSpec {
    #[serde(default)]
    defaults: Option<Spanned<LimitsSpec>>,
    #[serde(default)]
    ceilings: Option<Spanned<LimitsSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TenantSpec {
    #[serde(default)]
    max_concurrent_executions: Option<u32>,
    #[serde(default)]
    max_memory: Option<Spanned<String>>,
    #[serde(default)]
    max_cpus: Option<Spanned<u32>>,
    #[serde(default)]
    ceilings: Option<Spanned<LimitsSpec>>,
}

/// A valid tenant name: 1-40 of `a-z 0-9 -`, starting with a letter.
pub fn valid_tenant(name: &str) -> bool {
    name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A problem with one field of a `limits` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LimitProblem {
    /// The field (`memory`, `cpu-per-call`, …).
    pub(crate) field: &'static str,
    /// What is wrong.
    pub(crate) message: String,
    /// How to fix it.
    pub(crate) hint: String,
}

/// The ceilings a `limits` section must stay under, and whose they are (for messages).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ceilings<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) whose: &'a str,
}

/// Applies the fields of `spec` onto `limits`, the one reading of a `limits` section (a job's or
/// the host configuration's defaults and ceilings). Problems come back in field order.
pub(crate) fn resolve_limits(
    spec: &LimitsSpec,
    mut limits: Limits,
    ceiling: Option<Ceilings<'_>>,
) -> (Limits, Vec<LimitProblem>) {
    let mut problems = Vec::new();
    let over = |text: &str, max: String| {
        let whose = ceiling.map_or("this host", |c| c.whose);
        (
            format!("`{text}` exceeds the ceiling of {max} for {whose}"),
            "the host configuration sets the ceilings (docs/security.md); lower the limit or ask the operator".to_owned(),
        )
    };
    let bad = |text: &str, what: &str, example: &str| {
        (
            format!("`{text}` is not a {what}"),
            format!("write e.g. {example}"),
        )
    };
    let max = |pick: fn(&Limits) -> Option<u128>| ceiling.and_then(|c| pick(c.limits));
    let mut push = |field, problem: Option<(String, String)>| {
        if let Some((message, hint)) = problem {
            problems.push(LimitProblem {
                field,
                message,
                hint,
            });
        }
    };
    for (name, value, slot, cap) in [
        (
            "cpu-per-call",
            &spec.cpu_per_call,
            &mut limits.cpu_per_call,
            max(|l| Some(l.cpu_per_call.as_nanos())),
        ),
        (
            "wall-per-call",
            &spec.wall_per_call,
            &mut limits.wall_per_call,
            max(|l| Some(l.wall_per_call.as_nanos())),
        ),
    ] {
        if let Some(text) = value {
            push(
                name,
                match parse_duration(text) {
                    Some(d) if cap.is_some_and(|m| d.as_nanos() > m) => Some(over(
                        text,
                        format!("{:?}", Duration::from_nanos(cap.unwrap_or(0) as u64)),
                    )),
                    Some(d) if d >= Duration::from_millis(10) => {
                        *slot = d;
                        None
                    }
                    _ => Some(bad(
                        text,
                        "duration",
                        "`250ms`, `2s` or `1m` (at least 10ms)",
                    )),
                },
            );
        }
    }
    for (name, value, slot, cap) in [
        (
            "memory",
            &spec.memory,
            &mut limits.memory,
            max(|l| Some(l.memory as u128)),
        ),
        (
            "max-item-size",
            &spec.max_item_size,
            &mut limits.max_item_size,
            max(|l| Some(l.max_item_size as u128)),
        ),
        (
            "max-context-size",
            &spec.max_context_size,
            &mut limits.max_context_size,
            max(|l| Some(l.max_context_size as u128)),
        ),
    ] {
        if let Some(text) = value {
            push(
                name,
                match parse_size(text) {
                    Some(n) if cap.is_some_and(|m| n as u128 > m) => {
                        Some(over(text, show_size(cap.unwrap_or(0) as usize)))
                    }
                    Some(n) if n > 0 => {
                        *slot = n;
                        None
                    }
                    _ => Some(bad(text, "size", "`64MiB` or `1GiB`")),
                },
            );
        }
    }
    if let Some(text) = &spec.fuel_per_item {
        let cap = max(|l| l.fuel_per_item.map(u128::from));
        push(
            "fuel-per-item",
            match parse_count(text) {
                Some(n) if cap.is_some_and(|m| u128::from(n) > m) => {
                    Some(over(text, cap.unwrap_or(0).to_string()))
                }
                Some(n) if n > 0 => {
                    limits.fuel_per_item = Some(n);
                    None
                }
                _ => Some(bad(text, "count", "`50M` or `2G`")),
            },
        );
    }
    (limits, problems)
}

/// Applies the fields of `spec` onto `limits`; problems go to `errors`.
fn apply(
    spec: &Spanned<LimitsSpec>,
    limits: &mut Limits,
    field: &str,
    file: &Path,
    errors: &mut Vec<Diagnostic>,
) {
    let (line, column) = location(spec);
    let (resolved, problems) = resolve_limits(&spec.value, *limits, None);
    *limits = resolved;
    errors.extend(problems.into_iter().map(|p| Diagnostic {
        file: file.to_path_buf(),
        line,
        column,
        field: format!("{field}.{}", p.field),
        message: p.message,
        hint: Some(p.hint),
    }));
}

/// Reads the host configuration at `path` and returns the policy of `tenant`.
pub fn load(path: Option<&Path>, tenant: &str) -> Result<HostPolicy, Vec<Diagnostic>> {
    let diag =
        |file: &Path, line, column, field: &str, message: String, hint: Option<&str>| Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            field: field.to_owned(),
            message,
            hint: hint.map(str::to_owned),
        };
    let mut policy = HostPolicy {
        tenant: tenant.to_owned(),
        ..HostPolicy::default()
    };
    let Some(path) = path else {
        return Ok(policy);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![diag(
            path,
            0,
            0,
            "",
            format!("cannot read the host configuration: {e}"),
            None,
        )]
    })?;
    let spec: HostConfigSpec = serde_saphyr::from_str(&text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = e.to_string().lines().next().unwrap_or_default().to_owned();
        vec![diag(
            path,
            line,
            column,
            "",
            message,
            Some("docs/security.md describes the host configuration"),
        )]
    })?;
    let mut errors = Vec::new();
    if let Some(limits) = &spec.limits {
        if let Some(c) = &limits.ceilings {
            apply(
                c,
                &mut policy.ceilings,
                "limits.ceilings",
                path,
                &mut errors,
            );
        }
        if let Some(d) = &limits.defaults {
            apply(
                d,
                &mut policy.defaults,
                "limits.defaults",
                path,
                &mut errors,
            );
        }
    }
    for (name, t) in &spec.tenants {
        if !valid_tenant(name) {
            let (line, column) = location(t);
            errors.push(diag(
                path,
                line,
                column,
                &format!("tenants.{name}"),
                format!("`{name}` is not a valid tenant name"),
                Some("use 1-40 of a-z, 0-9 and `-`, starting with a letter"),
            ));
        }
    }
    policy.declared = spec.tenants.contains_key(tenant);
    if let Some(t) = spec.tenants.get(tenant) {
        policy.max_concurrent_executions = t.value.max_concurrent_executions;
        if let Some(m) = &t.value.max_memory {
            match parse_size(&m.value) {
                Some(n) if n > 0 => policy.max_memory = Some(n),
                _ => {
                    let (line, column) = location(m);
                    errors.push(diag(
                        path,
                        line,
                        column,
                        &format!("tenants.{tenant}.max-memory"),
                        format!("`{}` is not a size", m.value),
                        Some("write a size such as 512MiB or 4GiB"),
                    ));
                }
            }
        }
        if let Some(c) = &t.value.max_cpus {
            match c.value {
                0 => {
                    let (line, column) = location(c);
                    errors.push(diag(
                        path,
                        line,
                        column,
                        &format!("tenants.{tenant}.max-cpus"),
                        "max-cpus must be at least 1".to_owned(),
                        Some("leave it out for no limit"),
                    ));
                }
                n => policy.max_cpus = Some(n),
            }
        }
        if let Some(c) = &t.value.ceilings {
            let mut own = policy.ceilings;
            apply(
                c,
                &mut own,
                &format!("tenants.{tenant}.ceilings"),
                path,
                &mut errors,
            );
            policy.ceilings = policy.ceilings.min(own);
        }
    }
    if let Some(d) = &spec.durability {
        match crate::domain::Durability::parse(&d.value) {
            Some(level) => policy.durability = level,
            None => {
                let (line, column) = location(d);
                errors.push(diag(
                    path,
                    line,
                    column,
                    "durability",
                    format!("unknown durability `{}`", d.value),
                    Some("use `process-crash` or `power-loss`"),
                ));
            }
        }
    }
    if let Some(key) = &spec.artifact_key_file {
        // Relative to the configuration file, like every path an operator writes there.
        policy.artifact_key_file = path.parent().unwrap_or(Path::new("")).join(key);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    policy.defaults = policy.defaults.min(policy.ceilings);
    if policy.defaults.wall_per_call < policy.defaults.cpu_per_call {
        // Room on the wall clock for the compute a call may use.
        policy.defaults.wall_per_call = policy
            .defaults
            .cpu_per_call
            .min(policy.ceilings.wall_per_call);
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ceilings_tighten_host_ceilings_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("host.yaml");
        std::fs::write(
            &file,
            "limits:\n  defaults: { memory: 256MiB }\n  ceilings: { cpu-per-call: 30s }\ntenants:\n  acme:\n    max-concurrent-executions: 2\n    ceilings: { memory: 64MiB, cpu-per-call: 2m }\n",
        )
        .unwrap();
        let acme = load(Some(&file), "acme").unwrap();
        assert_eq!(acme.max_concurrent_executions, Some(2));
        assert_eq!(acme.ceilings.memory, 64 << 20);
        assert_eq!(acme.ceilings.cpu_per_call, Duration::from_secs(30));
        assert_eq!(acme.defaults.memory, 64 << 20);
        let other = load(Some(&file), "other").unwrap();
        assert_eq!(other.defaults.memory, 256 << 20);
        assert_eq!(other.max_concurrent_executions, None);

        std::fs::write(&file, "limits:\n  ceilings: { memory: lots }\n").unwrap();
        let errors = load(Some(&file), "acme").unwrap_err();
        assert_eq!(errors[0].field, "limits.ceilings.memory");
        assert!(valid_tenant("acme-2") && !valid_tenant("Acme") && !valid_tenant("2x"));
    }

    #[test]
    fn memory_and_cpu_quotas() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("host.yaml");
        std::fs::write(
            &file,
            "tenants:\n  acme:\n    max-memory: 2GiB\n    max-cpus: 4\n",
        )
        .unwrap();
        let acme = load(Some(&file), "acme").unwrap();
        assert_eq!((acme.max_memory, acme.max_cpus), (Some(2 << 30), Some(4)));
        assert_eq!(load(Some(&file), "other").unwrap().max_memory, None);
        std::fs::write(
            &file,
            "tenants:\n  acme:\n    max-memory: lots\n    max-cpus: 0\n",
        )
        .unwrap();
        let errors = load(Some(&file), "acme").unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["tenants.acme.max-memory", "tenants.acme.max-cpus"]);
        assert_eq!((errors[0].line, errors[1].line), (3, 4));
    }
}
