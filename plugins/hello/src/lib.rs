//! `hello`: greets the caller.
//!
//! Routes (see `plughost.toml`): `GET /hello` and `GET /hello/{name}`.
//! Config: `greeting` (default "Hello").

use plughost_sdk::{Json, Request, Response, Router, config};
use serde_json::json;

/// The plugin's handler; `pub` so the benchmark can call it natively.
pub fn handle(req: Request) -> Response {
    Router::new()
        .get("/hello", |_req: Request| greet("world"))
        .get("/hello/{name}", |req: Request| greet(req.param("name").unwrap_or("world")))
        .handle(req)
}

fn greet(name: &str) -> Json<serde_json::Value> {
    let greeting = config::get("greeting").unwrap_or_else(|| "Hello".to_owned());
    Json(json!({ "message": format!("{greeting}, {name}!") }))
}

plughost_sdk::plugin!(handle);
