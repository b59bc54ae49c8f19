//! The one host-side `bindgen!` of the `plughost:plugin` world (`wit/`).
//!
//! Capabilities implement the generated `Host` traits in `capability/<name>/host.rs`;
//! `invoke.rs` calls the exported handler through [`Plugin`].

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plughost:plugin/plugin",
    // The handler runs as an async call so the epoch callback can yield to tokio and a
    // request timeout can cancel it (see `invoke.rs`).
    exports: { default: async },
    // Storage calls are async (they await a backend) and return `StorageError`, which the
    // guest receives as the WIT `error` variant.
    imports: { "plughost:plugin/kv": async | trappable, "plughost:plugin/blob": async | trappable },
    with: {
        "plughost:plugin/kv.store": crate::capability::kv::KvStore,
        "plughost:plugin/blob.container": crate::capability::blob::BlobContainer,
    },
    trappable_error_type: { "plughost:plugin/types.error" => crate::capability::error::StorageError },
    additional_derives: [PartialEq, Eq],
});

pub use self::plughost::plugin::types::{Method, Request, Response};
