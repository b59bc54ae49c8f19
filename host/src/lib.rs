//! # plughost
//!
//! WebAssembly plugins behind one HTTP entry point. This crate is the host: the
//! `plughost` binary (`main.rs`) and the library the binary, tests and benchmarks share.
//!
//! Where things live:
//!
//! | module        | what                                                              |
//! |---------------|-------------------------------------------------------------------|
//! | `manifest`    | `plughost.toml` -> validated `PluginSpec`s (data only, no wasm)    |
//! | `engine`      | the process-wide wasmtime engine, linker and epoch ticker        |
//! | `loader`      | manifest -> compiled, world-checked plugins -> routing table     |
//! | `artifact_cache` | compiled components on disk (+ signed, shared through S3)       |
//! | `source`      | where the manifest comes from: a file, or a deployment in S3      |
//! | `deploy/`     | deployments in S3: layout, S3 store, manifest edits, operator CLI  |
//! | `metrics`     | CloudWatch Embedded Metric Format lines (in Lambda)               |
//! | `registry`    | the routing table (matchit) and its atomic publication (ArcSwap) |
//! | `admission`   | who may start an instance now: per-plugin cap, slots, memory budget |
//! | `invoke`      | one request on one plugin: fresh store, limits, failure kinds    |
//! | `state`       | the per-request store data                                        |
//! | `capability/` | what plugins can import: config (+ secrets), log, kv, blob, WASI  |
//! | `http/`       | `http` <-> WIT conversions and the host's JSON errors            |
//! | `app`         | the transport-agnostic request path and reloads                  |
//! | `serve/`      | `plughost serve`: the local HTTP server and live reload          |
//! | `lambda/`     | `plughost lambda`: the same app behind the Lambda runtime API     |
//! | `logging`     | tracing setup (text or JSON)                                      |

pub mod admission;
pub mod app;
pub mod artifact_cache;
pub mod bindings;
pub mod capability;
pub mod deploy;
pub mod engine;
pub mod http;
pub mod invoke;
pub mod lambda;
pub mod loader;
pub mod logging;
pub mod manifest;
pub mod metrics;
pub mod registry;
pub mod serve;
pub mod source;
pub mod state;

pub use app::App;
pub use capability::Storage;
pub use engine::{EngineSettings, PluginEngine};
