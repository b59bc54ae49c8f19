//! `serve`'s event endpoints (never in Lambda): `POST /_plughost/events` fires an event now
//! (`serve/sources/fire.rs` says what it accepts; `plughost trigger` posts here) and
//! `GET /_plughost/events` shows the local queues, the outbox and the dead letters.
//! Under the reserved prefix, on the serve listener (loopback by default); firing takes a
//! JSON body from no origin but the server's own (`guard.rs`).

use crate::app::App;
use crate::capability::message_store::LocalEvents;
use crate::serve::sources::fire::{Fire, MAX_EVENT_BYTES, Refused};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub const EVENTS_PATH: &str = "/_plughost/events";

#[derive(Clone)]
struct Events {
    app: Arc<App>,
    events: LocalEvents,
}

pub fn router(app: Arc<App>, events: LocalEvents) -> axum::Router {
    axum::Router::new()
        .route(EVENTS_PATH, get(status).post(fire))
        // The JSON around a body of MAX_EVENT_BYTES stays well under twice that.
        .layer(axum::extract::DefaultBodyLimit::max(2 * MAX_EVENT_BYTES))
        // A web page must not fire events (`guard.rs`).
        .layer(axum::middleware::from_fn(super::guard::same_origin_json))
        .with_state(Events { app, events })
}

async fn fire(State(state): State<Events>, body: axum::body::Bytes) -> Response {
    let request: Fire = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_event", format!("not an event to fire: {e}")),
    };
    match request.accept(&state.app, &state.events).await {
        Ok(accepted) => (StatusCode::ACCEPTED, axum::Json(accepted)).into_response(),
        Err(Refused::Invalid(message)) => error(StatusCode::BAD_REQUEST, "invalid_event", message),
        Err(Refused::Unknown(message)) => error(StatusCode::NOT_FOUND, "unknown_source", message),
    }
}

async fn status(State(state): State<Events>) -> Response {
    match state.events.status().await {
        Ok(status) => axum::Json(status).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("{e:#}")),
    }
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": { "code": code, "message": message } }))).into_response()
}
