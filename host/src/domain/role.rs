//! `domain`: the role a plugin plays in a step, and which plugin a step execution ran.

use std::fmt;

/// The role a plugin plays: Spring Batch's ItemReader, ItemProcessor, ItemWriter, Tasklet and
/// JobExecutionDecider. A component's role is the WIT world it exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Reads items (world `reader`).
    Reader,
    /// Transforms or filters items (world `processor`).
    Processor,
    /// Writes chunks of items (world `writer`).
    Writer,
    /// Runs a step's work in repeated calls (world `tasklet`).
    Tasklet,
    /// Chooses a flow's next step (world `decider`).
    Decider,
    /// Computes a partitioned step's partitions (world `partitioner`).
    Partitioner,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Reader,
        Role::Processor,
        Role::Writer,
        Role::Tasklet,
        Role::Decider,
        Role::Partitioner,
    ];

    /// The WIT world name, which is also how messages and the repository name the role.
    pub fn world(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Processor => "processor",
            Role::Writer => "writer",
            Role::Tasklet => "tasklet",
            Role::Decider => "decider",
            Role::Partitioner => "partitioner",
        }
    }

    /// Parses a world name.
    pub fn from_world(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.world() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.world())
    }
}

/// One plugin a step execution ran: its role, its label (`NAME@VERSION` or a built-in's name)
/// and the sha256 digest of its component (`builtin` for the host's own readers and writers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlugin {
    /// The role.
    pub role: Role,
    /// How the job names it.
    pub label: String,
    /// The component's sha256 digest, or `builtin`.
    pub digest: String,
}

impl StepPlugin {
    /// The digest recorded for a plugin built into the host.
    pub const BUILTIN: &'static str = "builtin";
}
