//! The headers that tie an outbound request to the invocation that sent it: `x-request-id`
//! (the plughost request id) and W3C `traceparent` (the invocation's trace; the parent is
//! the call's span).
//! `mod.rs` adds them only to in-process calls and entries marked `trace = true`: trace
//! headers reaching third parties leak internal ids.

use http::HeaderValue;

/// The trace an invocation belongs to: the incoming `traceparent`'s trace id when valid,
/// else `request_id` when it has a trace id's shape (plughost's are 32 hex digits; a
/// Lambda request id is a UUID, its dashes dropped), else a new random one.
pub fn trace_id(traceparent: Option<&str>, request_id: &str) -> String {
    if let Some(id) = traceparent.and_then(parse_traceparent) {
        return id.to_owned();
    }
    // `serve`'s request ids have no dashes (copied once); Lambda's are dashed UUIDs.
    let undashed = if request_id.contains('-') { request_id.replace('-', "") } else { request_id.to_owned() };
    if is_trace_id(&undashed) {
        return undashed;
    }
    random_hex::<16>()
}

/// The trace id of a valid `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
fn parse_traceparent(value: &str) -> Option<&str> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (version == "00"
        && parts.next().is_none()
        && is_trace_id(trace)
        && hex(span, 16)
        && span != "0000000000000000"
        && hex(flags, 2))
    .then_some(trace)
}

fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() || bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    hex::encode(bytes)
}

/// Sets `x-request-id` and a `traceparent` (replacing the plugin's) whose parent is the
/// current span — the outgoing call's `host_call` span — when spans are exported, else a
/// fresh span id.
pub fn tag(headers: &mut http::HeaderMap, request_id: &str, trace_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    let parent = crate::observability::telemetry::traces::current_span_id().unwrap_or_else(random_hex::<8>);
    let traceparent = format!("00-{trace_id}-{parent}-01");
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        headers.insert("traceparent", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incoming_trace_is_continued_and_a_request_id_can_start_one() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(Some(incoming), "r1"), "4bf92f3577b34da6a3ce929d0e0e4736");
        let id = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(trace_id(Some("garbage"), id), id);
        assert_eq!(trace_id(Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), id), id);
        assert_eq!(trace_id(None, "8476a536-e9f4-11e8-9739-2dfe598c3fcd"), "8476a536e9f411e897392dfe598c3fcd");
        let fresh = trace_id(None, "event-42");
        assert!(is_trace_id(&fresh), "{fresh}");
    }

    #[test]
    fn tagging_sets_both_headers_with_a_new_span() {
        let mut headers = http::HeaderMap::new();
        headers
            .insert("traceparent", HeaderValue::from_static("00-11111111111111111111111111111111-2222222222222222-01"));
        tag(&mut headers, "req-1", "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(headers["x-request-id"], "req-1");
        let traceparent = headers["traceparent"].to_str().unwrap();
        assert_eq!(parse_traceparent(traceparent), Some("0af7651916cd43dd8448eb211c80319c"));
    }
}
