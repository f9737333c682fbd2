//! What can go wrong in a plugin call: the plugin's own error, or a trap of a typed kind.

use crate::domain::ItemError;

/// Why a guest stopped abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// A panic, out-of-bounds access, stack overflow or other trap: `wasm.trap`.
    Trap,
    /// The call ran past its CPU deadline (`limits.cpu-per-call`): `wasm.timeout`.
    Timeout,
    /// The guest tried to grow its memory past `limits.memory`: `wasm.memory`.
    Memory,
    /// The guest held more than [`MAX_HANDLES`] resources: `wasm.handles`.
    Handles,
}

impl TrapKind {
    /// The error kind policies match on.
    pub fn kind(self) -> &'static str {
        match self {
            TrapKind::Trap => "wasm.trap",
            TrapKind::Timeout => "wasm.timeout",
            TrapKind::Memory => "wasm.memory",
            TrapKind::Handles => "wasm.handles",
        }
    }
}

/// Why a plugin call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The plugin returned an error.
    #[error("{0}")]
    Failed(ItemError),
    /// The guest trapped, timed out or ran out of memory. The instance is unusable afterwards.
    #[error("{kind}: {message}", kind = .0.kind(), message = .1)]
    Trap(TrapKind, String),
    /// The process was interrupted (a second Ctrl-C or SIGTERM) during the call. The instance is
    /// unusable afterwards; the step ends STOPPED.
    #[error("host.interrupted: the call was interrupted by a second stop signal")]
    Interrupted,
}

impl PluginError {
    /// The error as a kind and message, for exit messages and policies (`wasm.*` for traps).
    pub fn to_item_error(&self) -> ItemError {
        match self {
            PluginError::Failed(e) => e.clone(),
            PluginError::Trap(k, m) => ItemError::new(k.kind(), m.clone()),
            PluginError::Interrupted => ItemError::new(
                "host.interrupted",
                "the call was interrupted by a second stop signal",
            ),
        }
    }
}

/// Why a plugin instance could not be created: the component is of another role, its store
/// could not be set up, or its start functions trapped or ran out of time. The message holds
/// the whole chain of causes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InstantiationError(pub(super) String);

impl InstantiationError {
    pub(super) fn chain(e: &impl std::fmt::Display) -> Self {
        InstantiationError(format!("{e:#}"))
    }
}
