//! `job.yaml`, parsed: a 1:1 serde mirror of the file, with source locations.
//!
//! Parsing rejects unknown fields and wrong types with `file:line:column`. Everything that needs
//! more than the file itself (plugins, directories, parameter values) is checked by `plan`,
//! which uses the [`Spanned`] locations kept here to point at the offending field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
pub use serde_saphyr::Spanned;
pub use units::{parse_count, parse_duration, parse_size, show_size};

mod line_endings;
mod units;

/// A whole job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job name (`JOB_NAME`); with the identifying parameters it names the JobInstance.
    pub name: Spanned<String>,
    /// Free text for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// Job parameters, in Spring's notation `value[,type[,identifying]]`; `--param` overrides.
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<serde_json::Value>>,
    /// The steps. The first one starts the job; without `next`, each goes on to the one after it.
    pub steps: Spanned<Vec<StepSpec>>,
    /// `false` forbids restarting a failed instance (Spring's `Job.isRestartable`).
    #[serde(default = "yes")]
    pub restartable: bool,
    /// What a committed chunk survives: `process-crash` (the default) or `power-loss`.
    #[serde(default)]
    pub durability: Option<Spanned<String>>,
    /// The text this job was parsed from.
    #[serde(skip)]
    pub source: String,
}

fn yes() -> bool {
    true
}

/// One step: exactly one of `chunk`, `tasklet`, `decider`, `split` or `partition`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The step name (`STEP_NAME`), unique within the job.
    pub name: Spanned<String>,
    /// A chunk-oriented step: read, process, write in transactions of `size` items.
    #[serde(default)]
    pub chunk: Option<Spanned<ChunkSpec>>,
    /// A tasklet step: one component called until it reports FINISHED.
    #[serde(default)]
    pub tasklet: Option<Spanned<PluginRef>>,
    /// A decider: a component whose answer routes the flow; records no step execution.
    #[serde(default)]
    pub decider: Option<Spanned<PluginRef>>,
    /// Flows that run concurrently, each a list of step names; the split ends when all end.
    #[serde(default)]
    pub split: Option<Spanned<Vec<SplitFlowSpec>>>,
    /// A partitioned step (Spring's `PartitionStep`): a partitioner splits the input and a
    /// worker step runs once per partition, several at a time.
    #[serde(default)]
    pub partition: Option<Spanned<PartitionSpec>>,
    /// Conditional transitions on the step's exit code. Without it the flow goes on to the
    /// next step when the step COMPLETED and ends the job otherwise.
    #[serde(default)]
    pub next: Option<Spanned<Vec<Spanned<TransitionSpec>>>>,
    /// The directory the step's plugins see, relative to the job's work directory (default: the
    /// work directory itself). It must stay inside the work directory.
    #[serde(default)]
    pub directory: Option<Spanned<String>>,
    /// Grant the directory read-only: the step's plugins cannot create, change or delete files.
    #[serde(default, rename = "read-only")]
    pub read_only: bool,
    /// Sandbox limits of a tasklet or decider (chunk steps set them under `chunk.limits`).
    #[serde(default)]
    pub limits: Option<Spanned<LimitsSpec>>,
    /// The exit code of a chunk step that completed with skips (default `COMPLETED`).
    #[serde(default, rename = "exit-status-on-skips")]
    pub exit_status_on_skips: Option<Spanned<String>>,
    /// Run the step again on a restart even if it completed before (with a fresh context).
    #[serde(default, rename = "allow-start-if-complete")]
    pub allow_start_if_complete: bool,
    /// How many executions of this step one JobInstance may have.
    #[serde(default, rename = "start-limit", deserialize_with = "whole_opt")]
    pub start_limit: Option<Spanned<i64>>,
    /// Step-context keys copied to the job context when the step completes, so later steps
    /// (and later executions) can read them (Spring's ExecutionContextPromotionListener).
    #[serde(default)]
    pub promote: Vec<String>,
}

/// `partition:` — how a manager step splits its work among worker step executions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartitionSpec {
    /// What computes the partitions: `{ builtin: file-ranges | files, config: {…} }`.
    pub partitioner: Spanned<PluginRef>,
    /// How many partitions (`file-ranges`; default: `concurrency`).
    #[serde(default, deserialize_with = "whole_opt")]
    pub grid_size: Option<Spanned<i64>>,
    /// How many partitions run at once in this process (default: the number of cores).
    #[serde(default, deserialize_with = "whole_opt")]
    pub concurrency: Option<Spanned<i64>>,
    /// Where the partitions run: `local` (the default).
    #[serde(default)]
    pub workers: Option<Spanned<String>>,
    /// The worker step, declared in `steps` (it does not run in the main flow).
    pub step: Spanned<String>,
}

/// The most partitions a step may have, and run at once.
pub const MAX_PARTITIONS: i64 = 1024;

/// How many partitions run at once when `partition.concurrency` is not set: the cores there are.
pub fn default_partition_concurrency() -> i64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as i64)
}

/// A whole number written as a YAML number: `16` (or `0x10`), never the string `"16"` — a
/// quoted value is text, and reading a number out of it would hide a mistake.
struct Whole(i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Whole;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Whole, E> {
                Ok(Whole(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Whole, E> {
                i64::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Whole, E> {
                Err(E::custom(format!(
                    "expected a whole number, found the text `{v}` (a number in quotes is text too)"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Whole, E> {
                Err(E::custom(format!("expected a whole number, found {v}")))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Whole, E> {
                Err(E::custom(format!("expected a whole number, found {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Spanned<i64>, D::Error> {
    let s = Spanned::<Whole>::deserialize(d)?;
    Ok(Spanned::new(s.value.0, s.referenced, s.defined))
}

fn whole_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Spanned<i64>>, D::Error> {
    Ok(Option::<Spanned<Whole>>::deserialize(d)?
        .map(|s| Spanned::new(s.value.0, s.referenced, s.defined)))
}

/// One flow of a split: step names, run in order.
pub type SplitFlowSpec = Spanned<Vec<Spanned<String>>>;

/// One entry of `next`: when the exit code matches `on`, do exactly one of `to`, `end`,
/// `fail` or `stop`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TransitionSpec {
    /// The exit-code pattern: `*` matches any run of characters, `?` exactly one.
    pub on: Spanned<String>,
    /// Go on with this step (in the same flow).
    #[serde(default)]
    pub to: Option<Spanned<String>>,
    /// End the job with this BatchStatus: `COMPLETED`, `FAILED` or `STOPPED`.
    #[serde(default)]
    pub end: Option<Spanned<String>>,
    /// The job's exit code when it ends here (default: the status name).
    #[serde(default)]
    pub exit_code: Option<String>,
    /// End the job FAILED (restartable).
    #[serde(default)]
    pub fail: bool,
    /// Stop the job (STOPPED, restartable).
    #[serde(default)]
    pub stop: bool,
    /// With `stop`: the step a restart begins at (Spring's `stopAndRestart`).
    #[serde(default)]
    pub restart_at: Option<Spanned<String>>,
}

/// The most processor instances one chunk step may run at once (`processor.concurrency`).
pub const MAX_PROCESSOR_CONCURRENCY: i64 = 32;

/// A chunk-oriented step's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkSpec {
    /// Items per chunk transaction (the commit interval).
    #[serde(deserialize_with = "whole")]
    pub size: Spanned<i64>,
    /// The reader plugin.
    pub reader: Spanned<PluginRef>,
    /// The optional processor plugin.
    #[serde(default)]
    pub processor: Option<Spanned<PluginRef>>,
    /// The writer plugin.
    pub writer: Spanned<PluginRef>,
    /// Sandbox limits for this step's plugins (host defaults when absent).
    #[serde(default)]
    pub limits: Option<Spanned<LimitsSpec>>,
    /// Skip / retry / no-rollback rules. Absent: any error fails the step after one rollback.
    #[serde(default, rename = "fault-tolerance")]
    pub fault_tolerance: Option<Spanned<FaultToleranceSpec>>,
}

/// `limits:` — per-instance sandbox limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsSpec {
    /// Budget of one plugin call, such as `2s` → `wasm.timeout` when exceeded.
    #[serde(default)]
    pub cpu_per_call: Option<String>,
    /// Wall-clock budget of one plugin call, whatever the plugin does (computes, sleeps,
    /// blocks), such as `30s` → `wasm.timeout` when exceeded.
    #[serde(default)]
    pub wall_per_call: Option<String>,
    /// Largest memory of one plugin instance, such as `64MiB` → `wasm.memory`.
    #[serde(default)]
    pub memory: Option<String>,
    /// Largest item a plugin may produce, such as `1MiB` → `wasm.item-size`.
    #[serde(default)]
    pub max_item_size: Option<String>,
    /// Largest ExecutionContext a plugin may return, such as `256KiB` → `wasm.context-size`.
    #[serde(default)]
    pub max_context_size: Option<String>,
    /// Deterministic budget per item, in WebAssembly fuel, such as `50M` → `wasm.timeout`.
    #[serde(default)]
    pub fuel_per_item: Option<String>,
}

/// Spring Batch's fault-tolerant step configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FaultToleranceSpec {
    /// Which errors may be skipped, and how many.
    #[serde(default)]
    pub skip: Option<SkipSpec>,
    /// Which errors are retried, and how many attempts.
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// Errors that do not roll the chunk back.
    #[serde(default)]
    pub no_rollback: Option<KindsSpec>,
    /// Errors that fail the step at once: never retried or skipped, one rollback.
    #[serde(default)]
    pub fatal: Option<KindsSpec>,
    /// Cache processor results across replays instead of processing items again.
    #[serde(default)]
    pub processor_non_transactional: bool,
    /// `in-place` (the default, Spring Batch 6) or `replay` (Spring Batch 5.x).
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    /// The exit code of a step that completed with skips (default `COMPLETED`).
    #[serde(default)]
    pub exit_status_on_skips: Option<String>,
}

/// `skip:` rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipSpec {
    /// Skippable kinds (a kind matches its sub-kinds).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Never-skip kinds (Spring's noSkip); the most specific rule wins.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Skips allowed in the step execution, across read, process and write (default 10).
    #[serde(default, deserialize_with = "whole_opt")]
    pub limit: Option<Spanned<i64>>,
    /// `limit` (default), `always` or `never`.
    #[serde(default)]
    pub policy: Option<Spanned<String>>,
}

/// `retry:` rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Retryable kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Never-retry kinds.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Attempts in total, as Spring's retryLimit.
    #[serde(default, deserialize_with = "whole_opt")]
    pub limit: Option<Spanned<i64>>,
    /// Pause between attempts: `{ initial, multiplier, max }` or `{ fixed }`.
    #[serde(default)]
    pub backoff: Option<Spanned<BackoffSpec>>,
}

/// `backoff:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffSpec {
    /// First pause of an exponential backoff, such as `100ms`.
    #[serde(default)]
    pub initial: Option<String>,
    /// Growth factor per attempt (default 2.0).
    #[serde(default)]
    pub multiplier: Option<f64>,
    /// Cap of an exponential backoff (default 30s).
    #[serde(default)]
    pub max: Option<String>,
    /// A fixed pause, such as `1s`.
    #[serde(default)]
    pub fixed: Option<String>,
}

/// A list of kinds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindsSpec {
    /// Error kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// A reference to a component: `plugin: NAME[@VERSION]` from the registry, or `path: FILE.wasm`
/// relative to job.yaml; plus its `config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    /// A registered plugin name, optionally `@version`.
    #[serde(default)]
    pub plugin: Option<Spanned<String>>,
    /// A component file, relative to job.yaml.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// A reader built into the host: `skipped-items`.
    #[serde(default)]
    pub builtin: Option<Spanned<String>>,
    /// The plugin's own configuration, passed to it as JSON.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// A processor only: how many instances process slices of each chunk at once.
    #[serde(default, deserialize_with = "whole_opt")]
    pub concurrency: Option<Spanned<i64>>,
}

/// job.yaml could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{path}: cannot read the job file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// YAML syntax or shape error.
    #[error("{}", .0)]
    Parse(Diagnostic),
}

/// One problem in a job file, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The job file.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// The field path, such as `steps[0].chunk.size`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl JobSpec {
    /// How many plugin instances the job can have alive at once: per concurrently running step
    /// a reader, a writer, its processor instances (`concurrency`) and a fresh one replacing a
    /// trapped instance, times the widest split or partition concurrency, plus one for a decider.
    pub fn max_instances(&self) -> u32 {
        let (widest, processors) = self.widths();
        u32::try_from(widest * (3 + processors) + 1).unwrap_or(u32::MAX)
    }

    /// How many guest calls the job can make at once: the widest split or partition concurrency
    /// times the largest processor concurrency.
    pub fn parallelism(&self) -> u32 {
        let (widest, processors) = self.widths();
        u32::try_from(widest * processors).unwrap_or(u32::MAX)
    }

    /// The widest split or partition concurrency, and the largest processor concurrency.
    fn widths(&self) -> (usize, usize) {
        let partitions = self.steps.value.iter().filter_map(|s| {
            let p = &s.partition.as_ref()?.value;
            let n = p
                .concurrency
                .as_ref()
                .map_or_else(default_partition_concurrency, |c| c.value);
            Some(n.clamp(1, MAX_PARTITIONS) as usize)
        });
        let widest = self
            .steps
            .value
            .iter()
            .filter_map(|s| s.split.as_ref().map(|b| b.value.len()))
            .chain(partitions)
            .max()
            .unwrap_or(1)
            .max(1);
        let processors = self
            .steps
            .value
            .iter()
            .filter_map(|s| {
                s.chunk
                    .as_ref()?
                    .value
                    .processor
                    .as_ref()?
                    .value
                    .concurrency
                    .as_ref()
            })
            .map(|c| c.value.clamp(1, MAX_PROCESSOR_CONCURRENCY))
            .max()
            .unwrap_or(1) as usize;
        (widest, processors)
    }

    /// True when some step sets `limits.fuel-per-item` (the runtime must then meter fuel).
    pub fn sets_fuel(&self) -> bool {
        self.steps.value.iter().any(|s| {
            let chunk = s.chunk.as_ref().and_then(|c| c.value.limits.as_ref());
            [chunk, s.limits.as_ref()]
                .into_iter()
                .flatten()
                .any(|l| l.value.fuel_per_item.is_some())
        })
    }

    /// Reads and parses `path`.
    pub fn from_path(path: &Path) -> Result<JobSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        JobSpec::from_str(&text, path)
    }

    /// Parses job.yaml text; `path` is used in messages.
    pub fn from_str(text: &str, path: &Path) -> Result<JobSpec, SpecError> {
        // YAML counts a lone CR as a line break, editors do not: refused first (line_endings).
        if let Some(d) = line_endings::lone_carriage_return(text, path) {
            return Err(SpecError::Parse(d));
        }
        // The field path of a type error (`steps[0].chunk.size`), tracked while parsing.
        let mut field = String::new();
        serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                field = e.path().to_string();
                e.into_inner()
            })
        })
        .map(|spec: JobSpec| JobSpec {
            source: text.to_owned(),
            ..spec
        })
        .map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = clean_message(&e.to_string());
            let hint = hint_for(&message);
            // A path is only worth printing when it names more than the document itself.
            let field = spanned_path(&field);
            SpecError::Parse(Diagnostic {
                file: path.to_path_buf(),
                line,
                column,
                field,
                message,
                hint,
            })
        })
    }
}

/// A serde path as job.yaml spells it: without the `value` segments of the `Spanned` wrappers
/// (`steps.value[0].chunk.value.size.value` → `steps[0].chunk.size`), empty for the document.
fn spanned_path(path: &str) -> String {
    if path == "." || path == "?" {
        return String::new();
    }
    let mut out = path.replace(".value[", "[").replace(".value.", ".");
    // `?` stands for a segment the parser had not named yet (a syntax error inside a map).
    while let Some(p) = out
        .strip_suffix(".value")
        .or_else(|| out.strip_suffix(".?"))
    {
        out = p.to_owned();
    }
    if out == "?" { String::new() } else { out }
}

/// The parser's message without its own location suffix and snippet (we print our own).
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let first = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let mut msg = first.trim_start_matches("error: ");
    // Drop a leading "line N column M: " (we print the location ourselves).
    if let Some(rest) = msg.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
        && rest.split(' ').nth(1) == Some("column")
    {
        msg = after;
    }
    match msg {
        "invalid i64" | "invalid u64" | "invalid i32" | "invalid u32" => {
            "expected a whole number".to_owned()
        }
        "invalid f64" => "expected a number".to_owned(),
        "invalid bool" => "expected true or false".to_owned(),
        other => match other.strip_prefix("duplicate mapping key: ") {
            // The parser's own advice ("set DuplicateKeyPolicy…") is for programmers.
            Some(rest) => {
                let key = rest.split(',').next().unwrap_or(rest).trim();
                format!("the key `{key}` appears twice in the same map")
            }
            None => other.to_owned(),
        },
    }
}

fn hint_for(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some("check the spelling; docs/job-yaml.md lists every field".into())
    } else if message.contains("missing field") {
        Some("add the field; docs/job-yaml.md shows a complete job".into())
    } else if message.contains("appears twice") {
        Some("keep one of them: YAML keys must be unique, and neither is silently ignored".into())
    } else if message.contains("invalid type") || message.starts_with("expected") {
        Some("docs/job-yaml.md gives each field's type".into())
    } else {
        None
    }
}

/// A source location of a spanned value, as `(line, column)`.
pub fn location<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}
