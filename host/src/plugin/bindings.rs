//! The one place `bindgen!` runs: host bindings for the `reader`, `processor`, `writer`,
//! `tasklet` and `decider` worlds of `batch:plugin@0.1.0`.
//!
//! The shared `types` and `log` interfaces are generated once (with the reader world) and
//! reused by the other two through `with`, so there is one `PluginError`, one `ContextEntry`
//! and one `log::Host` impl. Exports are async (wasmtime runs guest code on a fiber so
//! tokio keeps running); the `log` import is a plain sync host function.

#![allow(missing_docs, unreachable_pub, clippy::all)]

pub(crate) mod reader {
    wasmtime::component::bindgen!({
        world: "reader",
        path: "../wit",
        exports: { default: async },
    });
}

pub(crate) mod processor {
    wasmtime::component::bindgen!({
        world: "processor",
        path: "../wit",
        with: {
            "batch:plugin/types": super::reader::batch::plugin::types,
            "batch:plugin/log": super::reader::batch::plugin::log,
        },
        exports: { default: async },
    });
}

pub(crate) mod writer {
    wasmtime::component::bindgen!({
        world: "writer",
        path: "../wit",
        with: {
            "batch:plugin/types": super::reader::batch::plugin::types,
            "batch:plugin/log": super::reader::batch::plugin::log,
        },
        exports: { default: async },
    });
}

pub(crate) mod tasklet {
    wasmtime::component::bindgen!({
        world: "tasklet",
        path: "../wit",
        with: {
            "batch:plugin/types": super::reader::batch::plugin::types,
            "batch:plugin/log": super::reader::batch::plugin::log,
        },
        exports: { default: async },
    });
}

pub(crate) mod decider {
    wasmtime::component::bindgen!({
        world: "decider",
        path: "../wit",
        with: {
            "batch:plugin/types": super::reader::batch::plugin::types,
            "batch:plugin/log": super::reader::batch::plugin::log,
        },
        exports: { default: async },
    });
}

pub(crate) use reader::batch::plugin::log;
pub(crate) use reader::batch::plugin::types;
