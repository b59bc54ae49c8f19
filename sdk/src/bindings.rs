//! The generated guest bindings of the `plughost:plugin` package (`wit/`).
//!
//! Plugin authors rarely need these directly: [`crate::Request`], [`crate::Response`],
//! [`crate::events`], [`crate::config`] and [`crate::log`] wrap them. They are public so a
//! plugin can reach a capability before the SDK grows a helper for it.
//!
//! Three worlds, one set of imports: the `plugin` world here (export `handler`, used by
//! [`crate::plugin!`]), the `events-plugin` world in [`events_world`] (export `events`,
//! used by [`crate::events!`]) and the `task-plugin` world in [`task_world`] (export
//! `task`, used by [`crate::task!`]), whose imports are these same modules. A component carries
//! only the exports whose macro it used, so an HTTP-only plugin stays HTTP-only, and one
//! that uses both macros exports both.

/// `wasi:http` (and the `wasi:io` / `wasi:clocks` types it uses), which [`crate::http`]
/// sends requests through. Generated on their own, without the `PartialEq` the plughost
/// types derive (their resources have none), and shared by every world below (`with`).
pub mod wasi_http {
    wit_bindgen::generate!({
        path: "../wit",
        inline: "package plughost:sdk; world http-client { import wasi:http/outgoing-handler@0.2.12; }",
        world: "plughost:sdk/http-client",
        generate_all,
    });
}
pub use wasi_http::wasi;

wit_bindgen::generate!({
    path: "../wit",
    world: "plughost:plugin/plugin",
    // `plugin!` (in lib.rs) expands to this macro inside the plugin crate.
    pub_export_macro: true,
    export_macro_name: "__export_handler",
    default_bindings_module: "plughost_sdk::bindings",
    additional_derives: [PartialEq, Eq],
    with: {
        "wasi:http/types@0.2.12": crate::bindings::wasi::http::types,
        "wasi:http/outgoing-handler@0.2.12": crate::bindings::wasi::http::outgoing_handler,
        "wasi:io/error@0.2.12": crate::bindings::wasi::io::error,
        "wasi:io/poll@0.2.12": crate::bindings::wasi::io::poll,
        "wasi:io/streams@0.2.12": crate::bindings::wasi::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": crate::bindings::wasi::clocks::monotonic_clock,
    },
});

/// A world that exports one interface beside the `plugin` world above, generated with
/// every import mapped (`with`) to the types already generated here: one set of import
/// types for every world, so a plugin using several export macros shares them.
macro_rules! export_world {
    ($(#[$doc:meta])* $module:ident, $world:tt, $export_macro:tt, $bindings_module:tt) => {
        $(#[$doc])*
        pub mod $module {
            wit_bindgen::generate!({
                path: "../wit",
                world: $world,
                pub_export_macro: true,
                export_macro_name: $export_macro,
                default_bindings_module: $bindings_module,
                additional_derives: [PartialEq, Eq],
                with: {
                    "plughost:plugin/types@0.1.4": crate::bindings::plughost::plugin::types,
                    "plughost:plugin/config@0.1.4": crate::bindings::plughost::plugin::config,
                    "plughost:plugin/log@0.1.4": crate::bindings::plughost::plugin::log,
                    "plughost:plugin/kv@0.1.4": crate::bindings::plughost::plugin::kv,
                    "plughost:plugin/blob@0.1.4": crate::bindings::plughost::plugin::blob,
                    "plughost:plugin/queue@0.1.4": crate::bindings::plughost::plugin::queue,
                    "plughost:plugin/topic@0.1.4": crate::bindings::plughost::plugin::topic,
                    "plughost:plugin/bus@0.1.4": crate::bindings::plughost::plugin::bus,
                    "plughost:plugin/trace@0.1.4": crate::bindings::plughost::plugin::trace,
                    "plughost:plugin/invocation@0.1.4": crate::bindings::plughost::plugin::invocation,
                    "wasi:http/types@0.2.12": crate::bindings::wasi::http::types,
                    "wasi:http/outgoing-handler@0.2.12": crate::bindings::wasi::http::outgoing_handler,
                    "wasi:io/error@0.2.12": crate::bindings::wasi::io::error,
                    "wasi:io/poll@0.2.12": crate::bindings::wasi::io::poll,
                    "wasi:io/streams@0.2.12": crate::bindings::wasi::io::streams,
                    "wasi:clocks/monotonic-clock@0.2.12": crate::bindings::wasi::clocks::monotonic_clock,
                },
            });
        }
    };
}

export_world!(
    /// The `events-plugin` world: the `events` export (`events!`, in events.rs, expands to
    /// its `__export_events` inside the plugin crate).
    events_world,
    "plughost:plugin/events-plugin",
    "__export_events",
    "plughost_sdk::bindings::events_world"
);

export_world!(
    /// The `task-plugin` world: the `task` export (`task!`, in task.rs, expands to its
    /// `__export_task` inside the plugin crate).
    task_world,
    "plughost:plugin/task-plugin",
    "__export_task",
    "plughost_sdk::bindings::task_world"
);
