//! Plugin instances: one `Store` each, with a WASI context that sees one directory.
//!
//! This is the host's side of the boundary: every string a guest returns is neutralised and
//! bounded here (`domain::neutralise`), every count and size checked, and every call guarded by
//! its CPU, fuel and wall-clock limits before the engine sees a result.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::Prepared;
use super::bindings::{decider, log, processor, reader, tasklet, types, writer};
use super::grant::Grant;
use super::guard::{Cut, Interrupt, guard};
use super::output::{Budget, GuestOutput, Stream};
use crate::domain::{ExecutionContext, GuestField, ItemError, JobParameters, neutralise};

/// Resources (open files, directories, streams, pollables) one instance may hold at once — about
/// a thousand open files, as a file takes a few entries. The cap keeps one plugin from exhausting
/// the process's descriptors and making another plugin's `open` fail: past it, the plugin's own
/// `open` fails (WASI reports it as "out of memory") or its call traps as `wasm.handles`.
pub const MAX_HANDLES: usize = 4096;

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

/// A guest's own error, neutralised and bounded.
fn guest_error(kind: &str, message: &str) -> ItemError {
    ItemError::new(
        neutralise(kind, GuestField::ErrorKind),
        neutralise(message, GuestField::ErrorMessage),
    )
}

/// A host-side refusal of what the plugin returned (`plugin.protocol`).
fn protocol(message: String) -> PluginError {
    PluginError::Failed(ItemError::new("plugin.protocol", message))
}

/// An exit status a guest chose: `(code, description)`, neutralised and bounded.
fn guest_exit(e: types::ExitStatus) -> (String, String) {
    (
        neutralise(&e.code, GuestField::ExitCode),
        neutralise(&e.description, GuestField::ExitDescription),
    )
}

/// Resource limits of one plugin instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Compute budget of one call into the guest, enforced with epoch interruption (time the
    /// guest spends suspended in a host call is not charged).
    pub cpu_per_call: std::time::Duration,
    /// Wall-clock budget of one call, whatever the guest does (computes, sleeps, blocks).
    pub wall_per_call: std::time::Duration,
    /// Largest linear memory the guest may grow to, in bytes.
    pub memory: usize,
    /// Largest item a plugin may hand to the host, in bytes.
    pub max_item_size: usize,
    /// Largest ExecutionContext a plugin may hand to the host (keys plus JSON values), in bytes.
    pub max_context_size: usize,
    /// Deterministic budget: WebAssembly fuel per item of a call (calls without items count as
    /// one item). `None`: unlimited.
    pub fuel_per_item: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_per_call: std::time::Duration::from_secs(60),
            wall_per_call: std::time::Duration::from_secs(300),
            memory: 256 << 20,
            max_item_size: 16 << 20,
            max_context_size: 1 << 20,
            fuel_per_item: None,
        }
    }
}

impl Limits {
    /// The built-in ceilings no job may exceed (a host configuration may lower them).
    pub fn ceilings() -> Self {
        Limits {
            cpu_per_call: std::time::Duration::from_secs(600),
            wall_per_call: std::time::Duration::from_secs(3600),
            memory: 4 << 30,
            max_item_size: 1 << 30,
            max_context_size: 64 << 20,
            fuel_per_item: None,
        }
    }

    /// Each limit the tighter of the two (`None` fuel is unlimited).
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            cpu_per_call: self.cpu_per_call.min(other.cpu_per_call),
            wall_per_call: self.wall_per_call.min(other.wall_per_call),
            memory: self.memory.min(other.memory),
            max_item_size: self.max_item_size.min(other.max_item_size),
            max_context_size: self.max_context_size.min(other.max_context_size),
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

/// The directory a plugin instance may see, its limits, what interrupts it, and its label for
/// logs.
#[derive(Debug, Clone)]
pub struct Sandbox {
    grant: Grant,
    read_only: bool,
    fuel: bool,
    label: Arc<str>,
    limits: Limits,
    interrupt: Interrupt,
}

impl Sandbox {
    pub(super) fn new(
        grant: Grant,
        read_only: bool,
        fuel: bool,
        label: String,
        limits: Limits,
        interrupt: Interrupt,
    ) -> Self {
        Sandbox {
            grant,
            read_only,
            fuel,
            label: label.into(),
            limits,
            interrupt,
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
    /// Cuts running calls (the second stop signal).
    interrupt: Interrupt,
    /// What the `log` import may still write.
    log: Budget,
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

/// Runs one export call under the instance's guards: arms the CPU deadline and fuel for
/// `$items` items, then cuts the call at its wall-clock limit or on interrupt. Evaluates to
/// `Result<wasmtime::Result<_>, PluginError>`.
macro_rules! guarded {
    ($self:ident, $items:expr, $store:ident => $call:expr) => {{
        arm_items(&mut $self.store, $items);
        let wall = $self.store.data().limits.wall_per_call;
        let interrupt = $self.store.data().interrupt.clone();
        let outcome = {
            let $store = &mut $self.store;
            guard(wall, &interrupt, $call).await
        };
        outcome.map_err(|cut| cut_error(&$self.store, cut))
    }};
}

fn cut_error(store: &Store<PluginState>, cut: Cut) -> PluginError {
    match cut {
        Cut::Interrupted => PluginError::Interrupted,
        Cut::Wall => PluginError::Trap(
            TrapKind::Timeout,
            format!(
                "the call took longer than its wall-clock limit of {:?} (limits.wall-per-call); the plugin may be sleeping or blocked",
                store.data().limits.wall_per_call
            ),
        ),
    }
}

/// Rejects a context larger than the sandbox allows, before it is parsed or stored.
fn check_context_size(
    store: &Store<PluginState>,
    entries: &[types::ContextEntry],
) -> Result<(), PluginError> {
    let max = store.data().limits.max_context_size;
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
        let size = fields
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .fold(message.len(), usize::saturating_add);
        if self.log.admit(size) {
            guest_log(&self.label, level, &message, &fields);
        }
    }
}

/// Forwards a guest log record to `tracing`, tagged with the plugin label; the message and the
/// fields are neutralised and bounded (one record is at most one log line's worth).
fn guest_log(plugin: &str, level: log::Level, message: &str, fields: &[(String, String)]) {
    let message = neutralise(message, GuestField::LogLine);
    let fields = if fields.is_empty() {
        String::new()
    } else {
        let joined = fields
            .iter()
            .take(64)
            .map(|(k, v)| format!("{}={v}", neutralise(k, GuestField::LogFieldName)))
            .collect::<Vec<_>>()
            .join(" ");
        neutralise(&joined, GuestField::LogLine)
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
    wasi.preopened_dir(sandbox.grant.fd_path(), ".", perms)?
        .stdout(GuestOutput::new(sandbox.label.clone(), Stream::Stdout))
        .stderr(stderr.clone());
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_HANDLES);
    let mut store = Store::new(
        engine,
        PluginState {
            wasi: wasi.build(),
            table,
            label: sandbox.label.clone(),
            stderr,
            limiter: MemoryLimiter {
                max: sandbox.limits.memory,
                hit: false,
            },
            limits: sandbox.limits,
            ticks_left: 1,
            fuel: sandbox.fuel,
            interrupt: sandbox.interrupt.clone(),
            log: Budget::new(sandbox.label.clone(), Stream::Log),
        },
    );
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_callback(on_epoch);
    arm(&mut store);
    Ok(store)
}

/// Turns the result of a guarded export call into `PluginError`.
fn flatten<T>(
    store: &Store<PluginState>,
    r: Result<wasmtime::Result<Result<T, types::PluginError>>, PluginError>,
) -> Result<T, PluginError> {
    match r? {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(PluginError::Failed(guest_error(&e.kind, &e.message))),
        Err(trap) => Err(trap_error(store, &trap)),
    }
}

/// [`flatten`] for an export that cannot return a plugin error.
fn flatten_ok<T>(
    store: &Store<PluginState>,
    r: Result<wasmtime::Result<T>, PluginError>,
) -> Result<T, PluginError> {
    r?.map_err(|trap| trap_error(store, &trap))
}

fn trap_error(store: &Store<PluginState>, err: &wasmtime::Error) -> PluginError {
    let trap = err.downcast_ref::<wasmtime::Trap>();
    let table_full = matches!(
        err.downcast_ref::<wasmtime::component::ResourceTableError>(),
        Some(wasmtime::component::ResourceTableError::Full)
    ) || format!("{err:#}").contains("resource table has no free keys");
    let kind = if table_full {
        TrapKind::Handles
    } else if matches!(
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
        (TrapKind::Handles, _) => format!(
            "the plugin held more than {MAX_HANDLES} open files, directories or streams at once (limit per instance); it must close what it no longer uses"
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
    // Trap texts carry guest-chosen names (a backtrace's function names) and the stderr tail.
    PluginError::Trap(kind, neutralise(&message, GuestField::ErrorMessage))
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

/// Longest context key a plugin may use, in bytes.
const MAX_CONTEXT_KEY: usize = 256;

fn domain_context(
    store: &Store<PluginState>,
    entries: Vec<types::ContextEntry>,
) -> Result<ExecutionContext, PluginError> {
    check_context_size(store, &entries)?;
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
            let r = guarded!(self, 1, store => self
                .bindings
                .batch_plugin_lifecycle()
                .call_init(store, &wire_setup(setup)));
            flatten(&self.store, r)
        }
    };
    (stream $bindings:ident) => {
        common_calls!($bindings);

        /// ItemStream `open` with the last committed context.
        pub async fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
            let r = guarded!(self, 1, store => self
                .bindings
                .batch_plugin_item_stream()
                .call_open(store, &wire_context(ctx)));
            flatten(&self.store, r)
        }

        /// ItemStream `update`: the state to commit with the current chunk.
        pub async fn update(&mut self) -> Result<ExecutionContext, PluginError> {
            let r = guarded!(self, 1, store => self
                .bindings
                .batch_plugin_item_stream()
                .call_update(store));
            domain_context(&self.store, flatten(&self.store, r)?)
        }

        /// ItemStream `after-step`: the exit status `(code, description)` the plugin sets for
        /// its completed step, if any.
        pub async fn after_step(
            &mut self,
            step: &crate::domain::StepExecution,
        ) -> Result<Option<(String, String)>, PluginError> {
            let r = guarded!(self, 1, store => self
                .bindings
                .batch_plugin_item_stream()
                .call_after_step(store, &wire_summary(step)));
            let exit = flatten_ok(&self.store, r)?;
            Ok(exit.map(guest_exit))
        }

        /// ItemStream `close`.
        pub async fn close(&mut self) -> Result<(), PluginError> {
            let r = guarded!(self, 1, store => self
                .bindings
                .batch_plugin_item_stream()
                .call_close(store));
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
        // Instantiation runs the component's start functions: guest code, guarded like a call.
        let (wall, interrupt) = ($sandbox.limits.wall_per_call, $sandbox.interrupt.clone());
        let bindings = match guard(wall, &interrupt, pre.instantiate_async(&mut store)).await {
            Ok(bindings) => bindings?,
            Err(cut) => anyhow::bail!("{}", cut_error(&store, cut)),
        };
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
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_item_reader()
            .call_read(store));
        let out = flatten(&self.store, r)?;
        if let Some(item) = &out {
            check_size(&self.store, item).map_err(PluginError::Failed)?;
        }
        Ok(out)
    }

    /// Reads up to `max` items in one call.
    pub async fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        use reader::exports::batch::plugin::item_reader::ReadOutcome;
        let r = guarded!(self, max as usize, store => self
            .bindings
            .batch_plugin_item_reader()
            .call_read_batch(store, max));
        let batch = flatten_ok(&self.store, r)?;
        if batch.outcomes.len() > max as usize {
            return Err(protocol(format!(
                "read-batch returned {} outcomes when asked for at most {max}",
                batch.outcomes.len()
            )));
        }
        Ok(ReadBatch {
            outcomes: batch
                .outcomes
                .into_iter()
                .map(|o| match o {
                    ReadOutcome::Item(item) => check_size(&self.store, &item).map(|()| item),
                    ReadOutcome::Error(e) => Err(guest_error(&e.kind, &e.message)),
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
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_item_processor()
            .call_process(store, item));
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
        let r = guarded!(self, items.len(), store => self
            .bindings
            .batch_plugin_item_processor()
            .call_process_batch(store, items));
        let outcomes = flatten_ok(&self.store, r)?;
        if outcomes.len() != items.len() {
            return Err(protocol(format!(
                "process-batch returned {} outcomes for {} items",
                outcomes.len(),
                items.len()
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
                O::Error(e) => ProcessOutcome::Error(guest_error(&e.kind, &e.message)),
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
        let r = guarded!(self, items.len(), store => self
            .bindings
            .batch_plugin_item_writer()
            .call_write(store, items));
        flatten(&self.store, r)
    }

    /// ChunkListener `before-chunk`.
    pub async fn before_chunk(&mut self) -> Result<(), PluginError> {
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_chunk_listener()
            .call_before_chunk(store));
        flatten(&self.store, r)
    }

    /// ChunkListener `after-chunk`: the chunk committed.
    pub async fn after_chunk(&mut self) -> Result<(), PluginError> {
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_chunk_listener()
            .call_after_chunk(store));
        flatten(&self.store, r)
    }

    /// ChunkListener `after-chunk-error`: the chunk rolled back.
    pub async fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_chunk_listener()
            .call_after_chunk_error(store));
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
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_step_tasklet()
            .call_execute(store, &wire_context(context)));
        let out = flatten(&self.store, r)?;
        Ok(TaskletExecution {
            repeat: match out.repeat {
                R::Finished => RepeatStatus::Finished,
                R::Continuable => RepeatStatus::Continuable,
            },
            context: domain_context(&self.store, out.context)?,
            exit_status: out.exit_status.map(guest_exit),
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
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_flow_decider()
            .call_decide(store, &wire_context(job_context), last.as_ref()));
        // The answer is routed on like an exit code, and shown and stored as one.
        flatten(&self.store, r).map(|answer| neutralise(&answer, GuestField::ExitCode))
    }
}
