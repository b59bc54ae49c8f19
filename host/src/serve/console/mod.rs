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
//! Bound to the serve listener (loopback by default). Like every `/_plughost/` endpoint it
//! answers only requests whose `Host` is `localhost` or an IP address (`serve/guard.rs`),
//! so a web page that rebinds its own domain name to 127.0.0.1 cannot read it (DNS
//! rebinding); the page is served with a Content-Security-Policy that allows only its own
//! script, style and API.

use crate::app::App;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where the page lives.
pub const CONSOLE_PATH: &str = "/_plughost/";

/// The log lines of a plugin the API returns (the newest; `observability/telemetry/recent_logs.rs` keeps more).
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
    logs: crate::observability::telemetry::RecentLogs,
}

pub fn router(app: Arc<App>, logs: crate::observability::telemetry::RecentLogs) -> axum::Router {
    axum::Router::new()
        .route(CONSOLE_PATH, get(page))
        .route("/_plughost", get(|| async { axum::response::Redirect::permanent(CONSOLE_PATH) }))
        .route("/_plughost/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/_plughost/console.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/_plughost/api/state", get(state))
        .route("/_plughost/api/logs/{plugin}", get(plugin_logs))
        .with_state(Console { app, logs })
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
        let message = format!("no plugin `{}` is loaded", crate::observability::escape::escape_controls(&plugin));
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "error": { "code": "not_found", "message": message } })))
            .into_response();
    }
    let lines = console.logs.of(&plugin);
    let newest = &lines[lines.len().saturating_sub(LOG_LINES)..];
    axum::Json(json!({ "plugin": plugin, "lines": newest })).into_response()
}
