//! [`RequestContext`]: what the host calls of one plugin call need of the request they
//! belong to, as one value — made once by `runtime/invoke.rs`, held in the request's
//! `State` (and the outbound context), handed to every host call:
//!
//! - the storage deadline: every storage call is cut off there, on every backend, so a
//!   hung backend (a stopped DynamoDB endpoint, a stalled S3 connection) becomes
//!   `unavailable` — an error the plugin can turn into a 503 — while the request still has
//!   time to answer, instead of the request timing out (504);
//! - the plugin's metrics, which count each host call;
//! - the plugin's open spans (`trace/`): a host call made while the plugin has a span open
//!   is that span's child.
//!
//! Outside a request (unit and conformance tests calling a backend directly) the default
//! context cuts nothing off and counts nothing.

use super::error::StorageError;
use super::trace::OpenSpans;
use crate::observability::telemetry::PluginMetrics;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

#[derive(Clone, Default)]
pub struct RequestContext {
    /// Storage calls are cut off here (`None`: not at all).
    pub storage_deadline: Option<Instant>,
    /// Where host calls are counted (`None`: nowhere).
    pub metrics: Option<Arc<PluginMetrics>>,
    /// The plugin's open spans (`trace::TraceCtx` records into the same).
    pub spans: Arc<Mutex<OpenSpans>>,
}

/// The part of a request's time kept back from storage: enough for the plugin to handle
/// `unavailable` and answer. A quarter of the time, at least 100 ms, at most 1 s.
pub fn reserve(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

impl RequestContext {
    /// The context of a plugin call answering by `ends_at` after `timeout`, counted in
    /// `metrics`.
    pub fn for_call(ends_at: Instant, timeout: Duration, metrics: Arc<PluginMetrics>) -> Self {
        Self {
            storage_deadline: Some(ends_at - reserve(timeout).min(timeout)),
            metrics: Some(metrics),
            spans: Arc::default(),
        }
    }

    /// `make()` (which makes a span) run inside the plugin's innermost open span, so that
    /// span is the parent. With no span open, `make()` as it is.
    pub fn in_innermost<R>(&self, make: impl FnOnce() -> R) -> R {
        let innermost = self.spans.lock().unwrap_or_else(|p| p.into_inner()).innermost().cloned();
        match innermost {
            Some(span) => span.in_scope(make),
            None => make(),
        }
    }

    /// `call`, cut off at the storage deadline (if any) with `unavailable`.
    pub async fn bounded<T>(&self, call: impl Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
        let Some(deadline) = self.storage_deadline else {
            return call.await;
        };
        match tokio::time::timeout_at(deadline.into(), call).await {
            Ok(result) => result,
            Err(_elapsed) => {
                tracing::warn!("storage call did not finish before the request's storage deadline");
                Err(StorageError::Unavailable("storage did not answer in time".into()))
            }
        }
    }

    /// One backend call of `capability` (its manifest name) on `label` — `operation` is the
    /// host function's name: cut off at the storage deadline, timed into the plugin's
    /// metrics, and traced as a `host_call` span with the capability, operation, label and
    /// outcome, a child of the plugin's innermost open span, else of its call. Every call a
    /// labelled capability's host functions make to a backend goes through here.
    pub async fn host_call<T>(
        &self,
        capability: &'static str,
        operation: &'static str,
        label: &str,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let span = self.in_innermost(|| {
            tracing::debug_span!("host_call", capability, operation, label, outcome = tracing::field::Empty)
        });
        let started = Instant::now();
        let result = self.bounded(call).instrument(span.clone()).await;
        let took = started.elapsed();
        span.record("outcome", if result.is_ok() { "ok" } else { "error" });
        if let Some(metrics) = &self.metrics {
            metrics.host_call(capability, operation, result.is_ok(), took);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hung_call_becomes_unavailable_at_the_deadline_and_others_pass() {
        let context =
            RequestContext { storage_deadline: Some(Instant::now() + Duration::from_millis(50)), ..Default::default() };
        let hung = context.bounded(std::future::pending::<Result<(), StorageError>>()).await;
        assert_eq!(hung, Err(StorageError::Unavailable("storage did not answer in time".into())));
        assert_eq!(context.bounded(async { Ok::<_, StorageError>(7) }).await, Ok(7));
        // Outside a request nothing is cut off.
        assert_eq!(RequestContext::default().bounded(async { Ok::<_, StorageError>(1) }).await, Ok(1));
        assert_eq!(reserve(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(reserve(Duration::from_millis(200)), Duration::from_millis(100));
    }
}
