//! The Spring Batch domain model: `JobInstance`, `JobExecution`, `StepExecution`,
//! `ExecutionContext`, `BatchStatus`, `ExitStatus`, `JobParameters`.
//!
//! Pure data and rules. Nothing here knows about WebAssembly, SQL or YAML; the `repository`
//! persists these types, the `engine` moves them through their lifecycle.

mod context;
mod durability;
mod error;
mod flow;
mod job;
mod owner;
mod params;
mod role;
mod skipped;
mod status;
mod step;
mod subst;
mod text;

pub use context::ExecutionContext;
pub use durability::Durability;
pub use error::ItemError;
pub use flow::{FlowAction, Transition, pattern_matches, precedence, select};
pub use job::{JobExecution, JobInstance};
pub use owner::ExecutionOwner;
pub use params::{JobParameter, JobParameters, ParamType, ParameterError, split_param};
pub use role::{Role, StepPlugin};
pub use skipped::{SkipPhase, SkippedItem, TableRow};
pub use status::{BatchStatus, ExitStatus};
pub use step::{StepContribution, StepExecution};
pub use subst::{Placeholder, PlaceholderSource, placeholders, substitute};
pub use text::{
    EXIT_CODE_CHARS, GuestField, KIND_CHARS, MESSAGE_CHARS, fit, is_unsafe_char, neutralise,
    neutralise_bytes,
};

/// A database identifier of a JobInstance, JobExecution or StepExecution.
pub type Id = i64;

/// A point in time, UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The current time, truncated to milliseconds (what the `BATCH_*` tables keep).
pub fn now() -> Timestamp {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(3)
}
