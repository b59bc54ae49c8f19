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

wit_bindgen::generate!({
    path: "../wit",
    world: "plughost:plugin/plugin",
    // `plugin!` (in lib.rs) expands to this macro inside the plugin crate.
    pub_export_macro: true,
    export_macro_name: "__export_handler",
    default_bindings_module: "plughost_sdk::bindings",
    additional_derives: [PartialEq, Eq],
});

/// The `task-plugin` world: the `task` export; imports shared with the parent module.
pub mod task_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plughost:plugin/task-plugin",
        // `task!` (in task.rs) expands to this macro inside the plugin crate.
        pub_export_macro: true,
        export_macro_name: "__export_task",
        default_bindings_module: "plughost_sdk::bindings::task_world",
        additional_derives: [PartialEq, Eq],
        with: {
            "plughost:plugin/types@0.1.2": crate::bindings::plughost::plugin::types,
            "plughost:plugin/config@0.1.2": crate::bindings::plughost::plugin::config,
            "plughost:plugin/log@0.1.2": crate::bindings::plughost::plugin::log,
            "plughost:plugin/kv@0.1.2": crate::bindings::plughost::plugin::kv,
            "plughost:plugin/blob@0.1.2": crate::bindings::plughost::plugin::blob,
            "plughost:plugin/queue@0.1.2": crate::bindings::plughost::plugin::queue,
            "plughost:plugin/topic@0.1.2": crate::bindings::plughost::plugin::topic,
            "plughost:plugin/bus@0.1.2": crate::bindings::plughost::plugin::bus,
        },
    });
}

/// The `events-plugin` world: the `events` export; imports shared with the parent module.
pub mod events_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plughost:plugin/events-plugin",
        // `events!` (in events.rs) expands to this macro inside the plugin crate.
        pub_export_macro: true,
        export_macro_name: "__export_events",
        default_bindings_module: "plughost_sdk::bindings::events_world",
        additional_derives: [PartialEq, Eq],
        with: {
            "plughost:plugin/types@0.1.2": crate::bindings::plughost::plugin::types,
            "plughost:plugin/config@0.1.2": crate::bindings::plughost::plugin::config,
            "plughost:plugin/log@0.1.2": crate::bindings::plughost::plugin::log,
            "plughost:plugin/kv@0.1.2": crate::bindings::plughost::plugin::kv,
            "plughost:plugin/blob@0.1.2": crate::bindings::plughost::plugin::blob,
            "plughost:plugin/queue@0.1.2": crate::bindings::plughost::plugin::queue,
            "plughost:plugin/topic@0.1.2": crate::bindings::plughost::plugin::topic,
            "plughost:plugin/bus@0.1.2": crate::bindings::plughost::plugin::bus,
        },
    });
}
