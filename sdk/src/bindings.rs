//! The wit-bindgen output for `batch:plugin@0.1.0`. Each role's world is generated only when its
//! cargo feature is on, so a plugin component carries exactly one world. The `platform` world
//! (the shared `types` and the `log` import) is generated once and reused by every role.
//!
//! The role worlds are generated for `wasm32` only: wit-bindgen exports one macro per exported
//! interface at the crate root, so two roles in one build would collide. Native builds (the
//! workspace's unit tests and lints, where cargo unifies the features of all plugins) compile the
//! traits and the plugins' own logic, and the export macros only check that the type implements
//! the role's trait.

#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod platform {
    wit_bindgen::generate!({
        world: "platform",
        path: "../wit",
        generate_all,
    });
}

#[cfg(all(feature = "reader", target_arch = "wasm32"))]
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod reader {
    wit_bindgen::generate!({
        world: "reader",
        path: "../wit",
        with: {
            "batch:plugin/types@0.1.0": crate::bindings::platform::batch::plugin::types,
            "batch:plugin/log@0.1.0": crate::bindings::platform::batch::plugin::log,
        },
        pub_export_macro: true,
        export_macro_name: "__export_item_reader_world",
        default_bindings_module: "::batch_sdk::bindings::reader",
    });
}

#[cfg(all(feature = "processor", target_arch = "wasm32"))]
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod processor {
    wit_bindgen::generate!({
        world: "processor",
        path: "../wit",
        with: {
            "batch:plugin/types@0.1.0": crate::bindings::platform::batch::plugin::types,
            "batch:plugin/log@0.1.0": crate::bindings::platform::batch::plugin::log,
        },
        pub_export_macro: true,
        export_macro_name: "__export_item_processor_world",
        default_bindings_module: "::batch_sdk::bindings::processor",
    });
}

#[cfg(all(feature = "writer", target_arch = "wasm32"))]
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod writer {
    wit_bindgen::generate!({
        world: "writer",
        path: "../wit",
        with: {
            "batch:plugin/types@0.1.0": crate::bindings::platform::batch::plugin::types,
            "batch:plugin/log@0.1.0": crate::bindings::platform::batch::plugin::log,
        },
        pub_export_macro: true,
        export_macro_name: "__export_item_writer_world",
        default_bindings_module: "::batch_sdk::bindings::writer",
    });
}

#[cfg(all(feature = "tasklet", target_arch = "wasm32"))]
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod tasklet {
    wit_bindgen::generate!({
        world: "tasklet",
        path: "../wit",
        with: {
            "batch:plugin/types@0.1.0": crate::bindings::platform::batch::plugin::types,
            "batch:plugin/log@0.1.0": crate::bindings::platform::batch::plugin::log,
        },
        pub_export_macro: true,
        export_macro_name: "__export_tasklet_world",
        default_bindings_module: "::batch_sdk::bindings::tasklet",
    });
}

#[cfg(all(feature = "decider", target_arch = "wasm32"))]
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod decider {
    wit_bindgen::generate!({
        world: "decider",
        path: "../wit",
        with: {
            "batch:plugin/types@0.1.0": crate::bindings::platform::batch::plugin::types,
            "batch:plugin/log@0.1.0": crate::bindings::platform::batch::plugin::log,
        },
        pub_export_macro: true,
        export_macro_name: "__export_decider_world",
        default_bindings_module: "::batch_sdk::bindings::decider",
    });
}

use platform::batch::plugin::types as wit;

impl From<crate::Error> for wit::PluginError {
    fn from(e: crate::Error) -> Self {
        wit::PluginError {
            kind: e.kind,
            message: e.message,
        }
    }
}

#[cfg(target_arch = "wasm32")]
/// Converts an SDK result into the WIT result every export returns.
pub(crate) fn wit_result<T>(r: Result<T, crate::Error>) -> Result<T, wit::PluginError> {
    r.map_err(Into::into)
}
