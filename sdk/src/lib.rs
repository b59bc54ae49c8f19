//! # plughost-sdk
//!
//! Write plughost plugins: WebAssembly components that answer HTTP requests routed to them
//! by the plughost host, and handle events (schedules, uploads, queue messages, ... — see
//! [`events`]), locally (`plughost serve`) or in AWS Lambda.
//!
//! A plugin is a `cdylib` crate with one handler — any function from [`Request`] to
//! something that implements [`IntoResponse`] — exported with [`plugin!`]:
//!
//! ```
//! use plughost_sdk::{Error, Json, Request, Router, StatusCode};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct NewNote { text: String }
//!
//! fn handle(req: Request) -> plughost_sdk::Response {
//!     Router::new()
//!         .get("/notes/{id}", |req: Request| -> Result<_, Error> {
//!             let id: u32 = req.require_param("id")?.parse()
//!                 .map_err(|_| Error::bad_request("id must be a number"))?;
//!             Ok(Json(serde_json::json!({ "id": id })))
//!         })
//!         .post("/notes", |req: Request| -> Result<_, Error> {
//!             let note: NewNote = req.json()?; // 400/415 with a clear message on bad input
//!             Ok((StatusCode::CREATED, Json(serde_json::json!({ "text": note.text }))))
//!         })
//!         .handle(req)
//! }
//!
//! plughost_sdk::plugin!(handle);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (or
//! `cargo component build --release`) and name the `.wasm` in `plughost.toml`.
//!
//! Handler logic also compiles natively: [`Request::builder`] makes requests and the
//! `testing` module stands in for the host's config, log, spans and outgoing HTTP, so
//! plugins are unit-tested with plain `cargo test`.
//!
//! Each request runs on a fresh instance: statics and caches do not survive between
//! requests. A panic becomes a `500` naming the plugin and request id; the message goes
//! to the host's log, never to the client.

pub mod bindings;
pub mod blob;
pub mod bus;
pub mod config;
mod error;
pub mod events;
pub mod http;
pub mod invocation;
pub mod kv;
pub mod log;
pub mod queue;
mod request;
mod response;
mod router;
pub mod task;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod topic;
pub mod trace;

pub use ::http::StatusCode;
pub use error::Error;
pub use request::{Method, Request, RequestBuilder};
pub use response::{IntoResponse, Json, Response};
pub use router::{Router, method_name};

/// Exports `handler` as this component's request handler.
///
/// `handler` is any `fn(Request) -> impl IntoResponse`. Use it once, at the crate root
/// of a `cdylib` plugin crate.
#[macro_export]
macro_rules! plugin {
    ($handler:path) => {
        // Exports exist only in the wasm build: natively (unit tests, benchmarks) the
        // handler is an ordinary function, and wit-bindgen's export symbol names are not
        // valid for native linkers.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PlughostPlugin;

            impl $crate::bindings::exports::plughost::plugin::handler::Guest for __PlughostPlugin {
                fn handle(
                    request: $crate::bindings::plughost::plugin::types::Request,
                ) -> $crate::bindings::plughost::plugin::types::Response {
                    $crate::__private::dispatch(request, $handler)
                }
            }

            $crate::bindings::__export_handler!(__PlughostPlugin);
        };
        // Natively (unit tests) nothing is exported; the handler still counts as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = $handler;
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::bindings::plughost::plugin::types as wit;
    use crate::{IntoResponse, Request};

    pub fn dispatch<R: IntoResponse>(request: wit::Request, handler: impl FnOnce(Request) -> R) -> wit::Response {
        handler(Request::from(request)).into_response().into_wit()
    }

    pub fn deliver<E: std::fmt::Display>(
        event: crate::events::Event,
        handler: impl FnOnce(crate::events::Event) -> Result<(), E>,
    ) -> Result<(), String> {
        handler(event).map_err(|error| error.to_string())
    }
}
