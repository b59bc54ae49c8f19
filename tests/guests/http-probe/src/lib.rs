//! Test guest `http-probe`: sends the outgoing HTTP requests its request body describes and
//! answers `200` with each one's outcome, so host tests can assert exactly what the host let
//! through, refused or cut off.
//!
//! `POST /fetch` with `{"url", "method"?: "GET", "headers"?: [[name, value]], "body"?: text,
//! "timeout_ms"?, "repeat"?: 1}` → `{"results": [{"status", "headers": {..}, "body": text}
//! | {"error": "<HttpError variant>[: detail]"}]}`, one per repetition.
//!
//! `GET /whoami` answers `{"plugin": "http-probe", "request_id", "headers": {..}}` — the
//! target of chained calls (which headers arrived).

use plughost_sdk::http::{self, HttpError};
use plughost_sdk::{Json, Request, Response, Router};
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

fn whoami(req: Request) -> Json<Value> {
    let headers: serde_json::Map<String, Value> =
        req.headers().iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
    Json(json!({ "plugin": "http-probe", "request_id": req.request_id(), "headers": headers }))
}

fn handle(req: Request) -> Response {
    Router::new().post("/fetch", fetch).get("/whoami", whoami).handle(req)
}

plughost_sdk::plugin!(handle);
