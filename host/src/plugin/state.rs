//! Plugin store state: what one instance's `Store` holds (its WASI context, limits, log budget,
//! interrupt), how a store is made for a sandbox, the per-call deadline, and how a trap or a cut
//! call becomes a typed [`PluginError`].

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::Prepared;
use super::bindings::{log, types};
use super::convert::guest_error;
use super::error::{PluginError, TrapKind};
use super::grant::Grant;
use super::guard::{Cut, Interrupt};
use super::limits::{Limits, MemoryLimiter};
use super::output::{Budget, GuestOutput, Stream};
use crate::domain::{GuestField, neutralise};

/// Resources (open files, directories, streams, pollables) one instance may hold at once — about
/// a thousand open files, as a file takes a few entries. The cap keeps one plugin from exhausting
/// the process's descriptors and making another plugin's `open` fail: past it, the plugin's own
/// `open` fails (WASI reports it as "out of memory") or its call traps as `wasm.handles`.
pub const MAX_HANDLES: usize = 4096;

/// The directory a plugin instance may see, its limits, what interrupts it, and its label for
/// logs.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub(super) grant: Grant,
    pub(super) read_only: bool,
    pub(super) fuel: bool,
    pub(super) label: Arc<str>,
    pub(super) limits: Limits,
    pub(super) interrupt: Interrupt,
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

impl std::fmt::Debug for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginState")
            .field("label", &self.label)
            .field("limits", &self.limits)
            .field("ticks_left", &self.ticks_left)
            .finish_non_exhaustive()
    }
}

/// Per-instance store data.
pub struct PluginState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) label: Arc<str>,
    /// The plugin's role (`reader`, `processor`, …), for metrics.
    pub(super) role: &'static str,
    pub(super) stderr: GuestOutput,
    pub(super) limiter: MemoryLimiter,
    pub(super) limits: Limits,
    /// Epoch ticks the current call may still run for.
    pub(super) ticks_left: u64,
    /// The engine meters fuel.
    pub(super) fuel: bool,
    /// Cuts running calls (the second stop signal).
    pub(super) interrupt: Interrupt,
    /// What the `log` import may still write.
    pub(super) log: Budget,
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
pub(super) fn arm(store: &mut Store<PluginState>) {
    arm_items(store, 1);
}

/// [`arm`] for a call that carries `items` items: the fuel budget is per item.
pub(super) fn arm_items(store: &mut Store<PluginState>, items: usize) {
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
pub(super) fn on_epoch(
    mut ctx: wasmtime::StoreContextMut<'_, PluginState>,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let state = ctx.data_mut();
    if state.ticks_left <= 1 {
        return Ok(wasmtime::UpdateDeadline::Interrupt);
    }
    state.ticks_left -= 1;
    Ok(wasmtime::UpdateDeadline::Yield(1))
}

pub(super) fn cut_error(store: &Store<PluginState>, cut: Cut) -> PluginError {
    match cut {
        Cut::Interrupted => PluginError::Interrupted,
        Cut::Wall => {
            crate::telemetry::sandbox_fault(&store.data().label, TrapKind::Timeout.kind());
            PluginError::Trap(
                TrapKind::Timeout,
                format!(
                    "the call took longer than its wall-clock limit of {:?} (limits.wall-per-call); the plugin may be sleeping or blocked",
                    store.data().limits.wall_per_call
                ),
            )
        }
    }
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
pub(super) fn guest_log(
    plugin: &str,
    level: log::Level,
    message: &str,
    fields: &[(String, String)],
) {
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

pub(super) fn new_store(pre: &Prepared, sandbox: &Sandbox) -> anyhow::Result<Store<PluginState>> {
    let engine = match pre {
        Prepared::Reader(p) => p.engine(),
        Prepared::Processor(p) => p.engine(),
        Prepared::Writer(p) => p.engine(),
        Prepared::Tasklet(p) => p.engine(),
        Prepared::Decider(p) => p.engine(),
        Prepared::Partitioner(p) => p.engine(),
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
        // wasi:sockets is linked for components whose libc imports it; every use is denied
        // (these are wasmtime's defaults, spelled out so no upgrade can turn one on).
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .stdout(GuestOutput::new(sandbox.label.clone(), Stream::Stdout))
        .stderr(stderr.clone())
        // File calls run on the calling thread instead of a hand-off to tokio's blocking pool
        // and back (two thread switches per call, the largest cost of a Wasm file reader or
        // writer). The grant is a local directory that a plugin cannot put a FIFO into; see
        // docs/security.md on the wall-clock limit.
        .allow_blocking_current_thread(true);
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_HANDLES);
    let mut store = Store::new(
        engine,
        PluginState {
            wasi: wasi.build(),
            table,
            label: sandbox.label.clone(),
            role: pre.role().world(),
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
pub(super) fn flatten<T>(
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
pub(super) fn flatten_ok<T>(
    store: &Store<PluginState>,
    r: Result<wasmtime::Result<T>, PluginError>,
) -> Result<T, PluginError> {
    r?.map_err(|trap| trap_error(store, &trap))
}

pub(super) fn trap_error(store: &Store<PluginState>, err: &wasmtime::Error) -> PluginError {
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
    crate::telemetry::sandbox_fault(&store.data().label, kind.kind());
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
