//! The headers that tie an outbound request to the invocation that sent it: `x-request-id`
//! (the plughost request id) and W3C `traceparent` (the invocation's trace; the parent is
//! the call's span).
//! `mod.rs` adds them only to in-process calls and entries marked `trace = true`: trace
//! headers reaching third parties leak internal ids.

use http::HeaderValue;

/// Sets `x-request-id` and a `traceparent` (replacing the plugin's) whose parent is the
/// current span — the outgoing call's `host_call` span — when spans are exported, else a
/// fresh span id.
pub fn tag(headers: &mut http::HeaderMap, request_id: &str, trace_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    let parent = crate::observability::telemetry::traces::current_span_id();
    let traceparent = crate::observability::trace_context::traceparent_header(trace_id, parent);
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        headers.insert("traceparent", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_sets_both_headers_with_a_new_span() {
        let mut headers = http::HeaderMap::new();
        headers
            .insert("traceparent", HeaderValue::from_static("00-11111111111111111111111111111111-2222222222222222-01"));
        tag(&mut headers, "req-1", "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(headers["x-request-id"], "req-1");
        let traceparent = headers["traceparent"].to_str().unwrap();
        assert_eq!(
            crate::observability::trace_context::traceparent(traceparent).unwrap().trace_id,
            "0af7651916cd43dd8448eb211c80319c"
        );
    }
}
