//! Test guest `http-probe`: sends the outgoing HTTP requests its request body describes and
//! answers `200` with each one's outcome, so host tests can assert exactly what the host let
//! through, refused or cut off.
//!
//! Routes are recognised by their last segment (`.../fetch`, `.../whoami`, `.../loop`).
//!
//! `POST /fetch` with `{"url", "method"?: "GET", "headers"?: [[name, value]], "body"?: text,
//! "timeout_ms"?, "repeat"?: 1}` → `{"results": [{"status", "headers": {..}, "body": text}
//! | {"error": "<HttpError variant>[: detail]"}]}`, one per repetition.
//!
//! `GET /whoami` answers `{"plugin": <config `name`>, "request_id", "headers": {..}}` — the
//! target of chained calls (which headers arrived).
//!
//! `POST /loop` calls `POST /loop` on `http://<config `name`>.plughost.internal` — itself —
//! and answers `{"next": <what that answered>}`, or `{"error": ..}` where the chain was cut.

use plughost_sdk::http::{self, HttpError};
use plughost_sdk::{IntoResponse, Json, Method, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Deserialize)]
struct Fetch {
    url: String,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
    timeout_ms: Option<u64>,
    #[serde(default = "one")]
    repeat: u32,
}

fn get() -> String {
    "GET".into()
}

fn one() -> u32 {
    1
}

fn outcome(result: Result<http::IncomingResponse, HttpError>) -> Value {
    match result {
        Ok(response) => {
            let headers: serde_json::Map<String, Value> =
                response.headers.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
            json!({ "status": response.status, "headers": headers, "body": response.text() })
        }
        Err(error) => json!({ "error": format!("{error:?}") }),
    }
}

fn fetch(req: Request) -> Result<Json<Value>, plughost_sdk::Error> {
    let fetch: Fetch = req.json()?;
    let mut results = Vec::new();
    for _ in 0..fetch.repeat {
        let mut request = http::request(&fetch.method, &fetch.url).body(fetch.body.clone());
        for (name, value) in &fetch.headers {
            request = request.header(name, value.clone());
        }
        if let Some(ms) = fetch.timeout_ms {
            request = request.timeout(Duration::from_millis(ms));
        }
        results.push(outcome(request.send()));
    }
    Ok(Json(json!({ "results": results })))
}

fn name() -> String {
    plughost_sdk::config::get("name").unwrap_or_else(|| "http-probe".into())
}

fn whoami(req: Request) -> Json<Value> {
    let headers: serde_json::Map<String, Value> =
        req.headers().iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
    Json(json!({ "plugin": name(), "request_id": req.request_id(), "headers": headers }))
}

fn call_self(_req: Request) -> Json<Value> {
    match http::post(&http::service(&name(), "/loop")).send() {
        Ok(response) => {
            Json(json!({ "next": response.json::<Value>().unwrap_or(Value::Null), "status": response.status }))
        }
        Err(error) => Json(json!({ "error": format!("{error:?}") })),
    }
}

/// Dispatches on the path's last segment, so one component can serve several plugins'
/// routes (`/fetch`, `/back/fetch`, ...) in one manifest, where paths must differ.
fn handle(req: Request) -> Response {
    let last = req.path().rsplit('/').next().unwrap_or("").to_owned();
    match (req.method().clone(), last.as_str()) {
        (Method::Post, "fetch") => fetch(req).into_response(),
        (Method::Get, "whoami") => whoami(req).into_response(),
        (Method::Post, "loop") => call_self(req).into_response(),
        _ => plughost_sdk::Error::not_found("no such probe route").into_response(),
    }
}

plughost_sdk::plugin!(handle);
