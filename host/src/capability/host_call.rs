//! Every call a labelled capability's host functions make to a backend goes through
//! [`call`]: cut off at the request's storage deadline (`deadline.rs`), timed into the
//! plugin's metrics (`observability/telemetry/metrics.rs`), and traced as a `host_call` span with the
//! capability, operation, label and outcome — a child of the plugin's innermost open span
//! (`trace/`), else of its call.
//!
//! `runtime/invoke.rs` names the running plugin's metrics with [`scope`] around the plugin call;
//! outside a request (tests calling a backend directly) calls are neither cut off nor
//! counted.

use super::deadline::bounded;
use super::error::StorageError;
use crate::observability::telemetry::PluginMetrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

tokio::task_local! {
    static PLUGIN: Arc<PluginMetrics>;
}

/// Runs `future` (a plugin call) with its host calls counted in `metrics`.
pub async fn scope<F: Future>(metrics: Arc<PluginMetrics>, future: F) -> F::Output {
    PLUGIN.scope(metrics, future).await
}

/// One backend call of `capability` (its manifest name) on `label`: `operation` is the
/// host function's name.
pub async fn call<T>(
    capability: &'static str,
    operation: &'static str,
    label: &str,
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    let span = super::trace::in_innermost(|| {
        tracing::debug_span!("host_call", capability, operation, label, outcome = tracing::field::Empty)
    });
    let started = Instant::now();
    let result = bounded(call).instrument(span.clone()).await;
    let took = started.elapsed();
    span.record("outcome", if result.is_ok() { "ok" } else { "error" });
    let _outside_a_request = PLUGIN.try_with(|metrics| metrics.host_call(capability, operation, result.is_ok(), took));
    result
}
