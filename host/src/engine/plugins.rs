//! `engine` → step → plugins: what a step's plugins are given (config, grant, sandbox), which
//! plugins a step runs, and the chunk step's instances ([`Plugins`]), created, initialised and
//! opened, with what it takes to replace one that trapped.

use super::builtin::{CsvReader, CsvWriter, JsonlReader, JsonlWriter};
use super::failure::{Call, Cause, PluginFailure, StepFailure};
#[cfg(test)]
use super::items::{ItemProcessor, ItemReader, ItemWriter};
use super::processor::StepProcessor;
use super::read_ahead::ReadAhead;
use super::reader::{SkippedItemsReader, StepReader, TableReader};
use super::writer::{StepWriter, TableWriter};
use super::{Run, StopFlag};
use crate::domain::{Durability, ExecutionContext, Role, StepExecution, StepPlugin};
use crate::plan::{
    ChunkPlan, FileConfig, JobPlan, PluginPlan, ReaderPlan, StepKind, StepPlan, WriterPlan,
};
use crate::plugin::{
    Grant, InstantiationError, Prepared, ProcessorInstance, ReaderInstance, Sandbox, Setup,
    WriterInstance,
};
use crate::repository::JobRepository;

/// What a plugin of `step` learns in `init`: its config with `${…}` resolved against the job
/// parameters and `job_context`.
pub(super) fn plugin_setup(
    plan: &JobPlan,
    step: &StepPlan,
    plugin: &PluginPlan,
    job_context: &ExecutionContext,
) -> Result<Setup, String> {
    let config = crate::domain::substitute(&plugin.config, &plan.params, job_context)
        .map_err(|e| format!("{} config: {e}", plugin.label))?;
    Ok(Setup {
        config,
        params: plan.params.clone(),
        job_name: plan.name.clone(),
        step_name: step.name.clone(),
    })
}

/// The step's plugin components, by role.
fn components(step: &StepPlan) -> Vec<(Role, &PluginPlan)> {
    match &step.kind {
        StepKind::Chunk(chunk) => {
            let mut out = Vec::new();
            if let ReaderPlan::Component(p) = &chunk.reader {
                out.push((Role::Reader, p));
            }
            if let Some(p) = &chunk.processor {
                out.push((Role::Processor, p));
            }
            if let WriterPlan::Component(p) = &chunk.writer {
                out.push((Role::Writer, p));
            }
            out
        }
        StepKind::Tasklet(p) => vec![(Role::Tasklet, p)],
        StepKind::Decider(p) => vec![(Role::Decider, p)],
        StepKind::Split(_) | StepKind::Partition(_) => Vec::new(),
    }
}

/// Resolves the `${…}` placeholders of every plugin config of the step, so a missing
/// `job.context` key fails the step before any plugin starts.
pub(super) fn resolve_configs(
    plan: &JobPlan,
    step: &StepPlan,
    job_context: &ExecutionContext,
) -> Result<(), StepFailure> {
    for (_, p) in components(step) {
        plugin_setup(plan, step, p, job_context).map_err(StepFailure::Setup)?;
    }
    Ok(())
}

/// The plugins `step` runs, built-ins included, in role order (recorded with its execution so a
/// restart can refuse changed code).
pub(crate) fn step_plugins(step: &StepPlan) -> Vec<StepPlugin> {
    let component = |role, p: &PluginPlan| StepPlugin {
        role,
        label: p.label.clone(),
        digest: p.digest.clone(),
    };
    let builtin = |role, label: &str| StepPlugin {
        role,
        label: label.to_owned(),
        digest: StepPlugin::BUILTIN.to_owned(),
    };
    match &step.kind {
        StepKind::Chunk(chunk) => {
            let mut out = Vec::new();
            match &chunk.reader {
                ReaderPlan::Component(p) => out.push(component(Role::Reader, p)),
                _ => out.push(builtin(Role::Reader, chunk.reader.label())),
            }
            if let Some(p) = &chunk.processor {
                out.push(component(Role::Processor, p));
            }
            match &chunk.writer {
                WriterPlan::Component(p) => out.push(component(Role::Writer, p)),
                _ => out.push(builtin(Role::Writer, chunk.writer.label())),
            }
            out
        }
        StepKind::Tasklet(p) => vec![component(Role::Tasklet, p)],
        StepKind::Decider(p) => vec![component(Role::Decider, p)],
        StepKind::Split(_) | StepKind::Partition(_) => Vec::new(),
    }
}

/// Opens the directory `step` grants its plugins, as it is now (see [`Grant`]).
pub(super) fn open_grant(plan: &JobPlan, step: &StepPlan) -> Result<Grant, StepFailure> {
    Grant::open(
        &plan.workdir,
        step.directory.as_deref().unwrap_or(&plan.workdir),
    )
    .map_err(|e| StepFailure::Setup(e.to_string()))
}

/// The sandbox of one plugin instance of `step`.
pub(super) fn plugin_sandbox<R>(
    run: &Run<'_, R>,
    step: &StepPlan,
    grant: &Grant,
    role: Role,
    plugin: &PluginPlan,
) -> Sandbox {
    run.runtime.sandbox(
        grant,
        step.read_only,
        format!("{}/{role} {}", step.name, plugin.label),
        step.limits,
        run.stop.interrupt_handle(),
    )
}

/// The failure to create an instance.
pub(super) fn not_instantiated(
    role: Role,
    plugin: &str,
    call: Call,
    e: InstantiationError,
) -> StepFailure {
    PluginFailure {
        role,
        plugin: plugin.to_owned(),
        call,
        cause: Cause::Instantiation(e.to_string()),
        verdict: None,
    }
    .into()
}

/// What it takes to replace a component instance that trapped (a trapped store cannot be
/// entered again): the prepared component, its sandbox and its setup.
pub(crate) struct Respawn {
    prepared: Prepared,
    sandbox: Sandbox,
    setup: Setup,
}

/// How messages name the step's three plugins.
#[derive(Debug, Clone, Default)]
pub(crate) struct Labels {
    pub(crate) reader: String,
    pub(crate) processor: String,
    pub(crate) writer: String,
}

impl Labels {
    /// The label of the plugin in `role`.
    pub(crate) fn of(&self, role: Role) -> &str {
        match role {
            Role::Reader => &self.reader,
            Role::Processor => &self.processor,
            _ => &self.writer,
        }
    }
}

/// A chunk step's plugin instances.
pub(crate) struct Plugins {
    pub(crate) reader: StepReader,
    pub(crate) processor: Option<StepProcessor>,
    /// More instances of the processor, for `processor.concurrency` above 1.
    pub(crate) helpers: Vec<StepProcessor>,
    pub(crate) writer: StepWriter,
    pub(crate) labels: Labels,
    processor_respawn: Option<Respawn>,
    writer_respawn: Option<Respawn>,
}

impl Plugins {
    /// Plugins that run in the host (no component, nothing to respawn): the unit tests' seam.
    #[cfg(test)]
    pub(crate) fn native(
        reader: Box<dyn ItemReader>,
        processor: Option<Box<dyn ItemProcessor>>,
        writer: Box<dyn ItemWriter>,
    ) -> Self {
        Plugins {
            reader: StepReader::Native(reader),
            processor: processor.map(StepProcessor::Native),
            helpers: Vec::new(),
            writer: StepWriter::Native(writer),
            labels: Labels {
                reader: "native-reader".into(),
                processor: "native-processor".into(),
                writer: "native-writer".into(),
            },
            processor_respawn: None,
            writer_respawn: None,
        }
    }

    /// The failure of a call of the plugin in `role`.
    pub(crate) fn failure(
        &self,
        role: Role,
        call: Call,
        e: &crate::plugin::PluginError,
    ) -> StepFailure {
        PluginFailure::of(role, self.labels.of(role), call, e)
    }

    /// The reader's ItemStream state to commit (its `update`).
    pub(crate) async fn reader_state(&mut self) -> Result<ExecutionContext, StepFailure> {
        let r = self.reader.update().await;
        r.map_err(|e| self.failure(Role::Reader, Call::Update, &e))
    }

    /// The writer's ItemStream state to commit (its `update`).
    pub(crate) async fn writer_state(&mut self) -> Result<ExecutionContext, StepFailure> {
        let r = self.writer.update().await;
        r.map_err(|e| self.failure(Role::Writer, Call::Update, &e))
    }

    /// Replaces a trapped processor component with a fresh, initialised instance.
    pub(crate) async fn respawn_processor(&mut self) -> Result<(), StepFailure> {
        self.respawn_processor_at(0).await
    }

    /// Replaces processor instance `instance` (0: the processor, `i`: helper `i - 1`), which
    /// trapped, with a fresh, initialised one.
    pub(crate) async fn respawn_processor_at(
        &mut self,
        instance: usize,
    ) -> Result<(), StepFailure> {
        let Some(r) = &self.processor_respawn else {
            return Ok(());
        };
        let fresh = StepProcessor::Wasm(
            new_processor(
                r,
                &self.labels.processor,
                Call::InstantiateAfterTrap,
                Call::InitAfterTrap,
            )
            .await?,
        );
        match instance {
            0 => self.processor = Some(fresh),
            i => self.helpers[i - 1] = fresh,
        }
        Ok(())
    }

    /// Replaces a trapped writer component with a fresh instance opened at the last committed
    /// context of `step`.
    pub(crate) async fn respawn_writer(&mut self, step: &StepExecution) -> Result<(), StepFailure> {
        let Some(r) = &self.writer_respawn else {
            return Ok(());
        };
        let label = &self.labels.writer;
        let fail =
            |call, e: &crate::plugin::PluginError| PluginFailure::of(Role::Writer, label, call, e);
        let mut fresh = WriterInstance::new(&r.prepared, &r.sandbox)
            .await
            .map_err(|e| not_instantiated(Role::Writer, label, Call::InstantiateAfterTrap, e))?;
        fresh
            .init(&r.setup)
            .await
            .map_err(|e| fail(Call::InitAfterTrap, &e))?;
        fresh
            .open(&step.context.scoped("writer"))
            .await
            .map_err(|e| fail(Call::ReopenAfterTrap, &e))?;
        fresh
            .before_chunk()
            .await
            .map_err(|e| fail(Call::BeforeChunk, &e))?;
        self.writer = StepWriter::Wasm(fresh);
        Ok(())
    }
}

/// Creates, initialises and opens the plugins of a chunk step at the step's last committed
/// context `ctx` (reader, then processor, then writer, as Spring opens its streams).
pub(super) async fn start_chunk<R: JobRepository>(
    run: &Run<'_, R>,
    grant: &Grant,
    step: &StepPlan,
    chunk: &ChunkPlan,
    job_context: &ExecutionContext,
    ctx: &ExecutionContext,
) -> Result<Plugins, StepFailure> {
    let respawn = |role, p: &PluginPlan| Respawn {
        prepared: p.prepared.clone(),
        sandbox: plugin_sandbox(run, step, grant, role, p),
        // `run_step` resolved every config before the step started, so this cannot fail.
        setup: plugin_setup(run.plan, step, p, job_context).unwrap_or_else(|_| Setup {
            config: p.config.clone(),
            params: run.plan.params.clone(),
            job_name: run.plan.name.clone(),
            step_name: step.name.clone(),
        }),
    };
    let labels = Labels {
        reader: chunk.reader.label().to_owned(),
        processor: chunk
            .processor
            .as_ref()
            .map(|p| p.label.clone())
            .unwrap_or_default(),
        writer: chunk.writer.label().to_owned(),
    };
    let reader_respawn = match &chunk.reader {
        ReaderPlan::Component(p) => Some(respawn(Role::Reader, p)),
        _ => None,
    };
    let writer_respawn = match &chunk.writer {
        WriterPlan::Component(p) => Some(respawn(Role::Writer, p)),
        _ => None,
    };
    let processor_respawn = chunk
        .processor
        .as_ref()
        .map(|p| respawn(Role::Processor, p));

    let fail = |role, call, e: &crate::plugin::PluginError| {
        PluginFailure::of(role, labels.of(role), call, e)
    };
    // A built-in's path may name job parameters and job context values, as a plugin's config may.
    let file = |role, f: &FileConfig| {
        builtin_file(run.plan, f, job_context).map_err(|e| fail(role, Call::Open, &e))
    };
    let limit = step.limits.max_item_size;
    let sync = run.plan.durability == Durability::PowerLoss;
    let mut reader =
        match (&reader_respawn, &chunk.reader) {
            (Some(r), _) => {
                StepReader::Wasm(ReaderInstance::new(&r.prepared, &r.sandbox).await.map_err(
                    |e| not_instantiated(Role::Reader, &labels.reader, Call::Instantiate, e),
                )?)
            }
            (None, ReaderPlan::SkippedItems(config)) => StepReader::Native(Box::new(
                SkippedItemsReader::load(config, run.repo)
                    .await
                    .map_err(|e| fail(Role::Reader, Call::Open, &e))?,
            )),
            (None, ReaderPlan::SqlTable(config)) => {
                let bound = |v: &Option<serde_json::Value>, which: &str| {
                    resolve_bound(run.plan, v, which, job_context)
                        .map_err(|e| fail(Role::Reader, Call::Open, &e))
                };
                let (min, max) = (bound(&config.min, "min")?, bound(&config.max, "max")?);
                StepReader::Native(Box::new(
                    TableReader::load(config, min, max, run.repo)
                        .await
                        .map_err(|e| fail(Role::Reader, Call::Open, &e))?,
                ))
            }
            (None, ReaderPlan::Csv(config)) => {
                let mut config = config.clone();
                config.file = file(Role::Reader, &config.file)?;
                StepReader::Native(Box::new(ReadAhead::new(Box::new(CsvReader::new(
                    config,
                    grant.clone(),
                    limit,
                )))))
            }
            (None, ReaderPlan::Jsonl(f)) => StepReader::Native(Box::new(ReadAhead::new(Box::new(
                JsonlReader::new(file(Role::Reader, f)?, grant.clone(), limit),
            )))),
            (None, ReaderPlan::Component(_)) => unreachable!("a reader component has a respawn"),
        };
    let mut writer =
        match (&writer_respawn, &chunk.writer) {
            (Some(r), _) => {
                StepWriter::Wasm(WriterInstance::new(&r.prepared, &r.sandbox).await.map_err(
                    |e| not_instantiated(Role::Writer, &labels.writer, Call::Instantiate, e),
                )?)
            }
            (None, WriterPlan::SqlTable { table }) => {
                StepWriter::Native(Box::new(TableWriter::new(table.clone())))
            }
            (None, WriterPlan::Jsonl(f)) => StepWriter::Native(Box::new(JsonlWriter::new(
                file(Role::Writer, f)?,
                grant.clone(),
                sync,
                step.read_only,
            ))),
            (None, WriterPlan::Csv(config)) => {
                let mut config = config.clone();
                config.file = file(Role::Writer, &config.file)?;
                StepWriter::Native(Box::new(CsvWriter::new(
                    config,
                    grant.clone(),
                    sync,
                    step.read_only,
                )))
            }
            (None, WriterPlan::Component(_)) => unreachable!("a writer component has a respawn"),
        };
    if let Some(r) = &reader_respawn {
        reader
            .init(&r.setup)
            .await
            .map_err(|e| fail(Role::Reader, Call::Init, &e))?;
    }
    let mut processors = Vec::new();
    if let Some(r) = &processor_respawn {
        for _ in 0..chunk.processor_concurrency.max(1) {
            let fresh = new_processor(r, &labels.processor, Call::Instantiate, Call::Init).await?;
            processors.push(StepProcessor::Wasm(fresh));
        }
    }
    let mut processors = processors.into_iter();
    let processor = processors.next();
    let helpers = processors.collect();
    if let Some(r) = &writer_respawn {
        writer
            .init(&r.setup)
            .await
            .map_err(|e| fail(Role::Writer, Call::Init, &e))?;
    }
    reader
        .open(&ctx.scoped("reader"))
        .await
        .map_err(|e| fail(Role::Reader, Call::Open, &e))?;
    writer
        .open(&ctx.scoped("writer"))
        .await
        .map_err(|e| fail(Role::Writer, Call::Open, &e))?;
    Ok(Plugins {
        reader,
        processor,
        helpers,
        writer,
        labels,
        processor_respawn,
        writer_respawn,
    })
}

/// A new processor instance, initialised; `instantiate` and `init` name the calls in a failure.
async fn new_processor(
    r: &Respawn,
    label: &str,
    instantiate: Call,
    init: Call,
) -> Result<ProcessorInstance, StepFailure> {
    let mut fresh = ProcessorInstance::new(&r.prepared, &r.sandbox)
        .await
        .map_err(|e| not_instantiated(Role::Processor, label, instantiate, e))?;
    fresh
        .init(&r.setup)
        .await
        .map_err(|e| PluginFailure::of(Role::Processor, label, init, &e))?;
    Ok(fresh)
}

/// A `sql-table` reader's `min` or `max` with `${…}` resolved: a whole number, or `None`.
fn resolve_bound(
    plan: &JobPlan,
    value: &Option<serde_json::Value>,
    which: &str,
    job_context: &ExecutionContext,
) -> Result<Option<i64>, crate::plugin::PluginError> {
    let Some(v) = value else { return Ok(None) };
    let bad = |message: String| {
        crate::plugin::PluginError::Failed(crate::domain::ItemError::new(
            format!("config.{which}"),
            message,
        ))
    };
    let resolved = crate::domain::substitute(v, &plan.params, job_context)
        .map_err(|e| bad(format!("`{which}: {v}`: {e}")))?;
    let n = match &resolved {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.map(Some).ok_or_else(|| {
        bad(format!(
            "`{which}: {v}` became {resolved}, not a whole number"
        ))
    })
}

/// A built-in's file with `${…}` placeholders resolved; it must still be a plain relative
/// path (the grant refuses anything that would leave the step's directory in any case).
fn builtin_file(
    plan: &JobPlan,
    f: &FileConfig,
    job_context: &ExecutionContext,
) -> Result<FileConfig, crate::plugin::PluginError> {
    let bad = |message: String| {
        crate::plugin::PluginError::Failed(crate::domain::ItemError::new("config.path", message))
    };
    let value = serde_json::Value::String(f.path.clone());
    let path = match crate::domain::substitute(&value, &plan.params, job_context) {
        Ok(serde_json::Value::String(p)) => p,
        Ok(other) => other.to_string(),
        Err(e) => return Err(bad(format!("`path: {}`: {e}", f.path))),
    };
    let plain = std::path::Path::new(&path).components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if path.is_empty() || !plain {
        return Err(bad(format!(
            "`path: {}` became `{path}`, which is not a relative path inside the step's directory",
            f.path
        )));
    }
    let range = match &f.range {
        None => None,
        Some(r) => Some(
            crate::domain::substitute(r, &plan.params, job_context)
                .map_err(|e| bad(format!("`range: {r}`: {e}")))?,
        ),
    };
    Ok(FileConfig { path, range })
}

/// The stop checks shared by the chunk and tasklet loops: from this process (a signal) or from
/// another one (`batch-host stop`, which marks the execution STOPPING). The repository is asked
/// at most every [`STOP_POLL_INTERVAL`](super::STOP_POLL_INTERVAL); its answer is shared with
/// every step of the run through `stop`.
pub(super) async fn stop_requested<R: JobRepository>(
    repo: &R,
    stop: &StopFlag,
    job_execution_id: i64,
) -> Result<bool, StepFailure> {
    if stop.is_requested() {
        return Ok(true);
    }
    if stop.poll_due()
        && repo.execution_status(job_execution_id).await?
            == Some(crate::domain::BatchStatus::Stopping)
    {
        stop.request();
        return Ok(true);
    }
    Ok(false)
}
