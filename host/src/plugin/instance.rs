//! Plugin instances: the five role instances (reader, processor, writer, tasklet, decider), each
//! with its own `Store` (`state.rs`), and their calls.
//!
//! This is the host's side of the boundary: every call runs under its CPU, fuel and wall-clock
//! guards, and what a guest returns is neutralised, bounded and checked (`convert.rs`) before
//! the engine sees it.

use wasmtime::Store;

use super::Prepared;
use super::bindings::block_processor::exports::batch::plugin::item_block_processor as block;
use super::bindings::{decider, partitioner, processor, reader, tasklet, writer};
pub use super::convert::Setup;
use super::convert::{
    check_size, domain_context, guest_error, guest_exit, protocol, wire_context, wire_setup,
    wire_summary,
};
pub use super::error::{InstantiationError, PluginError, TrapKind};
use super::guard::guard;
pub use super::limits::Limits;
pub use super::state::{MAX_HANDLES, Sandbox};
use super::state::{PluginState, arm_items, cut_error, flatten, flatten_ok, new_store};
use crate::domain::{ExecutionContext, ExitStatus, GuestField, ItemError, neutralise};

/// Runs one export call under the instance's guards: arms the CPU deadline and fuel for
/// `$items` items, then cuts the call at its wall-clock limit or on interrupt. Evaluates to
/// `Result<wasmtime::Result<_>, PluginError>`.
macro_rules! guarded {
    ($self:ident, $items:expr, $store:ident => $call:expr) => {{
        arm_items(&mut $self.store, $items);
        let wall = $self.store.data().limits.wall_per_call;
        let interrupt = $self.store.data().interrupt.clone();
        let started = std::time::Instant::now();
        let outcome = {
            let $store = &mut $self.store;
            guard(wall, &interrupt, $call).await
        };
        crate::telemetry::plugin_call(
            &$self.store.data().label,
            $self.store.data().role,
            started.elapsed(),
        );
        outcome.map_err(|cut| cut_error(&$self.store, cut))
    }};
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
            domain_context(&self.store.data().limits, flatten(&self.store, r)?)
        }

        /// ItemStream `after-step`: the exit status the plugin sets for its completed step, if
        /// any.
        pub async fn after_step(
            &mut self,
            step: &crate::domain::StepExecution,
        ) -> Result<Option<ExitStatus>, PluginError> {
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
            return Err(InstantiationError(format!(
                "component is a {}, not a {}",
                $prepared.role(),
                stringify!($variant)
            )));
        };
        let mut store =
            new_store($prepared, $sandbox).map_err(|e| InstantiationError::chain(&e))?;
        // Instantiation runs the component's start functions: guest code, guarded like a call.
        let (wall, interrupt) = ($sandbox.limits.wall_per_call, $sandbox.interrupt.clone());
        let bindings = match guard(wall, &interrupt, pre.instantiate_async(&mut store)).await {
            Ok(bindings) => bindings.map_err(|e| InstantiationError::chain(&e))?,
            Err(cut) => return Err(InstantiationError(cut_error(&store, cut).to_string())),
        };
        Ok(Self { store, bindings })
    }};
}

/// `Debug` for a role instance: its sandbox label (the bindings and store are opaque).
macro_rules! debug_instance {
    ($($ty:ident),*) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("label", &self.store.data().label)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_instance!(
    ReaderInstance,
    ProcessorInstance,
    WriterInstance,
    TaskletInstance,
    DeciderInstance,
    PartitionerInstance
);

/// A running reader.
pub struct ReaderInstance {
    store: Store<PluginState>,
    bindings: reader::Reader,
}

impl ReaderInstance {
    /// Instantiates a prepared reader.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> Result<Self, InstantiationError> {
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
            check_size(&self.store.data().limits, item).map_err(PluginError::Failed)?;
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
                    ReadOutcome::Item(item) => {
                        check_size(&self.store.data().limits, &item).map(|()| item)
                    }
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
    /// The component's `item-block-processor` export, when it has one.
    block: Option<block::Guest>,
}

impl ProcessorInstance {
    /// Instantiates a prepared processor, with its block export when the component has one.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> Result<Self, InstantiationError> {
        let Prepared::Processor(pre) = prepared else {
            return Err(InstantiationError(format!(
                "component is a {}, not a Processor",
                prepared.role()
            )));
        };
        let chain = |e: wasmtime::Error| InstantiationError::chain(&e);
        let mut store = new_store(prepared, sandbox).map_err(|e| InstantiationError::chain(&e))?;
        let (wall, interrupt) = (sandbox.limits.wall_per_call, sandbox.interrupt.clone());
        let started = pre.instance_pre().instantiate_async(&mut store);
        let instance = match guard(wall, &interrupt, started).await {
            Ok(instance) => instance.map_err(chain)?,
            Err(cut) => return Err(InstantiationError(cut_error(&store, cut).to_string())),
        };
        let bindings = processor::Processor::new(&mut store, &instance).map_err(chain)?;
        // Without the export the host uses `process-batch`; with it, its types must match.
        let block = match block::GuestIndices::new(pre.instance_pre()) {
            Ok(indices) => Some(indices.load(&mut store, &instance).map_err(chain)?),
            Err(_) => None,
        };
        Ok(Self {
            store,
            bindings,
            block,
        })
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
            check_size(&self.store.data().limits, item).map_err(PluginError::Failed)?;
        }
        Ok(out)
    }

    /// Processes a batch of items; one outcome per input. One `process-block` call when the
    /// component exports it, else one `process-batch` call.
    pub async fn process_batch(
        &mut self,
        items: &[Vec<u8>],
    ) -> Result<Vec<ProcessOutcome>, PluginError> {
        if self.block.is_some() {
            return self.process_block(items, false).await;
        }
        use processor::exports::batch::plugin::item_processor::ProcessOutcome as O;
        let r = guarded!(self, items.len(), store => self
            .bindings
            .batch_plugin_item_processor()
            .call_process_batch(store, items));
        let outcomes = flatten_ok(&self.store, r)?;
        self.check_count(outcomes.len(), items.len())?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                O::Item(item) => self.output(item),
                O::Filtered => ProcessOutcome::Filtered,
                O::Error(e) => ProcessOutcome::Error(guest_error(&e.kind, &e.message)),
            })
            .collect())
    }

    /// Processes items in order until the first that fails (Spring Batch 5's order): the
    /// outcomes of the items processed, the last one an error if they are fewer than `items`.
    /// One `process-block` call when the component exports it, else one `process` call per
    /// item.
    pub async fn process_until_error(
        &mut self,
        items: &[Vec<u8>],
    ) -> Result<Vec<ProcessOutcome>, PluginError> {
        if self.block.is_some() {
            return self.process_block(items, true).await;
        }
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            let outcome = match self.process(item).await {
                Ok(Some(out)) => ProcessOutcome::Item(out),
                Ok(None) => ProcessOutcome::Filtered,
                Err(PluginError::Failed(e)) => ProcessOutcome::Error(e),
                Err(e) => return Err(e),
            };
            let failed = matches!(outcome, ProcessOutcome::Error(_));
            outcomes.push(outcome);
            if failed {
                break;
            }
        }
        Ok(outcomes)
    }

    /// The block call: the items packed into one buffer, the outputs back in one buffer.
    async fn process_block(
        &mut self,
        items: &[Vec<u8>],
        stop_at_error: bool,
    ) -> Result<Vec<ProcessOutcome>, PluginError> {
        let input = pack(items, stop_at_error)?;
        let Some(call) = &self.block else {
            unreachable!("process_block is only called with a block export")
        };
        let r = guarded!(self, items.len(), store => call.call_process_block(store, &input));
        drop(input);
        let processed = flatten_ok(&self.store, r)?;
        let cut_short = stop_at_error
            && processed.outcomes.len() < items.len()
            && matches!(
                processed.outcomes.last(),
                Some(block::BlockOutcome::Error(_))
            );
        if !cut_short {
            self.check_count(processed.outcomes.len(), items.len())?;
        }
        // The lengths must tile the data exactly: checked before any output is cut from it.
        let claimed: u64 = (processed.outcomes.iter())
            .map(|o| match o {
                block::BlockOutcome::Item(len) => u64::from(*len),
                _ => 0,
            })
            .sum();
        if claimed != processed.data.len() as u64 {
            return Err(protocol(format!(
                "process-block returned {} bytes of data, but its outcomes claim {claimed}",
                processed.data.len(),
            )));
        }
        let mut at = 0usize;
        Ok(processed
            .outcomes
            .into_iter()
            .map(|o| match o {
                block::BlockOutcome::Item(len) => {
                    let end = at + len as usize;
                    let out = processed.data[at..end].to_vec();
                    at = end;
                    self.output(out)
                }
                block::BlockOutcome::Filtered => ProcessOutcome::Filtered,
                block::BlockOutcome::Error(e) => {
                    ProcessOutcome::Error(guest_error(&e.kind, &e.message))
                }
            })
            .collect())
    }

    /// A batch call must answer once per item.
    fn check_count(&self, outcomes: usize, items: usize) -> Result<(), PluginError> {
        if outcomes == items {
            Ok(())
        } else {
            Err(protocol(format!(
                "the processor returned {outcomes} outcomes for {items} items"
            )))
        }
    }

    /// One output item, within the item size limit.
    fn output(&self, item: Vec<u8>) -> ProcessOutcome {
        match check_size(&self.store.data().limits, &item) {
            Ok(()) => ProcessOutcome::Item(item),
            Err(e) => ProcessOutcome::Error(e),
        }
    }
}

/// Packs items end to end for a block call.
fn pack(items: &[Vec<u8>], stop_at_error: bool) -> Result<block::ItemBlock, PluginError> {
    let mut data = Vec::with_capacity(items.iter().map(Vec::len).sum());
    let mut ends = Vec::with_capacity(items.len());
    for item in items {
        data.extend_from_slice(item);
        ends.push(u32::try_from(data.len()).map_err(|_| {
            protocol("a chunk's items add up to more than 4 GiB; lower the chunk size".into())
        })?);
    }
    Ok(block::ItemBlock {
        data,
        ends,
        stop_at_error,
    })
}

/// A running writer.
pub struct WriterInstance {
    store: Store<PluginState>,
    bindings: writer::Writer,
}

impl WriterInstance {
    /// Instantiates a prepared writer.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> Result<Self, InstantiationError> {
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
    /// The exit status the plugin chose for its step.
    pub exit_status: Option<ExitStatus>,
}

/// A running tasklet.
pub struct TaskletInstance {
    store: Store<PluginState>,
    bindings: tasklet::Tasklet,
}

impl TaskletInstance {
    /// Instantiates a prepared tasklet.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> Result<Self, InstantiationError> {
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
            context: domain_context(&self.store.data().limits, out.context)?,
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
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> Result<Self, InstantiationError> {
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

/// The most partitions a partitioner may return.
pub(super) const MAX_PARTITIONS: usize = 1024;

/// A running partitioner.
pub struct PartitionerInstance {
    store: Store<PluginState>,
    bindings: partitioner::Partitioner,
}

impl PartitionerInstance {
    /// Instantiates a prepared partitioner.
    pub async fn new(prepared: &Prepared, sandbox: &Sandbox) -> Result<Self, InstantiationError> {
        instantiate!(prepared, sandbox, Partitioner)
    }

    common_calls!(partitioner);

    /// The partitions for `grid_size`: at most [`MAX_PARTITIONS`], each context bounded like any
    /// context a plugin returns.
    pub async fn partition(
        &mut self,
        grid_size: u32,
    ) -> Result<Vec<ExecutionContext>, PluginError> {
        let r = guarded!(self, 1, store => self
            .bindings
            .batch_plugin_step_partitioner()
            .call_partition(store, grid_size));
        let parts = flatten(&self.store, r)?;
        if parts.len() > MAX_PARTITIONS {
            return Err(protocol(format!(
                "partition returned {} partitions; at most {MAX_PARTITIONS} are allowed",
                parts.len()
            )));
        }
        parts
            .into_iter()
            .map(|p| domain_context(&self.store.data().limits, p))
            .collect()
    }
}
