//! What `serve`'s own endpoints ask of a request before they answer:
//!
//! - [`local_host`], every `/_plughost/` endpoint (the console, its API, health, metrics,
//!   the event endpoints, presigned storage URLs): a `Host` that is `localhost` or an IP
//!   address — a web page that rebinds its own domain name to 127.0.0.1 (DNS rebinding) is
//!   refused (`403 forbidden_host`);
//! - [`same_origin_json`], the endpoints that change something and no signature
//!   authorises (`POST /_plughost/events`): no `Origin` but the server's own (`403
//!   forbidden_origin`: any page open in a browser could otherwise post to it) and a JSON
//!   body (`415`: a form or `text/plain` post, which a browser sends cross-site without
//!   asking, is not one).
//!
//! Plugins' routes never start with `/_plughost` (the manifest refuses them), so nothing
//! here touches them.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The reserved prefix.
const PREFIX: &str = "/_plughost";

/// Layered on the whole server: the `Host` rule for every `/_plughost/` path.
pub async fn local_host(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path != PREFIX && !path.starts_with("/_plughost/") {
        return next.run(request).await;
    }
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !is_local_host(host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "plughost's own endpoints answer only at localhost or an IP address (Host header)",
        );
    }
    next.run(request).await
}

/// Layered on the endpoints that change something: same origin, JSON.
pub async fn same_origin_json(request: Request, next: Next) -> Response {
    let changes = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if changes {
        let headers = request.headers();
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !same_origin(headers, host) {
            return refuse(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                "plughost's own endpoints take changes only from their own origin (Origin header)",
            );
        }
        if !is_json(headers) {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the event as JSON (Content-Type: application/json)",
            );
        }
    }
    next.run(request).await
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": { "code": code, "message": message } }))).into_response()
}

/// `localhost`, `127.0.0.1:8080`, `[::1]:8080`, `10.0.0.5` — not `evil.example:8080`.
pub fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => return v6.split(']').next().is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// No `Origin` (a command-line client, `plughost trigger`), or one whose authority is the
/// request's own `Host` (the console's page). `Origin: null` (a sandboxed frame, a file)
/// is foreign.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// `Content-Type: application/json` (parameters such as a charset allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_localhost_and_ip_addresses_are_local_hosts() {
        for host in ["localhost", "localhost:8080", "LOCALHOST:1", "127.0.0.1:8080", "10.1.2.3", "[::1]:8080", "[::1]"]
        {
            assert!(is_local_host(host), "{host}");
        }
        for host in
            ["", "evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io:80", "[evil]:1"]
        {
            assert!(!is_local_host(host), "{host}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    #[test]
    fn an_origin_other_than_the_servers_own_is_foreign() {
        let host = "127.0.0.1:8080";
        assert!(same_origin(&headers(&[]), host));
        assert!(same_origin(&headers(&[("origin", "http://127.0.0.1:8080")]), host));
        for foreign in ["http://evil.example", "http://127.0.0.1:9999", "null", "http://localhost:8080"] {
            assert!(!same_origin(&headers(&[("origin", foreign)]), host), "{foreign}");
        }
    }

    #[test]
    fn only_a_json_content_type_is_json() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[("content-type", "Application/JSON; charset=utf-8")])));
        for other in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            assert!(!is_json(&headers(&[("content-type", other)])), "{other}");
        }
        assert!(!is_json(&headers(&[])));
    }
}
