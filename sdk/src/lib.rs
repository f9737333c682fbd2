//! # batch-sdk: write batch-host plugins in Rust
//!
//! A batch-host plugin is a WebAssembly component that plays one role: in a chunk-oriented step
//! an `ItemReader` (feature `reader`), an `ItemProcessor` (`processor`) or an `ItemWriter`
//! (`writer`); or a whole tasklet step, `Tasklet` (`tasklet`); or a flow `Decider` (`decider`); or a
//! partitioned step's `Partitioner` (`partitioner`). This crate is the only thing a
//! plugin crate depends on. It hides the WIT bindings (package `batch:plugin@0.1.0`) behind
//! idiomatic traits, typed items ([`Item`], JSON through serde by default), errors with dotted
//! kinds ([`Error`]), logging ([`log`]) and one macro per role that exports your type as a
//! component of the right world.
//!
//! Enable the cargo feature of your plugin's role (`reader`, `processor`, `writer`, `tasklet`
//! or `decider`): each feature generates exactly one WIT world, so the component you build
//! exports that world only. Building a component (`wasm32`) with two role features on is a
//! compile error; native builds (the host's tests, `cargo clippy --workspace`) may enable
//! several, since cargo unifies the features of a workspace.
//!
//! ## A complete processor
//!
//! ```toml
//! # Cargo.toml
//! [lib]
//! crate-type = ["cdylib"]
//! [dependencies]
//! batch-sdk = { path = "../../sdk", features = ["processor"] }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! ```rust
//! # #[cfg(feature = "processor")]
//! # mod example {
//! use batch_sdk::{Error, ItemProcessor, Setup};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Greeting { name: String }
//!
//! #[derive(Deserialize)]
//! struct Config { #[serde(default)] shout: bool }
//!
//! struct Greeter { shout: bool }
//!
//! impl ItemProcessor for Greeter {
//!     type In = Greeting;
//!     type Out = Greeting;
//!
//!     fn init(setup: &Setup) -> Result<Self, Error> {
//!         let config: Config = setup.config()?;
//!         Ok(Greeter { shout: config.shout })
//!     }
//!
//!     fn process(&mut self, item: Greeting) -> Result<Option<Greeting>, Error> {
//!         if item.name.is_empty() {
//!             return Ok(None); // filtered: counted in FILTER_COUNT, not written
//!         }
//!         if item.name.contains('@') {
//!             return Err(Error::new("validation.name", "a name must not contain `@`"));
//!         }
//!         let name = if self.shout { item.name.to_uppercase() } else { item.name };
//!         Ok(Some(Greeting { name }))
//!     }
//! }
//!
//! batch_sdk::export_processor!(Greeter);
//! # }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`, then
//! `batch-host plugin register target/wasm32-wasip2/release/greeter.wasm`.
//!
//! Readers and writers additionally implement Spring Batch's ItemStream methods `open`, `update`
//! and `close` (all with defaults): `update` returns the [`ExecutionContext`] the host saves with
//! every committed chunk, and `open` receives it back after a restart.

// A component carries exactly one world: two role features in one wasm build is a mistake.
#[cfg(all(
    target_family = "wasm",
    any(
        all(feature = "reader", feature = "processor"),
        all(feature = "reader", feature = "writer"),
        all(feature = "reader", feature = "tasklet"),
        all(feature = "reader", feature = "decider"),
        all(feature = "processor", feature = "writer"),
        all(feature = "processor", feature = "tasklet"),
        all(feature = "processor", feature = "decider"),
        all(feature = "writer", feature = "tasklet"),
        all(feature = "writer", feature = "decider"),
        all(feature = "tasklet", feature = "decider"),
        all(feature = "partitioner", feature = "reader"),
        all(feature = "partitioner", feature = "processor"),
        all(feature = "partitioner", feature = "writer"),
        all(feature = "partitioner", feature = "tasklet"),
        all(feature = "partitioner", feature = "decider"),
    )
))]
compile_error!(
    "batch-sdk: enable exactly one role feature (reader, processor, writer, tasklet, decider or partitioner); a component exports one world"
);

mod context;
mod error;
mod item;
pub mod log;
mod setup;
mod step;
#[cfg(feature = "testkit")]
pub mod testkit;

#[cfg(feature = "decider")]
mod decider;
#[cfg(feature = "partitioner")]
mod partitioner;
#[cfg(feature = "processor")]
mod processor;
#[cfg(feature = "reader")]
mod reader;
#[cfg(feature = "tasklet")]
mod tasklet;
#[cfg(feature = "writer")]
mod writer;

pub use context::ExecutionContext;
pub use error::Error;
pub use item::{Item, Raw};
pub use setup::{JobParameter, Setup, relative_path};
pub use step::{ExitStatus, StepSummary};

#[cfg(feature = "decider")]
pub use decider::Decider;
#[cfg(feature = "partitioner")]
pub use partitioner::Partitioner;
#[cfg(feature = "processor")]
pub use processor::ItemProcessor;
#[cfg(feature = "reader")]
pub use reader::ItemReader;
#[cfg(feature = "tasklet")]
pub use tasklet::{RepeatStatus, Tasklet};
#[cfg(feature = "writer")]
pub use writer::ItemWriter;

/// Generated WIT bindings. Not part of the public API: use the traits and macros instead.
#[doc(hidden)]
pub mod bindings;

/// Glue used by the export macros. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "decider")]
    pub use crate::decider::DeciderSlot;
    #[cfg(feature = "partitioner")]
    pub use crate::partitioner::PartitionerSlot;
    #[cfg(feature = "processor")]
    pub use crate::processor::ProcessorSlot;
    #[cfg(feature = "reader")]
    pub use crate::reader::ReaderSlot;
    #[cfg(feature = "tasklet")]
    pub use crate::tasklet::TaskletSlot;
    #[cfg(feature = "writer")]
    pub use crate::writer::WriterSlot;

    /// Runs `f` on the initialised plugin, or reports that `init` was never called.
    #[cfg(target_arch = "wasm32")]
    pub fn with_plugin<P, R>(
        slot: &mut Option<P>,
        f: impl FnOnce(&mut P) -> Result<R, crate::Error>,
    ) -> Result<R, crate::Error> {
        match slot.as_mut() {
            Some(plugin) => f(plugin),
            None => Err(crate::Error::new(
                "plugin.lifecycle",
                "the host called the plugin before `init`",
            )),
        }
    }

    /// Defines the per-instance storage for a plugin value and the slot type that reaches it.
    #[cfg(target_arch = "wasm32")]
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __define_slot {
        ($slot:ident, $trait:ident, $plugin:ty) => {
            ::std::thread_local! {
                static __BATCH_SDK_SLOT: ::core::cell::RefCell<::core::option::Option<$plugin>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }
            #[doc(hidden)]
            pub struct $slot;
            impl $crate::__private::$trait for $slot {
                type Plugin = $plugin;
                fn with<R>(f: impl FnOnce(&mut ::core::option::Option<$plugin>) -> R) -> R {
                    __BATCH_SDK_SLOT.with_borrow_mut(f)
                }
            }
        };
    }
}
