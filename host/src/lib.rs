//! # plughost
//!
//! WebAssembly plugins behind one HTTP entry point. This crate is the host: the
//! `plughost` binary (`main.rs`) and the library the binary, tests and benchmarks share.
//!
//! Where things live:
//!
//! | module          | what                                                                  |
//! |-----------------|-----------------------------------------------------------------------|
//! | `manifest`      | `plughost.toml` -> validated `PluginSpec`s (data only, no wasm)        |
//! | `id`            | `PluginId` and `Digest`: who a plugin is, which bytes it runs          |
//! | `capability/`   | what plugins can import, one folder each; `Capabilities`: this process's backends |
//! | `engine`        | the process-wide wasmtime engine, linker and epoch ticker            |
//! | `loader`        | manifest -> compiled, granted plugins -> routing table               |
//! | `plugin`        | a loaded plugin; `prepare`: grant and world checks, `InstancePre`    |
//! | `artifact_cache` | compiled components on disk (+ signed, shared through S3)           |
//! | `source`        | where the manifest comes from: a file, or a deployment in S3          |
//! | `deploy/`       | deployments in S3: layout, S3 store, manifest edits, operator CLI    |
//! | `aws`           | the AWS configuration and every AWS client                           |
//! | `telemetry/`    | per-plugin metrics: Prometheus (serve), CloudWatch EMF (Lambda)       |
//! | `registry`      | the routing table (matchit) and its atomic publication (ArcSwap)     |
//! | `admission`     | who may start an instance now: per-plugin cap, slots, memory budget  |
//! | `invoke`        | one request, event or task on one plugin: fresh store, limits, failure kinds |
//! | `task`          | workflow tasks (Step Functions, `plughost invoke`): a plugin on a JSON input |
//! | `state`         | the per-request store data                                            |
//! | `trigger/`      | event triggers: manifest syntax, schedules, patterns, who gets an event |
//! | `bindings`      | the one host-side `bindgen!` of the WIT world                        |
//! | `http/`         | `http` <-> WIT conversions, the host's JSON errors, access lines     |
//! | `app`           | the transport-agnostic request path and reloads                      |
//! | `dispatch`      | one request through one table (from outside, or plugin to plugin in-process) |
//! | `serve/`        | `plughost serve`: the local HTTP server and live reload              |
//! | `lambda/`       | `plughost lambda`: the same app behind the Lambda runtime API         |
//! | `logging`       | tracing setup (text or JSON), the buffered line writer of `serve`     |

pub mod admission;
pub mod app;
pub mod artifact_cache;
pub mod aws;
pub mod bindings;
pub mod capability;
pub mod deploy;
pub mod dispatch;
pub mod engine;
pub mod http;
pub mod id;
pub mod invoke;
pub mod lambda;
pub mod loader;
pub mod logging;
pub mod manifest;
pub mod plugin;
pub mod registry;
pub mod serve;
pub mod source;
pub mod state;
pub mod task;
pub mod telemetry;
pub mod trigger;

pub use app::App;
pub use capability::Capabilities;
pub use engine::{EngineSettings, PluginEngine, PoolTuning};
