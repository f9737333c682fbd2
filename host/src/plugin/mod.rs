//! `plugin`: WebAssembly components run by wasmtime. The only module that touches wasmtime.
//!
//! Lifecycle tiers:
//! - process-wide: [`PluginRuntime`] (the `Engine` and the `Linker`, built once);
//! - per plan: [`Prepared`] (a component compiled or loaded from its precompiled artifact and
//!   pre-linked, cheap to clone);
//! - per step execution: [`ReaderInstance`], [`ProcessorInstance`], [`WriterInstance`],
//!   [`TaskletInstance`], [`DeciderInstance`], each with its own `Store`, so a trap in one plugin
//!   poisons only that plugin's store.
//!
//! Every call returns `Result<_, PluginError>`: [`PluginError::Failed`] is the plugin's own
//! error (`{kind, message}`), [`PluginError::Trap`] a trap (guest panic, bad memory access, …),
//! always fatal for the instance.

mod artifact;
mod bindings;
mod convert;
mod error;
mod grant;
mod guard;
mod instance;
mod limits;
mod output;
mod producers;
mod runtime;
mod state;
mod surface;

use std::fmt;

use sha2::{Digest, Sha256};

pub use crate::domain::Role;

pub use artifact::{ArtifactKey, KeyError};
pub use grant::{Grant, GrantError, describe_open_error};
pub use guard::Interrupt;
pub use instance::{
    DeciderInstance, InstantiationError, Limits, MAX_HANDLES, PartitionerInstance, PluginError,
    ProcessOutcome, ProcessorInstance, ReadBatch, ReaderInstance, RepeatStatus, Sandbox, Setup,
    TaskletExecution, TaskletInstance, TrapKind, WriterInstance,
};
pub use producers::Producers;
pub use surface::Surface;

pub use runtime::{EPOCH_TICK, PluginRuntime, PoolSize, RuntimeOptions};
use state::PluginState;

/// The exported interface (without version) that gives a component its role.
fn interface(role: Role) -> &'static str {
    match role {
        Role::Reader => "batch:plugin/item-reader@",
        Role::Processor => "batch:plugin/item-processor@",
        Role::Writer => "batch:plugin/item-writer@",
        Role::Tasklet => "batch:plugin/step-tasklet@",
        Role::Decider => "batch:plugin/flow-decider@",
        Role::Partitioner => "batch:plugin/step-partitioner@",
    }
}

/// The contract version this host implements, and the line of versions it accepts: a
/// component built against `batch:plugin@0.1.z` (any z) is accepted; any other version is
/// refused, naming it (docs/plugins.md, "Contract versions").
pub const CONTRACT_VERSION: &str = "0.1.0";
const CONTRACT_LINE: &str = "0.1.";

/// Why a file cannot be used as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum InvalidPlugin {
    /// Not a WebAssembly component (a core module, or not wasm at all).
    #[error(
        "not a WebAssembly component: {0}; build the plugin for the `wasm32-wasip2` target (see docs/plugins.md)"
    )]
    NotAComponent(String),
    /// A component, but not one of our worlds.
    #[error(
        "the component exports none of the batch:plugin@0.1.0 worlds (reader, processor, writer, tasklet, decider, partitioner); it exports: {0}"
    )]
    WrongWorld(String),
    /// Built against a version of the contract this host does not implement.
    #[error(
        "the component was built against batch:plugin@{found}; this batch-host implements batch:plugin@{CONTRACT_VERSION} and accepts 0.1.x only. Rebuild the plugin with the SDK that matches this host (batch-sdk 0.1), or run it on a batch-host that supports {found}"
    )]
    UnsupportedVersion {
        /// The version the component names.
        found: String,
    },
    /// Exports more than one role.
    #[error("the component exports several roles ({0}); a plugin plays exactly one role")]
    SeveralRoles(String),
    /// Imports an interface the host does not provide (sockets, HTTP, anything unknown).
    #[error(
        "the component imports `{0}`, which batch-host does not provide to plugins (no sockets, no HTTP, nothing outside WASI clocks/random/filesystem/cli and batch:plugin; see docs/security.md); build it without that dependency"
    )]
    MissingImport(String),
    /// Could not be compiled or linked.
    #[error("the component cannot be linked: {0}")]
    Link(String),
}

/// Why a precompiled artifact was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Its seal does not verify under this host's key.
    #[error(
        "the precompiled code failed authentication (changed in the repository, or sealed by another host's key)"
    )]
    Unauthenticated,
    /// It verified but could not be loaded.
    #[error(transparent)]
    Invalid(InvalidPlugin),
}

/// A component compiled and pre-linked for one role. Cheap to clone.
#[derive(Clone)]
pub enum Prepared {
    /// A reader.
    Reader(bindings::reader::ReaderPre<PluginState>),
    /// A processor.
    Processor(bindings::processor::ProcessorPre<PluginState>),
    /// A writer.
    Writer(bindings::writer::WriterPre<PluginState>),
    /// A tasklet.
    Tasklet(bindings::tasklet::TaskletPre<PluginState>),
    /// A decider.
    Decider(bindings::decider::DeciderPre<PluginState>),
    /// A partitioner.
    Partitioner(bindings::partitioner::PartitionerPre<PluginState>),
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prepared({})", self.role())
    }
}

impl Prepared {
    /// The role.
    pub fn role(&self) -> Role {
        match self {
            Prepared::Reader(_) => Role::Reader,
            Prepared::Processor(_) => Role::Processor,
            Prepared::Writer(_) => Role::Writer,
            Prepared::Tasklet(_) => Role::Tasklet,
            Prepared::Decider(_) => Role::Decider,
            Prepared::Partitioner(_) => Role::Partitioner,
        }
    }
}

/// A freshly validated and compiled component.
#[derive(Debug)]
pub struct Compiled {
    /// The role its world gives it.
    pub role: Role,
    /// Precompiled native code for this engine.
    pub artifact: Vec<u8>,
    /// The artifact's seal under this runtime's [`ArtifactKey`]; store it with the artifact.
    pub seal: String,
    /// The prepared component.
    pub prepared: Prepared,
}

/// sha256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
