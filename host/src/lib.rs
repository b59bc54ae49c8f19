//! # plughost
//!
//! WebAssembly plugins behind one HTTP entry point. This crate is the host: the
//! `plughost` binary (`main.rs`) and the library the binary, tests and benchmarks share.
//!
//! Layers, top to bottom; every import points down (`scripts/check-layout` enforces it):
//!
//! | layer           | modules                          | what                                                   |
//! |-----------------|----------------------------------|--------------------------------------------------------|
//! | edge            | `serve/`, `lambda/`, `cli/`, `main.rs` | where requests, events and commands come in       |
//! | flow            | `app`, `dispatch/`, `task`       | one request / one event / one task through the layers below; reloads |
//! | routing         | `routing/`                       | the HTTP routing table and the event table             |
//! | runtime         | `runtime/`                       | engine, loader, plugins, admission, one invocation, deployments |
//! | capability      | `capability/`, `bindings`        | what plugins can import, one folder each; the one `bindgen!` |
//! | http            | `http/`                          | the host's own answers: JSON errors, request ids, access lines |
//! | observability   | `observability/`                 | logging and telemetry (metrics, traces, EMF, recent lines) |
//! | platform        | `platform/`                      | the AWS clients; whether this is a Lambda function     |
//! | spec            | `spec/`                          | the manifest and everything parsed from it (data only) |

pub mod app;
pub mod bindings;
pub mod capability;
pub mod cli;
pub mod dispatch;
pub mod http;
pub mod lambda;
pub mod observability;
pub mod platform;
pub mod routing;
pub mod runtime;
pub mod serve;
pub mod spec;
pub mod task;

pub use app::App;
pub use capability::Capabilities;
pub use runtime::engine::{EngineSettings, PluginEngine, PoolTuning};
