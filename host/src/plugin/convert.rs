//! Conversions across the plugin boundary: domain values to their wire (WIT) form, and what a
//! guest returns back to domain values — neutralised, bounded and checked against the
//! instance's limits first.

use super::bindings::types;
use super::error::PluginError;
use super::limits::Limits;
use crate::domain::{ExecutionContext, GuestField, ItemError, JobParameters, neutralise};

/// What a plugin learns before its first call.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `config` section as JSON.
    pub config: serde_json::Value,
    /// The job parameters.
    pub params: JobParameters,
    /// The job name.
    pub job_name: String,
    /// The step name.
    pub step_name: String,
}

/// A guest's own error, neutralised and bounded.
pub(super) fn guest_error(kind: &str, message: &str) -> ItemError {
    ItemError::new(
        neutralise(kind, GuestField::ErrorKind),
        neutralise(message, GuestField::ErrorMessage),
    )
}

/// A host-side refusal of what the plugin returned (`plugin.protocol`).
pub(super) fn protocol(message: String) -> PluginError {
    PluginError::Failed(ItemError::new("plugin.protocol", message))
}

/// An exit status a guest chose: `(code, description)`, neutralised and bounded.
pub(super) fn guest_exit(e: types::ExitStatus) -> crate::domain::ExitStatus {
    crate::domain::ExitStatus {
        code: neutralise(&e.code, GuestField::ExitCode),
        description: neutralise(&e.description, GuestField::ExitDescription),
    }
}

/// Rejects a context larger than the sandbox allows, before it is parsed or stored.
pub(super) fn check_context_size(
    limits: &Limits,
    entries: &[types::ContextEntry],
) -> Result<(), PluginError> {
    let max = limits.max_context_size;
    let size: usize = entries
        .iter()
        .map(|e| e.key.len() + e.value.len())
        .fold(0, usize::saturating_add);
    if size > max {
        return Err(PluginError::Failed(ItemError::new(
            "wasm.context-size",
            format!(
                "the plugin returned an ExecutionContext of {size} bytes; the limit is {max} bytes (limits.max-context-size)"
            ),
        )));
    }
    Ok(())
}

/// Rejects an item larger than the sandbox allows.
pub(super) fn check_size(limits: &Limits, item: &[u8]) -> Result<(), ItemError> {
    let max = limits.max_item_size;
    if item.len() > max {
        return Err(ItemError::new(
            "wasm.item-size",
            format!(
                "the plugin produced an item of {} bytes; the limit is {max} bytes",
                item.len()
            ),
        ));
    }
    Ok(())
}

pub(super) fn wire_setup(setup: &Setup) -> types::PluginSetup {
    types::PluginSetup {
        config: setup.config.to_string(),
        params: setup
            .params
            .iter()
            .map(|(name, p)| types::JobParameter {
                name: name.to_owned(),
                value: p.value.clone(),
                type_: p.kind.java_class().to_owned(),
                identifying: p.identifying,
            })
            .collect(),
        job_name: setup.job_name.clone(),
        step_name: setup.step_name.clone(),
    }
}

pub(super) fn wire_summary(e: &crate::domain::StepExecution) -> types::StepSummary {
    types::StepSummary {
        name: e.step_name.clone(),
        status: e.status.to_string(),
        exit_status: types::ExitStatus {
            code: e.exit_status.code.clone(),
            description: e.exit_status.description.clone(),
        },
        read_count: e.read_count,
        write_count: e.write_count,
        filter_count: e.filter_count,
        skip_count: e.skip_count(),
        commit_count: e.commit_count,
        rollback_count: e.rollback_count,
    }
}

pub(super) fn wire_context(ctx: &ExecutionContext) -> Vec<types::ContextEntry> {
    ctx.iter()
        .map(|(k, v)| types::ContextEntry {
            key: k.to_owned(),
            value: v.to_string(),
        })
        .collect()
}

/// Longest context key a plugin may use, in bytes.
const MAX_CONTEXT_KEY: usize = 256;

pub(super) fn domain_context(
    limits: &Limits,
    entries: Vec<types::ContextEntry>,
) -> Result<ExecutionContext, PluginError> {
    check_context_size(limits, &entries)?;
    let mut ctx = ExecutionContext::new();
    for e in entries {
        if e.key.len() > MAX_CONTEXT_KEY || e.key.chars().any(crate::domain::is_unsafe_char) {
            return Err(protocol(format!(
                "the plugin returned context key `{}`; keys are at most {MAX_CONTEXT_KEY} bytes without control characters",
                neutralise(&e.key, GuestField::LogFieldName)
            )));
        }
        let value = serde_json::from_str(&e.value).map_err(|err| {
            protocol(format!(
                "the plugin returned context key `{}` whose value is not JSON: {err}",
                e.key
            ))
        })?;
        ctx.put(e.key, value);
    }
    Ok(ctx)
}
