//! The one host-side `bindgen!` of the `plughost:plugin` package (`wit/`), for the
//! `service` world: every import, and every export (`handler`, `events`, `task`).
//!
//! Capabilities implement the generated `Host` traits in `capability/<name>/host.rs`.
//! A component exports some of `handler`, `events` and `task`, so the host looks each export up on
//! its own (`Exports`, in `runtime/engine.rs`) instead of requiring the whole world; `runtime/invoke.rs`
//! calls them.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plughost:plugin/service",
    // The handler runs as an async call so the epoch callback can yield to tokio and a
    // request timeout can cancel it (see `runtime/invoke.rs`).
    exports: { default: async },
    // Storage and messaging calls are async (they await a backend) and return `StorageError`, which the
    // guest receives as the WIT `error` variant.
    imports: {
        "plughost:plugin/kv": async | trappable,
        "plughost:plugin/blob": async | trappable,
        "plughost:plugin/queue": async | trappable,
        "plughost:plugin/topic": async | trappable,
        "plughost:plugin/bus": async | trappable,
    },
    with: {
        "plughost:plugin/kv.store": crate::capability::kv::KvStore,
        "plughost:plugin/blob.container": crate::capability::blob::BlobContainer,
        "plughost:plugin/queue.queue": crate::capability::queue::OpenQueue,
        "plughost:plugin/topic.topic": crate::capability::topic::OpenTopic,
        "plughost:plugin/bus.bus": crate::capability::bus::OpenBus,
        "plughost:plugin/trace.span": crate::capability::trace::PluginSpan,
        // Outgoing HTTP is wasmtime's own `wasi:http` (`capability/outbound/`).
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    trappable_error_type: { "plughost:plugin/types.error" => crate::capability::error::StorageError },
    additional_derives: [PartialEq, Eq],
});

pub use self::exports::plughost::plugin::events as wit_events;
pub use self::exports::plughost::plugin::handler as wit_handler;
pub use self::exports::plughost::plugin::task as wit_task;
pub use self::plughost::plugin::types::{Method, Request, Response};

/// The exported interfaces' names as the host asks for them. The linker and export
/// lookups match versions semver-compatibly, so components built against any 0.1.x
/// of the package resolve.
pub const HANDLER_EXPORT: &str = "plughost:plugin/handler@0.1.4";
pub const EVENTS_EXPORT: &str = "plughost:plugin/events@0.1.4";
pub const TASK_EXPORT: &str = "plughost:plugin/task@0.1.4";
