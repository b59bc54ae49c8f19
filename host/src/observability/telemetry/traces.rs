//! Traces: the request path's `tracing` spans — `request` (or `event`, `task`) →
//! `route` → `instantiate` → `call` → `host_call` (storage, messaging, outgoing HTTP) —
//! exported with OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: the ADOT Lambda layer's collector in AWS,
//! anything locally. Unset, no exporter exists and spans cost what a log filter costs.
//!
//! An invocation continues the trace it arrives in: a W3C `traceparent` header first,
//! then the Lambda invocation's X-Ray trace (`_X_AMZN_TRACE_ID`, set by the runtime for
//! each invocation), then API Gateway's `X-Amzn-Trace-Id` header. Its trace id is
//! recorded on the root span (so every log line inside it carries it: `logging.rs`), and
//! in-process calls and outgoing requests marked `trace` pass it on
//! (`capability/outbound/trace.rs`).
//!
//! In Lambda the spans of an invocation are flushed before it answers ([`flush`]): the
//! runtime may freeze the process right after.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The exporting provider, once `init` made one.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The trace an invocation arrives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// The caller's span (16 hex digits), when it said.
    pub parent: Option<String>,
    pub sampled: bool,
}

/// The trace of an HTTP request: its `traceparent`, else the Lambda invocation's X-Ray
/// trace, else its `X-Amzn-Trace-Id`. Malformed values are ignored.
pub fn incoming(headers: &http::HeaderMap) -> Option<Incoming> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("traceparent")
        .and_then(parse_traceparent)
        .or_else(lambda_invocation)
        .or_else(|| header("x-amzn-trace-id").and_then(parse_xray))
}

/// The Lambda invocation's X-Ray trace (events and tasks have no headers). Only a Lambda
/// function has one (the runtime sets `_X_AMZN_TRACE_ID` per invocation): elsewhere the
/// environment is not searched on every request.
pub fn lambda_invocation() -> Option<Incoming> {
    if !crate::platform::environment::in_function() {
        return None;
    }
    std::env::var("_X_AMZN_TRACE_ID").ok().as_deref().and_then(parse_xray)
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) && s.bytes().any(|b| b != b'0')
}

/// `00-<trace>-<span>-<flags>`.
fn parse_traceparent(value: &str) -> Option<Incoming> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let flags = u8::from_str_radix(flags, 16).ok().filter(|_| flags.len() == 2)?;
    (version == "00" && parts.next().is_none() && is_hex(trace, 32) && is_hex(span, 16)).then(|| Incoming {
        trace_id: trace.to_owned(),
        parent: Some(span.to_owned()),
        sampled: flags & 1 == 1,
    })
}

/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`: X-Ray's
/// trace id is its epoch seconds and 96 random bits, which W3C writes as one 32-digit id.
fn parse_xray(value: &str) -> Option<Incoming> {
    let (mut root, mut parent, mut sampled) = (None, None, true);
    for field in value.split(';') {
        match field.trim().split_once('=') {
            Some(("Root", v)) => root = Some(v),
            Some(("Parent", v)) => parent = Some(v.to_ascii_lowercase()),
            Some(("Sampled", v)) => sampled = v != "0",
            _ => {}
        }
    }
    let mut parts = root?.split('-');
    let (version, time, random) = (parts.next()?, parts.next()?, parts.next()?);
    let trace_id = format!("{time}{random}").to_ascii_lowercase();
    (version == "1" && parts.next().is_none() && time.len() == 8 && is_hex(&trace_id, 32)).then(|| Incoming {
        trace_id,
        parent: parent.filter(|p| is_hex(p, 16)),
        sampled,
    })
}

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
        let parent = parent.unwrap_or_else(|| SpanId::from_bytes(random_bytes()));
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

fn random_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() || bytes == [0; 8] {
        bytes[7] = 1;
    }
    bytes
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_as_w3c_defines_it() {
        let incoming = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(incoming.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(incoming.parent.as_deref(), Some("00f067aa0ba902b7"));
        assert!(incoming.sampled);
        assert!(!parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap().sampled);
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "garbage",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_xray_header_becomes_the_same_trace_in_w3c_form() {
        let incoming =
            parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").unwrap();
        assert_eq!(incoming.trace_id, "5759e988bd862e3fe1be46a994272793");
        assert_eq!(incoming.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert!(incoming.sampled);
        let root_only = parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793").unwrap();
        assert_eq!(root_only.parent, None);
        assert!(!parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").unwrap().sampled);
        assert_eq!(parse_xray("Root=2-5759e988-bd862e3fe1be46a994272793"), None);
        assert_eq!(parse_xray("Parent=53995c3f42cd8ad8"), None);
        assert_eq!(parse_xray("Root=1-xyz-bd862e3fe1be46a994272793"), None);
    }

    #[test]
    fn traceparent_comes_before_an_xray_header() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap());
        assert_eq!(incoming(&headers).unwrap().trace_id, "5759e988bd862e3fe1be46a994272793");
        headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        assert_eq!(incoming(&headers).unwrap().trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
