//! `plan` → types: what planning produces — the [`JobPlan`] with its steps, chunks, readers,
//! writers and prepared plugins — and what it takes besides the spec ([`PlanOptions`]).

use std::path::PathBuf;

use serde_json::Value;

use crate::config::HostPolicy;
use crate::domain::{JobParameters, Transition};
use crate::plugin::{Limits, Prepared};
use crate::policy::FaultTolerance;

/// Largest accepted chunk size.
pub const MAX_CHUNK_SIZE: i64 = 1_000_000;

/// A validated, ready-to-run job.
#[derive(Debug)]
pub struct JobPlan {
    /// The job name.
    pub name: String,
    /// The job file.
    pub file: PathBuf,
    /// The job file's text, as parsed (recorded with each execution).
    pub source: String,
    /// The directory plugins may see.
    pub workdir: PathBuf,
    /// All parameters (job.yaml `params` overridden by `--param`).
    pub params: JobParameters,
    /// Every step, in file order (split branches included).
    pub steps: Vec<StepPlan>,
    /// The job's main flow: indexes into `steps`, starting with the first step.
    pub flow: Vec<usize>,
    /// Whether a failed instance may be restarted.
    pub restartable: bool,
    /// Restart even if the plugins changed since the failed execution.
    pub allow_code_change: bool,
    /// The tenant the job runs for.
    pub tenant: String,
    /// The tenant's quota of concurrently running executions.
    pub max_concurrent_executions: Option<u32>,
    /// What the job holds while it runs, counted against the tenant's `max-memory` and
    /// `max-cpus` by `batch-host serve`.
    pub reservation: Reservation,
    /// The tenant's `max-memory` (bytes) and `max-cpus`.
    pub quota: Quota,
    /// What a committed chunk survives (job.yaml `durability`, else the host's).
    pub durability: crate::domain::Durability,
}

/// What a running job holds: linear memory it may reserve (plugin instances alive at once × the
/// largest memory limit of its steps) and guest calls it may make at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reservation {
    /// Bytes of linear memory.
    pub memory: usize,
    /// Guest calls at once.
    pub cpus: u32,
}

/// A tenant's quotas on what its running executions hold together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// `max-memory`, bytes.
    pub memory: Option<usize>,
    /// `max-cpus`.
    pub cpus: Option<u32>,
}

impl JobPlan {
    /// Where a transition leads, in words: `error-report`, `end COMPLETED (FOO)`,
    /// `stop, restart at publish`.
    pub fn describe(&self, action: &crate::domain::FlowAction) -> String {
        use crate::domain::FlowAction;
        match action {
            FlowAction::To(i) => self.steps[*i].name.clone(),
            FlowAction::End { status, exit_code } if exit_code == status.as_str() => {
                format!("end {status}")
            }
            FlowAction::End { status, exit_code } => format!("end {status} ({exit_code})"),
            FlowAction::Stop {
                restart_at: Some(i),
                ..
            } => format!("stop, restart at {}", self.steps[*i].name),
            FlowAction::Stop { .. } => "stop".into(),
        }
    }
}

/// A validated step.
#[derive(Debug)]
pub struct StepPlan {
    /// The step name.
    pub name: String,
    /// What the step does.
    pub kind: StepKind,
    /// Conditional transitions; `None`: go on to the next step of the flow when COMPLETED.
    pub next: Option<Vec<Transition>>,
    /// Sandbox limits of the step's plugin instances.
    pub limits: Limits,
    /// The directory the step's plugins see (absolute; inside the work directory).
    pub directory: Option<PathBuf>,
    /// The directory is granted read-only.
    pub read_only: bool,
    /// Exit code for a chunk step that completed with skips.
    pub exit_status_on_skips: Option<String>,
    /// Run again on restart even if it completed.
    pub allow_start_if_complete: bool,
    /// Executions allowed per JobInstance.
    pub start_limit: Option<i64>,
    /// Step-context keys copied to the job context on completion.
    pub promote: Vec<String>,
}

/// What a step does.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per step, built once at plan time"
)]
pub enum StepKind {
    /// Read, process, write in chunk transactions.
    Chunk(ChunkPlan),
    /// Call a tasklet until it is FINISHED.
    Tasklet(PluginPlan),
    /// Ask a decider where to go; no step execution is recorded.
    Decider(PluginPlan),
    /// Run flows concurrently: each a list of step indexes, in order.
    Split(Vec<Vec<usize>>),
    /// Run a worker step once per partition, several at once (Spring's `PartitionStep`).
    Partition(PartitionPlan),
}

/// A validated `partition:` section.
#[derive(Debug, Clone)]
pub struct PartitionPlan {
    /// What computes the partitions.
    pub partitioner: PartitionerPlan,
    /// How many partitions `file-ranges` makes.
    pub grid_size: u32,
    /// How many partitions run at once.
    pub concurrency: u32,
    /// The worker step's index in [`JobPlan::steps`] (set once the flow is checked).
    pub worker: usize,
    /// `workers: remote`: `batch-host worker` processes claim the partitions from the
    /// repository; otherwise they run in this process.
    pub remote: bool,
}

/// Config of the built-in `sql-table` reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTableReaderConfig {
    /// The table (as the `sql-table` writer named it).
    pub table: String,
    /// The lowest row number to read (usually `"${partition.min}"`); `None`: the first.
    pub min: Option<serde_json::Value>,
    /// The highest row number to read (usually `"${partition.max}"`); `None`: the last.
    pub max: Option<serde_json::Value>,
}

/// A partitioner: one of the host's, or a component of the `partitioner` world.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per partitioned step, built once at plan time"
)]
pub enum PartitionerPlan {
    /// A partitioner component (`{ plugin: NAME }` or `{ path: FILE.wasm }`).
    Component(PluginPlan),
    /// `file-ranges`: byte ranges of one file, split at record boundaries.
    FileRanges(FileRangesConfig),
    /// `sql-ranges`: row-number ranges of a `sql-table` table (Spring's
    /// `ColumnRangePartitioner`).
    SqlRanges {
        /// The table.
        table: String,
    },
    /// `files`: one partition per file matching a pattern (Spring's `MultiResourcePartitioner`).
    Files {
        /// The pattern, relative to the step's directory (`in/*.csv`).
        pattern: String,
    },
}

/// Config of the `file-ranges` partitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRangesConfig {
    /// The file, relative to the manager step's directory.
    pub path: String,
    /// The first line is a header (not a record): CSV files.
    pub header: bool,
    /// Records may hold line breaks inside quotes (CSV `multiline`); boundaries are then found
    /// outside quoted fields.
    pub multiline: bool,
    /// The quote character (CSV).
    pub quote: u8,
}

impl StepKind {
    /// `chunk`, `tasklet`, `decider` or `split`.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Chunk(_) => "chunk",
            StepKind::Tasklet(_) => "tasklet",
            StepKind::Decider(_) => "decider",
            StepKind::Split(_) => "split",
            StepKind::Partition(_) => "partition",
        }
    }
}

/// A validated chunk-oriented step.
#[derive(Debug)]
pub struct ChunkPlan {
    /// Items per chunk.
    pub chunk_size: u32,
    /// The reader.
    pub reader: ReaderPlan,
    /// The optional processor.
    pub processor: Option<PluginPlan>,
    /// How many processor instances process slices of one chunk at once (1: serially).
    pub processor_concurrency: u32,
    /// The writer.
    pub writer: WriterPlan,
    /// Skip/retry/no-rollback rules; `None` is Spring's non-fault-tolerant step.
    pub fault_tolerance: Option<FaultTolerance>,
}

/// A step's reader: a component, or a reader built into the host.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per step, built once at plan time"
)]
pub enum ReaderPlan {
    /// A reader component.
    Component(PluginPlan),
    /// `builtin: skipped-items`: the payloads of the items a job execution skipped.
    SkippedItems(SkippedItemsConfig),
    /// `builtin: sql-table`: the rows a `sql-table` writer wrote, in row order.
    SqlTable(SqlTableReaderConfig),
    /// `builtin: csv`: a CSV file in the step's directory, one JSON object per record.
    Csv(CsvReaderConfig),
    /// `builtin: jsonl`: a JSON-lines file in the step's directory, one item per line.
    Jsonl(FileConfig),
}

impl ReaderPlan {
    /// How job.yaml referred to it.
    pub fn label(&self) -> &str {
        match self {
            ReaderPlan::Component(p) => &p.label,
            ReaderPlan::SkippedItems(_) => "builtin skipped-items",
            ReaderPlan::SqlTable(_) => "builtin sql-table",
            ReaderPlan::Csv(_) => "builtin csv",
            ReaderPlan::Jsonl(_) => "builtin jsonl",
        }
    }
}

/// A step's writer: a component, or a writer built into the host.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per step, built once at plan time"
)]
pub enum WriterPlan {
    /// A writer component.
    Component(PluginPlan),
    /// `builtin: sql-table`: rows in the repository database, committed with the chunk.
    SqlTable {
        /// The logical table name.
        table: String,
    },
    /// `builtin: jsonl`: each item as one line of a file in the step's directory.
    Jsonl(FileConfig),
    /// `builtin: csv`: chosen fields of each JSON-object item as a CSV record.
    Csv(CsvWriterConfig),
}

impl WriterPlan {
    /// How job.yaml referred to it.
    pub fn label(&self) -> &str {
        match self {
            WriterPlan::Component(p) => &p.label,
            WriterPlan::SqlTable { .. } => "builtin sql-table",
            WriterPlan::Jsonl(_) => "builtin jsonl",
            WriterPlan::Csv(_) => "builtin csv",
        }
    }
}

/// Config of the built-in `skipped-items` reader.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedItemsConfig {
    /// The job execution whose skipped items to read.
    pub execution: i64,
    /// Only items skipped in this step.
    #[serde(default)]
    pub step: Option<String>,
    /// Only items skipped in this phase: `process` or `write` (read skips carry no item).
    #[serde(default)]
    pub phase: Option<String>,
}

/// The file of a built-in reader or writer, relative to the step's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// A relative path inside the step's directory grant.
    pub path: String,
    /// A reader's part of the file, `{ start, end, line }` or `"START-END"` (usually
    /// `"${partition.range}"`, resolved when the step starts); `None`: the whole file.
    pub range: Option<serde_json::Value>,
}

/// Config of the built-in `csv` reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvReaderConfig {
    /// The input file.
    pub file: FileConfig,
    /// The field separator (one ASCII byte).
    pub delimiter: u8,
    /// The quote character (one ASCII byte).
    pub quote: u8,
    /// The item's keys: the file's first line (`header: true`) or `columns`.
    pub columns: Option<Vec<String>>,
    /// A quoted field may contain line breaks; otherwise a quote must close on its line.
    pub multiline: bool,
}

/// Config of the built-in `csv` writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvWriterConfig {
    /// The output file.
    pub file: FileConfig,
    /// The fields of each item, in column order.
    pub columns: Vec<String>,
    /// The field separator (one ASCII byte).
    pub delimiter: u8,
    /// Write `columns` as the first line.
    pub header: bool,
}

/// A resolved, compiled and pre-linked plugin.
#[derive(Debug, Clone)]
pub struct PluginPlan {
    /// How job.yaml referred to it (`csv-reader@1.0.0`, `path plugins/x.wasm`).
    pub label: String,
    /// sha256 of the component.
    pub digest: String,
    /// The prepared component.
    pub prepared: Prepared,
    /// The plugin's `config` (`{}` when absent).
    pub config: Value,
}

/// Inputs besides the spec.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--param name=value[,type[,identifying]]` values, in order.
    pub params: Vec<(String, String)>,
    /// `--workdir`; default: the folder of job.yaml.
    pub workdir: Option<PathBuf>,
    /// `--allow-code-change`.
    pub allow_code_change: bool,
    /// The host's defaults, ceilings and quotas for the tenant.
    pub policy: HostPolicy,
    /// Files no plugin may ever reach, with what they are ("the repository `…`"): a job that
    /// grants a directory holding one of them is refused.
    pub protected: Vec<Protected>,
    /// The repository is one that workers on other machines can share (PostgreSQL), as
    /// `workers: remote` needs.
    pub shared_repository: bool,
    /// Refuse plugins given by `path:` (`batch-host serve`: tenants upload plugins instead).
    pub registered_only: bool,
}

/// A file of the host's that must lie outside every directory granted to plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// What it is, for messages: "the repository `sqlite:…`".
    pub what: String,
    /// The file (it need not exist yet).
    pub path: PathBuf,
    /// Its whole folder is protected (a SQLite repository: its `-wal`/`-shm` files and every
    /// tenant's file lie next to it).
    pub folder: bool,
    /// How to fix a job that trips it.
    pub hint: String,
}
