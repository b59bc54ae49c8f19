//! What operators see of each plugin: metrics (Prometheus in `serve`, CloudWatch EMF in
//! Lambda) and, later in this folder, traces.
//!
//! - `metrics.rs` — [`Metrics`], the process's registry (held by the engine), and
//!   [`PluginMetrics`], a loaded plugin's handle the request path records into;
//! - `emf.rs`     — one Lambda invocation's observations as CloudWatch Embedded Metric
//!   Format lines, written when it ends.
//!
//! Where observations are made: `invoke.rs` (instantiate, call, cold start),
//! `dispatch.rs` / `app.rs` / `task.rs` (one invocation's outcome),
//! `capability/host_call.rs` (storage and messaging calls), `capability/outbound/`
//! (outgoing HTTP and its refusals), `loader.rs` / `plugin.rs` (compiling), `app.rs`
//! (deployments).

pub mod emf;
pub mod metrics;

pub use metrics::{DeploymentOutcome, Entry, ErrorKind, Metrics, Phase, PluginMetrics, Summary};
