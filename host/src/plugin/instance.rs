//! Plugin instances: one `Store` each, with a WASI context that sees one directory.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::Prepared;
use super::bindings::{decider, log, processor, reader, tasklet, types, writer};
use super::output::{GuestOutput, Stream};
use crate::domain::{ExecutionContext, ItemError, JobParameters};

/// Why a guest stopped abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// A panic, out-of-bounds access, stack overflow or other trap: `wasm.trap`.
    Trap,
    /// The call ran past its CPU deadline (`limits.cpu-per-call`): `wasm.timeout`.
    Timeout,
    /// The guest tried to grow its memory past `limits.memory`: `wasm.memory`.
    Memory,
}

impl TrapKind {
    /// The error kind policies match on.
    pub fn kind(self) -> &'static str {
        match self {
            TrapKind::Trap => "wasm.trap",
            TrapKind::Timeout => "wasm.timeout",
            TrapKind::Memory => "wasm.memory",
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
}

impl PluginError {
    /// The error as a kind and message, for exit messages and policies (`wasm.*` for traps).
    pub fn to_item_error(&self) -> ItemError {
        match self {
            PluginError::Failed(e) => e.clone(),
            PluginError::Trap(k, m) => ItemError::new(k.kind(), m.clone()),
        }
    }
}

/// Resource limits of one plugin instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one call into the guest, enforced with epoch interruption.
    pub cpu_per_call: std::time::Duration,
    /// Largest linear memory the guest may grow to, in bytes.
    pub memory: usize,
    /// Largest item a plugin may hand to the host, in bytes.
    pub max_item_size: usize,
    /// Deterministic budget: WebAssembly fuel per item of a call (calls without items count as
    /// one item). `None`: unlimited.
    pub fuel_per_item: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_per_call: std::time::Duration::from_secs(60),
            memory: 256 << 20,
            max_item_size: 16 << 20,
            fuel_per_item: None,
        }
    }
}

impl Limits {
    /// The built-in ceilings no job may exceed (a host configuration may lower them).
    pub fn ceilings() -> Self {
        Limits {
            cpu_per_call: std::time::Duration::from_secs(600),
            memory: 4 << 30,
            max_item_size: 1 << 30,
            fuel_per_item: None,
        }
    }

    /// Each limit the tighter of the two (`None` fuel is unlimited).
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            cpu_per_call: self.cpu_per_call.min(other.cpu_per_call),
            memory: self.memory.min(other.memory),
            max_item_size: self.max_item_size.min(other.max_item_size),
            fuel_per_item: match (self.fuel_per_item, other.fuel_per_item) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// Denies memory growth past the limit and remembers that it did.
struct MemoryLimiter {
    max: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

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

/// The directory a plugin instance may see, its limits, and its label for logs.
#[derive(Debug, Clone)]
pub struct Sandbox {
    workdir: PathBuf,
    read_only: bool,
    fuel: bool,
    label: Arc<str>,
    limits: Limits,
}

impl Sandbox {
    pub(super) fn new(
        workdir: PathBuf,
        read_only: bool,
        fuel: bool,
        label: String,
        limits: Limits,
    ) -> Self {
        Sandbox {
            workdir,
            read_only,
            fuel,
            label: label.into(),
            limits,
        }
    }
}

/// Per-instance store data.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    label: Arc<str>,
    stderr: GuestOutput,
    limiter: MemoryLimiter,
    limits: Limits,
    /// Epoch ticks the current call may still run for.
    ticks_left: u64,
    /// The engine meters fuel.
    fuel: bool,
}

impl wasmtime_wasi_io::IoView for PluginState {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

/// Arms the per-call CPU deadline before entering the guest.
///
/// The guest is interrupted at every epoch tick: it yields to the async executor (so concurrent
/// branches of a split and the rest of the host keep running even while one guest computes) and
/// its budget shrinks by one tick; when the budget is spent the call traps with
/// `Trap::Interrupt` (`wasm.timeout`). Time the guest spends suspended in a host call is not
/// charged.
fn arm(store: &mut Store<PluginState>) {
    arm_items(store, 1);
}

/// [`arm`] for a call that carries `items` items: the fuel budget is per item.
fn arm_items(store: &mut Store<PluginState>, items: usize) {
    let limits = store.data().limits;
    let ticks = limits.cpu_per_call.as_millis() / super::EPOCH_TICK.as_millis().max(1);
    store.data_mut().ticks_left = u64::try_from(ticks).unwrap_or(u64::MAX).max(1);
    store.set_epoch_deadline(1);
    let fuel = match limits.fuel_per_item {
        Some(per_item) => per_item.saturating_mul(items.max(1) as u64),
        None => u64::MAX,
    };
    // Only an engine built with fuel metering has fuel to set (plan checks that a job with
    // `fuel-per-item` gets one).
    if store.data().fuel {
        let _ = store.set_fuel(fuel);
    }
}

/// The epoch callback behind [`arm`].
fn on_epoch(
    mut ctx: wasmtime::StoreContextMut<'_, PluginState>,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let state = ctx.data_mut();
    if state.ticks_left <= 1 {
        return Ok(wasmtime::UpdateDeadline::Interrupt);
    }
    state.ticks_left -= 1;
    Ok(wasmtime::UpdateDeadline::Yield(1))
}

/// Rejects an item larger than the sandbox allows.
fn check_size(store: &Store<PluginState>, item: &[u8]) -> Result<(), ItemError> {
    let max = store.data().limits.max_item_size;
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

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for PluginState {}

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        guest_log(&self.label, level, &message, &fields);
    }
}

/// Forwards a guest log record to `tracing`, tagged with the plugin label.
fn guest_log(plugin: &str, level: log::Level, message: &str, fields: &[(String, String)]) {
    let fields = if fields.is_empty() {
        String::new()
    } else {
        fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match level {
        log::Level::Trace => tracing::trace!(target: "batch.plugin", plugin, %fields, "{message}"),
        log::Level::Debug => tracing::debug!(target: "batch.plugin", plugin, %fields, "{message}"),
        log::Level::Info => tracing::info!(target: "batch.plugin", plugin, %fields, "{message}"),
        log::Level::Warn => tracing::warn!(target: "batch.plugin", plugin, %fields, "{message}"),
        log::Level::Error => tracing::error!(target: "batch.plugin", plugin, %fields, "{message}"),
    }
}

fn new_store(pre: &Prepared, sandbox: &Sandbox) -> anyhow::Result<Store<PluginState>> {
    let engine = match pre {
        Prepared::Reader(p) => p.engine(),
        Prepared::Processor(p) => p.engine(),
        Prepared::Writer(p) => p.engine(),
        Prepared::Tasklet(p) => p.engine(),
        Prepared::Decider(p) => p.engine(),
    };
    let stderr = GuestOutput::new(sandbox.label.clone(), Stream::Stderr);
    let mut wasi = WasiCtx::builder();
    // No environment, no arguments, no network, no inherited stdio: one directory, mapped to
    // the guest's current directory so relative paths in plugin configs just work. Stdout and
    // stderr go to the log within a byte budget (a flood is dropped, never fatal); stderr's
    // tail is kept for error messages (a Rust panic message lands there).
    let perms = match sandbox.read_only {
        true => FsPerms::ReadOnly,
        false => FsPerms::ReadWrite,
    };
    wasi.preopened_dir(&sandbox.workdir, ".", perms)?
        .stdout(GuestOutput::new(sandbox.label.clone(), Stream::Stdout))
        .stderr(stderr.clone());
    let mut store = Store::new(
        engine,
        PluginState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            label: sandbox.label.clone(),
            stderr,
            limiter: MemoryLimiter {
                max: sandbox.limits.memory,
                hit: false,
            },
            limits: sandbox.limits,
            ticks_left: 1,
            fuel: sandbox.fuel,
        },
    );
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_callback(on_epoch);
    arm(&mut store);
    Ok(store)
}

/// Turns the two-level result of an export call into `PluginError`.
fn flatten<T>(
    store: &Store<PluginState>,
    r: wasmtime::Result<Result<T, types::PluginError>>,
) -> Result<T, PluginError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(PluginError::Failed(ItemError::new(e.kind, e.message))),
        Err(trap) => Err(trap_error(store, &trap)),
    }
}

fn trap_error(store: &Store<PluginState>, err: &wasmtime::Error) -> PluginError {
    let trap = err.downcast_ref::<wasmtime::Trap>();
    let kind = if matches!(
        trap,
        Some(&wasmtime::Trap::Interrupt) | Some(&wasmtime::Trap::OutOfFuel)
    ) {
        TrapKind::Timeout
    } else if store.data().limiter.hit {
        TrapKind::Memory
    } else {
        TrapKind::Trap
    };
    let mut message = match (kind, trap) {
        (TrapKind::Timeout, Some(&wasmtime::Trap::OutOfFuel)) => format!(
            "the call used up its fuel budget of {} per item (limits.fuel-per-item)",
            store.data().limits.fuel_per_item.unwrap_or(u64::MAX)
        ),
        (TrapKind::Timeout, _) => format!(
            "the call ran longer than its {:?} limit (limits.cpu-per-call)",
            store.data().limits.cpu_per_call
        ),
        (TrapKind::Memory, _) => format!(
            "the plugin tried to grow its memory past {} bytes (limits.memory)",
            store.data().limits.memory
        ),
        (_, Some(trap)) => trap.to_string(),
        (_, None) => format!("{err:#}"),
    };
    let tail = store.data().stderr.tail();
    let tail = tail.trim();
    if !tail.is_empty() {
        let start = tail.len().saturating_sub(2000);
        let start = (start..tail.len())
            .find(|i| tail.is_char_boundary(*i))
            .unwrap_or(0);
        message.push_str(&format!("; guest stderr: {}", &tail[start..]));
    }
    PluginError::Trap(kind, message)
}

fn wire_setup(setup: &Setup) -> types::PluginSetup {
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

fn wire_summary(e: &crate::domain::StepExecution) -> types::StepSummary {
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

fn wire_context(ctx: &ExecutionContext) -> Vec<types::ContextEntry> {
    ctx.iter()
        .map(|(k, v)| types::ContextEntry {
            key: k.to_owned(),
            value: v.to_string(),
        })
        .collect()
}

fn domain_context(entries: Vec<types::ContextEntry>) -> Result<ExecutionContext, PluginError> {
    let mut ctx = ExecutionContext::new();
    for e in entries {
        let value = serde_json::from_str(&e.value).map_err(|err| {
            PluginError::Failed(ItemError::new(
                "plugin.protocol",
                format!(
                    "the plugin returned context key `{}` whose value is not JSON: {err}",
                    e.key
                ),
            ))
        })?;
        ctx.put(e.key, value);
    }
    Ok(ctx)
}

/// One batch of read outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatch {
    /// Items or per-item errors, in input order.
    pub outcomes: Vec<Result<Vec<u8>, ItemError>>,
    /// The input is exhausted.
    pub end: bool,
}

/// What the processor did with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessOutcome {
    /// Passed on (possibly transformed).
    Item(Vec<u8>),
    /// Filtered out.
    Filtered,
    /// Failed.
    Error(ItemError),
}

/// Generates `init` and the ItemStream calls shared by readers and writers.
macro_rules! common_calls {
    ($bindings:ident) => {
        /// Calls `init` with the plugin's config and the job parameters.
        pub async fn init(&mut self, setup: &Setup) -> Result<(), PluginError> {
            arm(&mut self.store);
            let r = self
                .bindings
                .batch_plugin_lifecycle()
                .call_init(&mut self.store, &wire_setup(setup))
                .await;
            flatten(&self.store, r)
        }
    };
    (stream $bindings:ident) => {
        common_calls!($bindings);

        /// ItemStream `open` with the last committed context.
        pub async fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
            arm(&mut self.store);
            let r = self
                .bindings
                .batch_plugin_item_stream()
                .call_open(&mut self.store, &wire_context(ctx))
                .await;
            flatten(&self.store, r)
        }

        /// ItemStream `update`: the state to commit with the current chunk.
        pub async fn update(&mut self) -> Result<ExecutionContext, PluginError> {
            arm(&mut self.store);
            let r = self
                .bindings
                .batch_plugin_item_stream()
                .call_update(&mut self.store)
                .await;
            domain_context(flatten(&self.store, r)?)
        }

        /// ItemStream `after-step`: the exit status `(code, description)` the plugin sets for
        /// its completed step, if any.
        pub async fn after_step(
            &mut self,
            step: &crate::domain::StepExecution,
        ) -> Result<Option<(String, String)>, PluginError> {
            arm(&mut self.store);
            let r = self
                .bindings
                .batch_plugin_item_stream()
                .call_after_step(&mut self.store, &wire_summary(step))
                .await;
            let exit = flatten(&self.store, r.map(Ok))?;
            Ok(exit.map(|e| (e.code, e.description)))
        }

        /// ItemStream `close`.
        pub async fn close(&mut self) -> Result<(), PluginError> {
            arm(&mut self.store);
            let r = self
                .bindings
                .batch_plugin_item_stream()
                .call_close(&mut self.store)
                .await;
            flatten(&self.store, r)
        }
    };
}

/// Instantiates `$pre` of world `$world` into a fresh store.
macro_rules! instantiate {
    ($prepared:expr, $sandbox:expr, $variant:ident) => {{
        let Prepared::$variant(pre) = $prepared else {
            anyhow::bail!(
                "component is a {}, not a {}",
                $prepared.role(),
                stringify!($variant)
            );
        };
        let mut store = new_store($prepared, $sandbox)?;
        let bindings = pre.instantiate_async(&mut store).await?;
        Ok(Self { store, bindings })
    }};
}

/// A running reader.
pub struct ReaderInstance {
    store: Store<PluginState>,
    bindings: reader::Reader,
}

impl ReaderInstance {
    /// Instantiates a prepared reader.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> anyhow::Result<Self> {
        instantiate!(prepared, sandbox, Reader)
    }

    common_calls!(stream reader);

    /// Reads one item (`None` at the end); the per-item form of [`read_batch`](Self::read_batch).
    pub async fn read(&mut self) -> Result<Option<Vec<u8>>, PluginError> {
        arm(&mut self.store);
        let r = self
            .bindings
            .batch_plugin_item_reader()
            .call_read(&mut self.store)
            .await;
        let out = flatten(&self.store, r)?;
        if let Some(item) = &out {
            check_size(&self.store, item).map_err(PluginError::Failed)?;
        }
        Ok(out)
    }

    /// Reads up to `max` items in one call.
    pub async fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        use reader::exports::batch::plugin::item_reader::ReadOutcome;
        arm_items(&mut self.store, max as usize);
        let r = self
            .bindings
            .batch_plugin_item_reader()
            .call_read_batch(&mut self.store, max)
            .await;
        let batch = flatten(&self.store, r.map(Ok))?;
        Ok(ReadBatch {
            outcomes: batch
                .outcomes
                .into_iter()
                .map(|o| match o {
                    ReadOutcome::Item(item) => check_size(&self.store, &item).map(|()| item),
                    ReadOutcome::Error(e) => Err(ItemError::new(e.kind, e.message)),
                })
                .collect(),
            end: batch.end,
        })
    }
}

/// A running processor.
pub struct ProcessorInstance {
    store: Store<PluginState>,
    bindings: processor::Processor,
}

impl ProcessorInstance {
    /// Instantiates a prepared processor.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> anyhow::Result<Self> {
        instantiate!(prepared, sandbox, Processor)
    }

    common_calls!(processor);

    /// Processes one item: `Some` to pass on, `None` when filtered.
    #[allow(clippy::ptr_arg, reason = "the generated binding takes `&Vec<u8>`")]
    pub async fn process(&mut self, item: &Vec<u8>) -> Result<Option<Vec<u8>>, PluginError> {
        arm(&mut self.store);
        let r = self
            .bindings
            .batch_plugin_item_processor()
            .call_process(&mut self.store, item)
            .await;
        let out = flatten(&self.store, r)?;
        if let Some(item) = &out {
            check_size(&self.store, item).map_err(PluginError::Failed)?;
        }
        Ok(out)
    }

    /// Processes a batch of items; one outcome per input.
    pub async fn process_batch(
        &mut self,
        items: &[Vec<u8>],
    ) -> Result<Vec<ProcessOutcome>, PluginError> {
        use processor::exports::batch::plugin::item_processor::ProcessOutcome as O;
        arm_items(&mut self.store, items.len());
        let r = self
            .bindings
            .batch_plugin_item_processor()
            .call_process_batch(&mut self.store, items)
            .await;
        let outcomes = flatten(&self.store, r.map(Ok))?;
        if outcomes.len() != items.len() {
            return Err(PluginError::Failed(ItemError::new(
                "plugin.protocol",
                format!(
                    "process-batch returned {} outcomes for {} items",
                    outcomes.len(),
                    items.len()
                ),
            )));
        }
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                O::Item(item) => match check_size(&self.store, &item) {
                    Ok(()) => ProcessOutcome::Item(item),
                    Err(e) => ProcessOutcome::Error(e),
                },
                O::Filtered => ProcessOutcome::Filtered,
                O::Error(e) => ProcessOutcome::Error(ItemError::new(e.kind, e.message)),
            })
            .collect())
    }
}

/// A running writer.
pub struct WriterInstance {
    store: Store<PluginState>,
    bindings: writer::Writer,
}

impl WriterInstance {
    /// Instantiates a prepared writer.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> anyhow::Result<Self> {
        instantiate!(prepared, sandbox, Writer)
    }

    common_calls!(stream writer);

    /// Writes one chunk.
    pub async fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        arm_items(&mut self.store, items.len());
        let r = self
            .bindings
            .batch_plugin_item_writer()
            .call_write(&mut self.store, items)
            .await;
        flatten(&self.store, r)
    }

    /// ChunkListener `before-chunk`.
    pub async fn before_chunk(&mut self) -> Result<(), PluginError> {
        arm(&mut self.store);
        let r = self
            .bindings
            .batch_plugin_chunk_listener()
            .call_before_chunk(&mut self.store)
            .await;
        flatten(&self.store, r)
    }

    /// ChunkListener `after-chunk`: the chunk committed.
    pub async fn after_chunk(&mut self) -> Result<(), PluginError> {
        arm(&mut self.store);
        let r = self
            .bindings
            .batch_plugin_chunk_listener()
            .call_after_chunk(&mut self.store)
            .await;
        flatten(&self.store, r)
    }

    /// ChunkListener `after-chunk-error`: the chunk rolled back.
    pub async fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        arm(&mut self.store);
        let r = self
            .bindings
            .batch_plugin_chunk_listener()
            .call_after_chunk_error(&mut self.store)
            .await;
        flatten(&self.store, r)
    }
}

/// Whether a tasklet wants to be called again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatStatus {
    /// Done.
    Finished,
    /// Call `execute` again (in a new transaction).
    Continuable,
}

/// What one tasklet call produced.
#[derive(Debug, Clone)]
pub struct TaskletExecution {
    /// Finished, or call again.
    pub repeat: RepeatStatus,
    /// The step's ExecutionContext after the call.
    pub context: ExecutionContext,
    /// The exit status the plugin chose for its step: `(code, description)`.
    pub exit_status: Option<(String, String)>,
}

/// A running tasklet.
pub struct TaskletInstance {
    store: Store<PluginState>,
    bindings: tasklet::Tasklet,
}

impl TaskletInstance {
    /// Instantiates a prepared tasklet.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> anyhow::Result<Self> {
        instantiate!(prepared, sandbox, Tasklet)
    }

    common_calls!(tasklet);

    /// Runs one `execute` call with the step's current context.
    pub async fn execute(
        &mut self,
        context: &ExecutionContext,
    ) -> Result<TaskletExecution, PluginError> {
        use tasklet::exports::batch::plugin::step_tasklet::RepeatStatus as R;
        arm(&mut self.store);
        let r = self
            .bindings
            .batch_plugin_step_tasklet()
            .call_execute(&mut self.store, &wire_context(context))
            .await;
        let out = flatten(&self.store, r)?;
        Ok(TaskletExecution {
            repeat: match out.repeat {
                R::Finished => RepeatStatus::Finished,
                R::Continuable => RepeatStatus::Continuable,
            },
            context: domain_context(out.context)?,
            exit_status: out.exit_status.map(|e| (e.code, e.description)),
        })
    }
}

/// A running decider.
pub struct DeciderInstance {
    store: Store<PluginState>,
    bindings: decider::Decider,
}

impl DeciderInstance {
    /// Instantiates a prepared decider.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> anyhow::Result<Self> {
        instantiate!(prepared, sandbox, Decider)
    }

    common_calls!(decider);

    /// Asks for the status to route on.
    pub async fn decide(
        &mut self,
        job_context: &ExecutionContext,
        last: Option<&crate::domain::StepExecution>,
    ) -> Result<String, PluginError> {
        let last = last.map(wire_summary);
        arm(&mut self.store);
        let r = self
            .bindings
            .batch_plugin_flow_decider()
            .call_decide(&mut self.store, &wire_context(job_context), last.as_ref())
            .await;
        flatten(&self.store, r)
    }
}
