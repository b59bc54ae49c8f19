//! Traces: the request path's `tracing` spans — `request` (or `event`, `task`) →
//! `route` → `instantiate` → `call` → `host_call` (storage, messaging, outgoing HTTP) —
//! exported with OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: the ADOT Lambda layer's collector in AWS,
//! anything locally. Unset, no exporter exists and spans cost what a log filter costs.
//!
//! An invocation continues the trace it arrives in (`observability/trace_context.rs`: a W3C
//! `traceparent` header first, then the Lambda invocation's X-Ray trace, then API
//! Gateway's `X-Amzn-Trace-Id` header). Its trace id is
//! recorded on the root span (so every log line inside it carries it: `logging.rs`), and
//! in-process calls and outgoing requests marked `trace` pass it on
//! (`capability/outbound/trace.rs`).
//!
//! In Lambda the spans of an invocation are flushed before it answers ([`flush`]): the
//! runtime may freeze the process right after.

use crate::observability::trace_context::Incoming;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The exporting provider, once `init` made one.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Makes `span` (an invocation's root) continue `incoming` and returns the invocation's
/// trace id, recorded on the span as `trace_id`. Where the span is exported (the
/// subscriber has the OTLP layer), the id is the exported trace's; otherwise `incoming`'s,
/// else `fallback()` (a request id that can serve as one, or a random id).
pub fn start(span: &tracing::Span, incoming: Option<&Incoming>, fallback: impl FnOnce() -> String) -> String {
    // Without the OTLP layer these calls find no OpenTelemetry data on the span and do
    // nothing: the subscriber decides, not a flag.
    if let Some(incoming) = incoming {
        let parent = incoming.parent.as_deref().and_then(|p| SpanId::from_hex(p).ok());
        // A trace id with no parent span (a bare `Root=`) still continues: under a parent
        // id of our own, so the backend files it in the same trace.
        let parent = parent.unwrap_or_else(|| SpanId::from_bytes(crate::observability::trace_context::random_bytes()));
        let flags = if incoming.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        if let Ok(trace_id) = TraceId::from_hex(&incoming.trace_id) {
            let remote = SpanContext::new(trace_id, parent, flags, true, TraceState::default());
            let _continued = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
    }
    let exported = span.context().span().span_context().trace_id();
    if exported != TraceId::INVALID {
        let id = exported.to_string();
        span.record("trace_id", id.as_str());
        return id;
    }
    let id = incoming.map(|i| i.trace_id.clone()).unwrap_or_else(fallback);
    span.record("trace_id", id.as_str());
    id
}

/// Names an exported span after it started (a request's name says its route, known only
/// once routed). `name` is made only when this process exports spans: nothing is
/// formatted on the request path otherwise.
pub fn rename(span: &tracing::Span, name: impl FnOnce() -> String) {
    if exporting() {
        span.context().span().update_name(name());
    }
}

/// The current span's id as a `traceparent` parent (what an outgoing call is a child
/// of), when it is exported; `None` otherwise.
pub fn current_span_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span_id = context.span().span_context().span_id();
    (span_id != SpanId::INVALID).then(|| span_id.to_string())
}

/// Whether this process exports spans (an OTLP endpoint is configured).
pub fn exporting() -> bool {
    PROVIDER.get().is_some()
}

/// The layer that exports spans, when `OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (the exporter reads those, and the other
/// `OTEL_EXPORTER_OTLP_*` settings, itself). The service name is `OTEL_SERVICE_NAME`, else
/// the Lambda function's name, else `plughost`. An exporter that cannot be built is
/// reported on stderr and the host runs without it.
pub fn init<S>() -> Option<impl tracing_subscriber::Layer<S>>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let configured = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !configured("OTEL_EXPORTER_OTLP_ENDPOINT") && !configured("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("warning: OTLP trace export is configured but cannot start: {error}; spans are not exported");
            return None;
        }
    };
    let service = std::env::var("OTEL_SERVICE_NAME")
        .or_else(|_| std::env::var("AWS_LAMBDA_FUNCTION_NAME"))
        .unwrap_or_else(|_| "plughost".into());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
    let provider = SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build();
    let tracer = provider.tracer("plughost");
    // Once per process: the global subscriber is installed once, too.
    PROVIDER.set(provider).ok()?;
    Some(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Exports every finished span now (Lambda: before the invocation answers). Blocking:
/// call it off the async workers. Does nothing when nothing is exported.
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.force_flush()
    {
        tracing::warn!("spans could not be exported: {error}");
    }
}

/// Exports what is left and stops the exporter (the process is ending).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _best_effort = provider.shutdown();
    }
}
