//! `plugin` → runtime: the process-wide [`PluginRuntime`] — the wasmtime `Engine` (epochs,
//! optional fuel, the pooling allocator), the `Linker` with WASI and the `log` import — and what
//! it does with components: validate and compile them, load sealed artifacts, pre-link them for
//! their role, and describe a plugin instance's sandbox.

use std::fmt;
use std::hash::{Hash, Hasher};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi::WasiView as _;

use super::state::PluginState;
use super::surface::{Surface, is_component, role_of_exports};
use super::{
    ArtifactKey, Compiled, Grant, Interrupt, InvalidPlugin, Limits, LoadError, Prepared, Role,
    Sandbox, bindings, digest,
};

/// Core instances, memories and tables one plugin component may have in the pool (a Rust
/// wasip2 component has a handful of core instances, one memory, a few tables).
const POOL_CORE_INSTANCES: u32 = 16;
const POOL_MEMORIES: u32 = 2;
const POOL_TABLES: u32 = 8;

/// How the instance pool is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// Plugin instances alive at the same time (all stores of the process).
    pub instances: u32,
    /// The largest linear memory one instance may grow to, in bytes.
    pub max_memory: usize,
}

/// How to build a [`PluginRuntime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Meter fuel (for `limits.fuel-per-item`).
    pub fuel: bool,
    /// Use the pooling allocator with this many slots; `None`: allocate on demand.
    pub pool: Option<PoolSize>,
    /// Seals and authenticates precompiled artifacts; `None`: a key of this process only.
    pub artifact_key: Option<ArtifactKey>,
}

/// The wasmtime engine and linker shared by every plugin of the process.
pub struct PluginRuntime {
    engine: Engine,
    fuel: bool,
    linker: Linker<PluginState>,
    engine_hash: String,
    key: ArtifactKey,
}

impl fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PluginRuntime(engine {})", self.engine_hash)
    }
}

/// How often the epoch advances; per-call deadlines are counted in these ticks.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Links the WASI interfaces a batch plugin needs — fail-closed: I/O streams, clocks, random,
/// the CLI basics Rust's std imports (environment and stdin are empty), and the file system
/// (which only ever holds the step's one pre-opened directory). `wasi:sockets` is linked with
/// every use denied (every CPython component imports it through its libc; see `state.rs`): no
/// TCP, no UDP, no name lookup, no address passes the check, so creating a socket fails with
/// `access-denied` before any OS socket exists. Anything else (`wasi:http`, unknown interfaces)
/// is rejected when the component is registered or planned, with the import named.
fn link_wasi(l: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};
    type S = PluginState;
    wasmtime_wasi_io::add_to_linker_async(l)?;
    clocks::wall_clock::add_to_linker::<S, WasiClocks>(l, S::clocks)?;
    clocks::monotonic_clock::add_to_linker::<S, WasiClocks>(l, S::clocks)?;
    filesystem::types::add_to_linker::<S, WasiFilesystem>(l, S::filesystem)?;
    filesystem::preopens::add_to_linker::<S, WasiFilesystem>(l, S::filesystem)?;
    random::random::add_to_linker::<S, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<S, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<S, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::environment::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stdin::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stdout::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stderr::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_input::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_output::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stdin::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stdout::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stderr::add_to_linker::<S, WasiCli>(l, S::cli)?;
    // Denied in every call (WasiCtxBuilder: TCP, UDP and name lookup off, no address allowed).
    let options = sockets::network::LinkOptions::default();
    sockets::instance_network::add_to_linker::<S, WasiSockets>(l, S::sockets)?;
    sockets::network::add_to_linker::<S, WasiSockets>(l, &options, S::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<S, WasiSockets>(l, S::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<S, WasiSockets>(l, S::sockets)?;
    sockets::tcp::add_to_linker::<S, WasiSockets>(l, S::sockets)?;
    sockets::udp_create_socket::add_to_linker::<S, WasiSockets>(l, S::sockets)?;
    sockets::udp::add_to_linker::<S, WasiSockets>(l, S::sockets)?;
    Ok(())
}

impl PluginRuntime {
    /// Builds the engine (component model on, the p3 concurrency machinery off, which makes
    /// calls several times cheaper) and links WASI plus our `log` import. No fuel metering.
    pub fn new() -> anyhow::Result<Self> {
        Self::with_fuel(false)
    }

    /// [`new`](Self::new), with fuel metering when `fuel` is true: needed by steps with
    /// `limits.fuel-per-item`, and about 20 % slower guest code (docs/performance.md), so it is
    /// only switched on for jobs that use it. Artifacts of the two engines are kept apart.
    pub fn with_fuel(fuel: bool) -> anyhow::Result<Self> {
        Self::with_options(RuntimeOptions {
            fuel,
            ..RuntimeOptions::default()
        })
    }

    /// A runtime with fuel metering and/or the pooling instance allocator.
    pub fn with_options(options: RuntimeOptions) -> anyhow::Result<Self> {
        let fuel = options.fuel;
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .concurrency_support(false)
            .epoch_interruption(true)
            .consume_fuel(fuel)
            .max_wasm_stack(1 << 20);
        // `perf` can name the guest's functions when the host writes /tmp/perf-PID.map
        // (docs/performance.md, "Profiling a plugin").
        if std::env::var_os("BATCH_HOST_PERF_MAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(pool) = options.pool {
            // Slots for `instances` plugin instances alive at once, each with room for its
            // core instances, memories, tables and its async call stack, memory up to the
            // largest limit a step may set. Slots are reused: instantiation touches no mmap.
            let n = pool.instances.max(1);
            let mut p = wasmtime::PoolingAllocationConfig::new();
            p.total_component_instances(n)
                .total_core_instances(n.saturating_mul(POOL_CORE_INSTANCES))
                .total_memories(n.saturating_mul(POOL_MEMORIES))
                .total_tables(n.saturating_mul(POOL_TABLES))
                .total_stacks(n)
                .max_core_instances_per_component(POOL_CORE_INSTANCES)
                .max_memories_per_component(POOL_MEMORIES)
                .max_tables_per_component(POOL_TABLES)
                .max_memory_size(pool.max_memory.max(1 << 16));
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(p));
        }
        let engine = Engine::new(&config)?;
        // The epoch ticker behind per-call CPU deadlines; it stops when the engine is dropped.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("batch-host-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        let mut linker = Linker::new(&engine);
        link_wasi(&mut linker)?;
        bindings::types::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        bindings::log::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // Artifacts are kept per engine configuration and per key: hosts with different keys
        // sharing one repository each keep (and trust) only their own.
        let key = options.artifact_key.unwrap_or_else(ArtifactKey::ephemeral);
        let engine_hash = format!("wasmtime-48-{:016x}+k{}", hasher.finish(), key.id());
        Ok(PluginRuntime {
            engine,
            fuel,
            linker,
            engine_hash,
            key,
        })
    }

    /// True when this engine meters fuel (`limits.fuel-per-item` works).
    pub fn meters_fuel(&self) -> bool {
        self.fuel
    }

    /// Identifies this engine's configuration and artifact key; precompiled artifacts are keyed
    /// by it.
    pub fn engine_hash(&self) -> &str {
        &self.engine_hash
    }

    /// Validates that `wasm` is a component of one of our worlds, compiles it and links it.
    pub fn compile(&self, wasm: &[u8]) -> Result<Compiled, InvalidPlugin> {
        if !is_component(wasm) {
            // The surface reader says why in the same words.
            Surface::of(wasm)?;
        }
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| InvalidPlugin::NotAComponent(format!("{e:#}")))?;
        let role = self.role_of(&component)?;
        let prepared = self.prepare(&component, role)?;
        let artifact = component
            .serialize()
            .map_err(|e| InvalidPlugin::Link(format!("{e:#}")))?;
        let seal = self
            .key
            .seal(&digest(wasm), &self.engine_hash, role.world(), &artifact);
        Ok(Compiled {
            role,
            artifact,
            seal,
            prepared,
        })
    }

    /// Loads a precompiled artifact of the component `digest` that a host holding this
    /// runtime's key produced with [`compile`](Self::compile), after checking its seal.
    ///
    /// [`LoadError::Unauthenticated`] means the bytes are not what this key sealed (tampered
    /// with, or sealed by another key): compile the component again instead.
    pub fn load(
        &self,
        digest: &str,
        artifact: &[u8],
        seal: &str,
        role: Role,
    ) -> Result<Prepared, LoadError> {
        if !self
            .key
            .verify(digest, &self.engine_hash, role.world(), artifact, seal)
        {
            return Err(LoadError::Unauthenticated);
        }
        // SAFETY: the seal verified: these are the exact bytes `Component::serialize` produced
        // in `compile` under this key, for an engine of this configuration (both are in
        // `engine_hash`, which the seal covers).
        #[allow(
            unsafe_code,
            reason = "deserializing code this host compiled and sealed"
        )]
        let component = unsafe { Component::deserialize(&self.engine, artifact) }
            .map_err(|e| LoadError::Invalid(InvalidPlugin::Link(format!("{e:#}"))))?;
        self.prepare(&component, role).map_err(LoadError::Invalid)
    }

    fn role_of(&self, component: &Component) -> Result<Role, InvalidPlugin> {
        let exports: Vec<String> = component
            .component_type()
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        role_of_exports(&exports)
    }

    fn prepare(&self, component: &Component, role: Role) -> Result<Prepared, InvalidPlugin> {
        let link = |e: wasmtime::Error| InvalidPlugin::Link(format!("{e:#}"));
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            let text = format!("{e:#}");
            // wasmtime: "component imports instance `wasi:sockets/network@0.2.6`, but a
            // matching implementation was not found in the linker"
            match text
                .split_once("component imports instance `")
                .and_then(|(_, rest)| rest.split_once('`'))
            {
                Some((name, _)) => InvalidPlugin::MissingImport(name.to_owned()),
                None => InvalidPlugin::Link(text),
            }
        })?;
        Ok(match role {
            Role::Reader => Prepared::Reader(bindings::reader::ReaderPre::new(pre).map_err(link)?),
            Role::Processor => {
                Prepared::Processor(bindings::processor::ProcessorPre::new(pre).map_err(link)?)
            }
            Role::Writer => Prepared::Writer(bindings::writer::WriterPre::new(pre).map_err(link)?),
            Role::Tasklet => {
                Prepared::Tasklet(bindings::tasklet::TaskletPre::new(pre).map_err(link)?)
            }
            Role::Decider => {
                Prepared::Decider(bindings::decider::DeciderPre::new(pre).map_err(link)?)
            }
            Role::Partitioner => Prepared::Partitioner(
                bindings::partitioner::PartitionerPre::new(pre).map_err(link)?,
            ),
        })
    }

    /// A sandbox description for a plugin instance: the one directory it may see (read-only or
    /// not), its limits, and what interrupts its calls.
    pub fn sandbox(
        &self,
        grant: &Grant,
        read_only: bool,
        label: String,
        limits: Limits,
        interrupt: &Interrupt,
    ) -> Sandbox {
        Sandbox::new(
            grant.clone(),
            read_only,
            self.fuel,
            label,
            limits,
            interrupt.clone(),
        )
    }
}
