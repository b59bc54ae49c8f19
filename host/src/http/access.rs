//! What every answer the host gives shares, whoever produced it (a plugin, the host's
//! own errors, a capability's local routes): the request-id header and one access line.

use crate::observability::logging::access_record;
use bytes::Bytes;
use http::HeaderValue;
use std::time::Instant;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The one access line per request, whatever answered it; `route` is the manifest's
/// pattern that matched (what to group by: `path` has the parameters filled in). `path` may come from a client
/// or an event as it was received: it is escaped like every other outside string.
pub fn access_log(
    method: &http::Method,
    path: &str,
    status: http::StatusCode,
    plugin: Option<&crate::spec::id::PluginId>,
    route: Option<&str>,
    request_id: &str,
    started: Instant,
) {
    let path = crate::observability::escape::escape_controls(path);
    let line = access_record::Line {
        method: method.as_str(),
        path: &path,
        status: status.as_u16(),
        plugin: plugin.map(|p| p.as_str()),
        route,
        request_id,
        micros: started.elapsed().as_micros() as u64,
    };
    // The host's own layers write it from `line` (`observability/logging/access_record.rs` says why); the
    // fields are for any other subscriber. Every field a `&str` or a number: formatted
    // by nobody on the way (a `%value` field is formatted by each layer).
    access_record::log(&line, || {
        tracing::info!(
            target: access_record::TARGET,
            method = line.method,
            path = line.path,
            status = line.status,
            plugin = line.plugin,
            route = line.route,
            request_id = line.request_id,
            micros = line.micros,
            "{}",
            access_record::MESSAGE
        )
    });
}

/// Every response carries its request id, to match client reports with host logs.
pub fn tag_request_id(response: &mut http::Response<Bytes>, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}
