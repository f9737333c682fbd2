//! `engine` → step: why a step stopped early ([`StepFailure`]), and the one typed description
//! of a plugin's failure ([`PluginFailure`]) that becomes the step's exit message.

use std::fmt;

use crate::domain::{ItemError, Role};
use crate::plugin::PluginError;
use crate::repository::RepositoryError;

/// Why a step's loop stopped before its input was exhausted.
#[derive(Debug)]
pub(crate) enum StepFailure {
    /// A plugin failed.
    Plugin(Box<PluginFailure>),
    /// The step could not start its plugins: a config placeholder without a value, or a
    /// directory grant that cannot be opened.
    Setup(String),
    /// The repository failed.
    Repository(RepositoryError),
    /// A stop was requested; the last chunk committed.
    Stopped,
    /// The process was interrupted (a second stop signal) during a plugin call; the chunk in
    /// progress rolled back.
    Interrupted,
}

impl From<RepositoryError> for StepFailure {
    fn from(e: RepositoryError) -> Self {
        StepFailure::Repository(e)
    }
}

impl From<PluginFailure> for StepFailure {
    fn from(f: PluginFailure) -> Self {
        StepFailure::Plugin(Box::new(f))
    }
}

/// Which call of a plugin failed, and at which item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// Creating the instance.
    Instantiate,
    /// Creating a fresh instance to replace one that trapped.
    InstantiateAfterTrap,
    /// `init`.
    Init,
    /// `init` of the instance that replaces a trapped one.
    InitAfterTrap,
    /// ItemStream `open`.
    Open,
    /// `open` of the writer that replaces a trapped one.
    ReopenAfterTrap,
    /// ItemStream `update`.
    Update,
    /// ItemStream `close`.
    Close,
    /// The writer's `before-chunk`.
    BeforeChunk,
    /// The writer's `after-chunk`, once the chunk committed.
    AfterCommit,
    /// Reading past the items a partly committed chunk already committed (restart).
    SkipCommitted,
    /// Reading the item at this position.
    Read { item: i64 },
    /// A read batch held more items than asked for.
    TooMany { want: u32 },
    /// One batched process call for the items `first..=last`.
    ProcessChunk { first: i64, last: i64 },
    /// Processing the item at this position.
    Process { item: i64 },
    /// Processing the item failed on every attempt and the error is not skippable.
    ProcessExhausted { item: i64, attempts: u32 },
    /// Writing a chunk of `items` items starting at position `from`.
    WriteChunk { items: usize, from: i64 },
    /// Writing the item at this position on its own (scanning for the failing item).
    WriteItem { item: i64 },
    /// Writing the item failed, during recovery, and the error is not skippable.
    WriteItemNotSkippable { item: i64 },
    /// Writing the chunk failed on every attempt and the error is not skippable.
    WriteExhausted { chunk: i64, attempts: u32 },
    /// The tasklet's `execute`, this call of the step.
    Execute { call: i64 },
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Instantiate => f.write_str("cannot be instantiated"),
            Call::InstantiateAfterTrap => f.write_str("cannot be instantiated again after a trap"),
            Call::Init => f.write_str("failed in init"),
            Call::InitAfterTrap => f.write_str("failed in init after a trap"),
            Call::Open => f.write_str("failed to open"),
            Call::ReopenAfterTrap => f.write_str("failed to reopen after a trap"),
            Call::Update => f.write_str("failed in update"),
            Call::Close => f.write_str("failed to close"),
            Call::BeforeChunk => f.write_str("failed in before-chunk"),
            Call::AfterCommit => f.write_str("failed after a committed chunk"),
            Call::SkipCommitted => f.write_str("failed while skipping committed items"),
            Call::Read { item } => write!(f, "failed reading item {item}"),
            Call::TooMany { want } => write!(f, "returned more than the {want} items asked for"),
            Call::ProcessChunk { first, last } => write!(f, "failed on items {first}-{last}"),
            Call::Process { item } => write!(f, "failed on item {item}"),
            Call::ProcessExhausted { item, attempts } => write!(
                f,
                "failed on item {item} after {attempts} attempt(s) and the error is not skippable"
            ),
            Call::WriteChunk { items, from } => write!(
                f,
                "failed writing a chunk of {items} items (from item {from})"
            ),
            Call::WriteItem { item } => write!(f, "failed on item {item}"),
            Call::WriteItemNotSkippable { item } => {
                write!(f, "failed on item {item} and the error is not skippable")
            }
            Call::WriteExhausted { chunk, attempts } => write!(
                f,
                "failed on chunk {chunk} after {attempts} attempt(s) and the error is not skippable"
            ),
            Call::Execute { call } => write!(f, "failed in execute (call {call})"),
        }
    }
}

/// What went wrong in the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The plugin's error, or a trap as `wasm.trap.*`.
    Item(ItemError),
    /// The host could not create the instance.
    Instantiation(String),
    /// Nothing more to say than the call itself.
    None,
}

/// Why the fault-tolerance policy gave up on an error it would otherwise have handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The skip limit was reached (the policy's message).
    SkipLimit(String),
    /// A read error that is neither skippable nor no-rollback.
    NonSkippableRead,
    /// The error's kind is declared fatal (`fault-tolerance.fatal`).
    Fatal,
}

/// A plugin's failure, attributed: which role and plugin, which call at which item, why, and
/// (under fault tolerance) why the policy did not skip it. Its [`Display`](fmt::Display) is the
/// step's exit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginFailure {
    /// The plugin's role in the step.
    pub(crate) role: Role,
    /// The plugin's label (`NAME@VERSION`, or a built-in's name).
    pub(crate) plugin: String,
    /// The call and position.
    pub(crate) call: Call,
    /// The error.
    pub(crate) cause: Cause,
    /// Why fault tolerance did not absorb it, when that is the reason the step fails.
    pub(crate) verdict: Option<Verdict>,
}

impl PluginFailure {
    /// A failure with the plugin's item error.
    pub(crate) fn item(role: Role, plugin: &str, call: Call, error: ItemError) -> Self {
        PluginFailure {
            role,
            plugin: plugin.to_owned(),
            call,
            cause: Cause::Item(error),
            verdict: None,
        }
    }

    /// The failure of a call that returned `error`; an interruption is not a plugin failure.
    pub(crate) fn of(role: Role, plugin: &str, call: Call, error: &PluginError) -> StepFailure {
        match error {
            PluginError::Interrupted => StepFailure::Interrupted,
            e => Self::item(role, plugin, call, e.to_item_error()).into(),
        }
    }

    /// This failure, explained by the policy's verdict.
    pub(crate) fn because(mut self, verdict: Verdict) -> Self {
        self.verdict = Some(verdict);
        self
    }
}

impl fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Some(Verdict::SkipLimit(limit)) => write!(f, "{limit}: ")?,
            Some(Verdict::NonSkippableRead) => f.write_str("non-skippable error during read: ")?,
            Some(Verdict::Fatal) => f.write_str("fatal error: ")?,
            None => {}
        }
        write!(f, "{} {} {}", self.role, self.plugin, self.call)?;
        match &self.cause {
            Cause::Item(e) => write!(f, ": {}: {}", e.kind, e.message),
            Cause::Instantiation(e) => write!(f, ": {e}"),
            Cause::None => Ok(()),
        }
    }
}

impl std::error::Error for PluginFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_role_plugin_call_and_error() {
        let e = ItemError::new("validation.email", "no @");
        let f = PluginFailure::item(
            Role::Processor,
            "member@1.0.0",
            Call::Process { item: 7 },
            e.clone(),
        );
        assert_eq!(
            f.to_string(),
            "processor member@1.0.0 failed on item 7: validation.email: no @"
        );
        let f = PluginFailure::item(Role::Reader, "csv@1", Call::Read { item: 3 }, e)
            .because(Verdict::SkipLimit("skip limit 2 exceeded".into()));
        assert_eq!(
            f.to_string(),
            "skip limit 2 exceeded: reader csv@1 failed reading item 3: validation.email: no @"
        );
        let f = PluginFailure {
            role: Role::Reader,
            plugin: "csv@1".into(),
            call: Call::TooMany { want: 5 },
            cause: Cause::None,
            verdict: None,
        };
        assert_eq!(
            f.to_string(),
            "reader csv@1 returned more than the 5 items asked for"
        );
    }

    #[test]
    fn an_interruption_is_not_a_plugin_failure() {
        let f = PluginFailure::of(Role::Writer, "w", Call::Init, &PluginError::Interrupted);
        assert!(matches!(f, StepFailure::Interrupted));
    }
}
