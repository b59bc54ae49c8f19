//! The local console at `/_plughost/` (`serve` only, never in Lambda): one page, no build
//! step and no external assets (`console.html`, `console.js`, `console.css`, compiled into
//! the binary), polling two read-only JSON endpoints:
//!
//! - `GET /_plughost/api/state` — the table serving now: each plugin's routes, triggers,
//!   grants, allowed outbound hosts, limits and component digest, its totals from the
//!   metrics (requests, events, errors, p50/p99), and the reload history;
//! - `GET /_plughost/api/logs/{plugin}` — that plugin's last log lines, with request ids.
//!
//! The page's test form sends an ordinary request to a plugin's route, or an event to
//! `POST /_plughost/events`; the console adds nothing that writes.
//!
//! Bound to the serve listener (loopback by default). The console answers only requests
//! whose `Host` is `localhost` or an IP address, so a web page that rebinds its own
//! domain name to 127.0.0.1 cannot read it (DNS rebinding); the page is served with a
//! Content-Security-Policy that allows only its own script, style and API.

use crate::app::App;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where the page lives.
pub const CONSOLE_PATH: &str = "/_plughost/";

/// The log lines of a plugin the API returns (the newest; `telemetry/recent_logs.rs` keeps more).
const LOG_LINES: usize = 100;

const PAGE: &str = include_str!("console.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// Only what the page itself loads: its script, its style, its API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Clone)]
struct Console {
    app: Arc<App>,
    logs: crate::telemetry::RecentLogs,
}

pub fn router(app: Arc<App>, logs: crate::telemetry::RecentLogs) -> axum::Router {
    axum::Router::new()
        .route(CONSOLE_PATH, get(page))
        .route("/_plughost", get(|| async { axum::response::Redirect::permanent(CONSOLE_PATH) }))
        .route("/_plughost/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/_plughost/console.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/_plughost/api/state", get(state))
        .route("/_plughost/api/logs/{plugin}", get(plugin_logs))
        .layer(axum::middleware::from_fn(local_host_only))
        .with_state(Console { app, logs })
}

/// Refuses a `Host` that is a domain name other than `localhost` (see the module docs).
async fn local_host_only(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if is_local_host(host) {
        return next.run(request).await;
    }
    let message = "the console answers only at localhost or an IP address (Host header)";
    (StatusCode::FORBIDDEN, axum::Json(json!({ "error": { "code": "forbidden_host", "message": message } })))
        .into_response()
}

/// `localhost`, `127.0.0.1:8080`, `[::1]:8080`, `10.0.0.5` — not `evil.example:8080`.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => return v6.split(']').next().is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn page() -> Response {
    let mut response = asset("text/html; charset=utf-8", PAGE);
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn state(State(console): State<Console>) -> axum::Json<Value> {
    let app = &console.app;
    let table = app.table();
    let metrics = app.plugin_engine().metrics();
    let plugins: Vec<Value> = table
        .plugins()
        .iter()
        .map(|plugin| {
            let limits = &plugin.limits;
            json!({
                "id": plugin.id.as_str(),
                "source": plugin.source.to_string(),
                "digest": plugin.digest.hex(),
                "routes": plugin.routes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "triggers": plugin.triggers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "grants": plugin.granted,
                "outbound": plugin.outbound.describe(),
                "limits": {
                    "timeout_ms": limits.timeout.as_millis() as u64,
                    "max_memory": limits.max_memory,
                    "max_response": limits.max_response,
                    "max_concurrency": limits.max_concurrency,
                },
                "stats": metrics.summary(plugin.id.as_str()),
            })
        })
        .collect();
    axum::Json(json!({
        "manifest": app.source().to_string(),
        "generation": table.generation,
        "loaded_at": humantime::format_rfc3339_seconds(table.loaded_at).to_string(),
        "plugins": plugins,
        "reloads": app.reloads(),
    }))
}

async fn plugin_logs(State(console): State<Console>, Path(plugin): Path<String>) -> Response {
    if !console.app.table().plugins().iter().any(|p| p.id.as_str() == plugin) {
        let message = format!("no plugin `{}` is loaded", crate::capability::log::escape_controls(&plugin));
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "error": { "code": "not_found", "message": message } })))
            .into_response();
    }
    let lines = console.logs.of(&plugin);
    let newest = &lines[lines.len().saturating_sub(LOG_LINES)..];
    axum::Json(json!({ "plugin": plugin, "lines": newest })).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_localhost_and_ip_addresses_reach_the_console() {
        for host in ["localhost", "localhost:8080", "LOCALHOST:1", "127.0.0.1:8080", "10.1.2.3", "[::1]:8080", "[::1]"]
        {
            assert!(super::is_local_host(host), "{host}");
        }
        for host in
            ["", "evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io:80", "[evil]:1"]
        {
            assert!(!super::is_local_host(host), "{host}");
        }
    }
}
