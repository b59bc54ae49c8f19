//! `plughost serve`: the local HTTP server (axum over hyper), the host's health and
//! metrics endpoints, the local console (`console/`),
//! graceful shutdown, live reload (`watch.rs`), the routes capabilities answer
//! themselves (`Capabilities::local_routes`: presigned URLs of embedded storage), and the
//! local event sources (`sources/`: scheduler, queues, outbox) with their endpoints
//! (`events_endpoint.rs`); what every `/_plughost/` endpoint asks of a request (`guard.rs`).
//!
//! Only transport lives here: reading the body under the size limit and handing an
//! `http::Request<Bytes>` to [`App::handle_with_id`].

mod console;
mod events_endpoint;
mod guard;
pub mod sources;
mod watch;

pub use console::CONSOLE_PATH;
pub use events_endpoint::EVENTS_PATH;

use crate::app::App;
use crate::http::HostError;
use anyhow::Context;
use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
// The event sources stop when the server does: their handles abort the tasks when dropped.
use tokio_util::task::AbortOnDropHandle;

/// The host's own health endpoint (the prefix is reserved in manifests).
pub const HEALTH_PATH: &str = "/_plughost/health";
/// Every plugin's metrics in Prometheus' text format (`observability/telemetry/metrics.rs`).
pub const METRICS_PATH: &str = "/_plughost/metrics";

#[derive(Clone)]
pub struct ServeOptions {
    /// Reload when the manifest or a plugin file changes (a deployment in S3 is polled
    /// every `refresh` instead).
    pub watch: bool,
    pub refresh: std::time::Duration,
    /// The local event sources (`<data-dir>/events.sqlite3`): schedules fire, queues and
    /// the outbox deliver, `POST /_plughost/events` fires events. `None`: no events.
    pub events: Option<crate::capability::message_store::LocalEvents>,
    /// Each plugin's last log lines, for the console (the logging layer fills it).
    pub recent_logs: crate::observability::telemetry::RecentLogs,
}

/// Binds `listen` first, so the real address (port 0 becomes a free port) is known
/// before the app is built: embedded storage needs it for presigned URLs.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    // No plugin may call this server over the network (its operator API, the console, itself
    // past the chain depth limit), whatever its allow-list says.
    crate::capability::outbound::fence::refuse_own_listener(addr);
    let _watcher = match (options.watch, app.source().file()) {
        (false, _) => None,
        (true, Some(_)) => Some(watch::spawn(app.clone())?),
        (true, None) => Some(watch::poll(app.clone(), options.refresh)),
    };

    let table = app.table();
    for plugin in table.plugins() {
        let routes = plugin.routes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let events = plugin.triggers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        tracing::info!(plugin = %plugin.id, routes, events, digest = plugin.digest.short(), "plugin loaded");
    }
    let mut event_routes = axum::Router::new();
    let mut _event_tasks = Vec::new();
    if let Some(events) = options.events {
        // Before the first request: writes to triggered labels are recorded from the start.
        sources::pump::watch_triggered_labels(&app, &mut Default::default()).await;
        _event_tasks.push(AbortOnDropHandle::new(sources::pump::spawn(app.clone(), events.clone())));
        _event_tasks.push(AbortOnDropHandle::new(sources::scheduler::spawn(app.clone(), events.clone())));
        _event_tasks.extend(sources::sqs_poller::spawn(app.clone()).into_iter().map(AbortOnDropHandle::new));
        event_routes = events_endpoint::router(app.clone(), events);
    }
    tracing::info!(%addr, manifest = %app.source(), watch = options.watch, "plughost listening on http://{addr}");

    let console = console::router(app.clone(), options.recent_logs.clone());
    // What capabilities answer themselves (presigned URLs of embedded storage).
    let capabilities = app.capabilities().local_routes();
    let router = axum::Router::new()
        .route(HEALTH_PATH, get(health))
        .route(METRICS_PATH, get(metrics))
        .fallback(dispatch)
        .with_state(app)
        .merge(capabilities)
        .merge(event_routes)
        .merge(console)
        .layer(axum::middleware::from_fn(guard::local_host));
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
    // Spans still batched go out before the process ends (blocking: the exporter's call).
    let _exported = tokio::task::spawn_blocking(crate::observability::telemetry::traces::shutdown).await;
    tracing::info!("plughost stopped");
    Ok(())
}

async fn dispatch(State(app): State<Arc<App>>, request: axum::extract::Request) -> axum::response::Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let (parts, body) = request.into_parts();
    let max_body = app.max_body();
    let response = match read_body(&parts, body, max_body).await {
        Ok(bytes) => app.handle_with_id(http::Request::from_parts(parts, bytes), &request_id).await,
        Err(error) => {
            let mut response = app.refuse(error, &parts.method, parts.uri.path(), &request_id);
            // The body was not read to its end, so this connection cannot carry another
            // request: tell the client instead of letting it reuse a connection we drop.
            response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
            response
        }
    };
    response.map(Body::from)
}

/// Reads the whole body, refusing (413) as soon as it is known to exceed `limit` — from
/// `content-length` before reading anything, or while streaming a chunked body.
async fn read_body(parts: &http::request::Parts, body: Body, limit: usize) -> Result<Bytes, HostError> {
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(HostError::PayloadTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(HostError::PayloadTooLarge { limit }),
        Err(e) => Err(HostError::BadRequest { reason: format!("could not read the request body: {e}") }),
    }
}

async fn health(State(app): State<Arc<App>>) -> axum::Json<serde_json::Value> {
    let table = app.table();
    let plugins: Vec<_> =
        table.plugins().iter().map(|p| serde_json::json!({ "id": p.id.as_str(), "digest": p.digest.hex() })).collect();
    axum::Json(serde_json::json!({
        "status": "ok",
        "generation": table.generation,
        "loaded_at": humantime::format_rfc3339_seconds(table.loaded_at).to_string(),
        "plugins": plugins,
    }))
}

async fn metrics(State(app): State<Arc<App>>) -> impl axum::response::IntoResponse {
    let text = app.plugin_engine().metrics().render();
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
