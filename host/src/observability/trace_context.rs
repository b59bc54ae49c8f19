//! The trace an invocation arrives in, and the trace ids and headers plughost writes: the
//! one place that reads and writes trace context.
//!
//! - W3C `traceparent` is read by OpenTelemetry's `TraceContextPropagator` (the spec's
//!   rules — lowercase hex, no all-zero ids, a higher version read by its first four
//!   fields — kept by the crate that exports our spans);
//! - X-Ray's `Root=1-…;Parent=…;Sampled=…` (the Lambda invocation's `_X_AMZN_TRACE_ID`,
//!   API Gateway's `X-Amzn-Trace-Id`) is parsed here: no crate in the tree reads it, and
//!   it is twenty lines;
//! - a trace id when none arrived: the request id when it has a trace id's shape, else a
//!   random one; the `traceparent` an outgoing call carries.
//!
//! Used by `telemetry/traces.rs` (an invocation's root span continues the incoming trace)
//! and `capability/outbound/trace.rs` (the headers of in-process and marked calls).

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;

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
        .and_then(traceparent)
        .or_else(lambda_invocation)
        .or_else(|| header("x-amzn-trace-id").and_then(xray))
}

/// The Lambda invocation's X-Ray trace (events and tasks have no headers). Only a Lambda
/// function has one (the runtime sets `_X_AMZN_TRACE_ID` per invocation): elsewhere the
/// environment is not searched on every request.
pub fn lambda_invocation() -> Option<Incoming> {
    if !crate::platform::environment::in_function() {
        return None;
    }
    std::env::var("_X_AMZN_TRACE_ID").ok().as_deref().and_then(xray)
}

/// A W3C `traceparent` value (`00-<trace>-<span>-<flags>`), as OpenTelemetry reads it.
pub fn traceparent(value: &str) -> Option<Incoming> {
    struct One<'a>(&'a str);
    impl Extractor for One<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == "traceparent").then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent"]
        }
    }
    let context = TraceContextPropagator::new().extract(&One(value));
    let span = context.span();
    let remote = span.span_context();
    remote.is_valid().then(|| Incoming {
        trace_id: remote.trace_id().to_string(),
        parent: Some(remote.span_id().to_string()),
        sampled: remote.is_sampled(),
    })
}

/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`: X-Ray's
/// trace id is its epoch seconds and 96 random bits, which W3C writes as one 32-digit id.
fn xray(value: &str) -> Option<Incoming> {
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
    (version == "1" && parts.next().is_none() && time.len() == 8 && is_hex_id(&trace_id, 32)).then(|| Incoming {
        trace_id,
        parent: parent.filter(|p| is_hex_id(p, 16)),
        sampled,
    })
}

/// `n` lowercase hex digits, not all zero.
fn is_hex_id(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) && s.bytes().any(|b| b != b'0')
}

/// The trace id of an invocation that arrived in none: `request_id` when it has a trace
/// id's shape (plughost's are 32 hex digits; a Lambda request id is a UUID, its dashes
/// dropped), else a new random one.
pub fn new_trace_id(request_id: &str) -> String {
    // `serve`'s request ids have no dashes (copied once); Lambda's are dashed UUIDs.
    let undashed = if request_id.contains('-') { request_id.replace('-', "") } else { request_id.to_owned() };
    if is_hex_id(&undashed, 32) {
        return undashed;
    }
    hex::encode(random_bytes::<16>())
}

/// The `traceparent` of a call in trace `trace_id` whose parent is span `parent` (16 hex
/// digits; a random one when the caller's span is not exported).
pub fn traceparent_header(trace_id: &str, parent: Option<String>) -> String {
    let parent = parent.unwrap_or_else(|| hex::encode(random_bytes::<8>()));
    format!("00-{trace_id}-{parent}-01")
}

/// `N` random bytes, never all zero (an all-zero id is invalid in both W3C and X-Ray).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() || bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_as_w3c_defines_it() {
        let incoming = traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(incoming.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(incoming.parent.as_deref(), Some("00f067aa0ba902b7"));
        assert!(incoming.sampled);
        assert!(!traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap().sampled);
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(traceparent(bad), None, "{bad}");
        }
        // The crate is lenient in one place: a one-digit flags field (`-1`) reads as `01`.
        assert!(traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1").unwrap().sampled);
        // A higher version is read by its first four fields (W3C: "try to parse it").
        let future = traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").unwrap();
        assert_eq!(future.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn an_xray_header_becomes_the_same_trace_in_w3c_form() {
        let incoming = xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").unwrap();
        assert_eq!(incoming.trace_id, "5759e988bd862e3fe1be46a994272793");
        assert_eq!(incoming.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert!(incoming.sampled);
        let root_only = xray("Root=1-5759e988-bd862e3fe1be46a994272793").unwrap();
        assert_eq!(root_only.parent, None);
        assert!(!xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").unwrap().sampled);
        assert_eq!(xray("Root=2-5759e988-bd862e3fe1be46a994272793"), None);
        assert_eq!(xray("Parent=53995c3f42cd8ad8"), None);
        assert_eq!(xray("Root=1-xyz-bd862e3fe1be46a994272793"), None);
    }

    #[test]
    fn traceparent_comes_before_an_xray_header() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap());
        assert_eq!(incoming(&headers).unwrap().trace_id, "5759e988bd862e3fe1be46a994272793");
        headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        assert_eq!(incoming(&headers).unwrap().trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn a_request_id_can_start_a_trace_and_anything_else_gets_a_fresh_one() {
        let id = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(new_trace_id(id), id);
        assert_eq!(new_trace_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd"), "8476a536e9f411e897392dfe598c3fcd");
        let fresh = new_trace_id("event-42");
        assert!(is_hex_id(&fresh, 32), "{fresh}");
        let header = traceparent_header(id, None);
        assert_eq!(traceparent(&header).unwrap().trace_id, id);
    }
}
