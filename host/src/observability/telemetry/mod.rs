//! What operators see of each plugin: metrics (Prometheus in `serve`, CloudWatch EMF in
//! Lambda), traces (OTLP), and what the local console shows besides.
//!
//! - `metrics.rs`     — [`Metrics`], the process's registry (held by the engine), and
//!   [`PluginMetrics`], a loaded plugin's handle the request path records into;
//! - `names.rs`       — what they are broken down by (entry, error kind, phase, deployment);
//! - `emf.rs`         — one Lambda invocation's observations as CloudWatch Embedded Metric
//!   Format lines, written when it ends;
//! - `recent_logs.rs` — each plugin's last log lines (a `tracing` layer; `serve` only);
//! - `reloads.rs`     — what became of each reload;
//! - `traces.rs`      — spans exported with OTLP, and the trace an invocation continues.
//!
//! Where observations are made: `runtime/invoke.rs` (instantiate, call, cold start),
//! `dispatch/` / `app.rs` / `task.rs` (one invocation's outcome),
//! `capability/request_context.rs` (storage and messaging calls), `capability/outbound/`
//! (outgoing HTTP and its refusals), `runtime/loader.rs` / `runtime/plugin.rs` (compiling), `app.rs`
//! (deployments).

pub mod emf;
pub mod metrics;
pub mod names;
pub mod recent_logs;
pub mod reloads;
pub mod traces;

pub use metrics::{DeploymentOutcome, Entry, ErrorKind, Metrics, Phase, PluginMetrics, Summary};
pub use recent_logs::RecentLogs;
pub use reloads::ReloadHistory;
