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

#[cfg(test)]
mod tests {
    use super::*;
    use plughost_sdk::{Method, StatusCode, testing};

    #[test]
    fn greets_by_name_with_the_configured_greeting() {
        testing::set_config("greeting", "Hi");
        let req = Request::builder(Method::Get, "/hello/{name}").param("name", "ada").build();
        let res = handle(req);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.body_json().unwrap()["message"], "Hi, ada!");
    }

    #[test]
    fn defaults_to_hello_world() {
        testing::clear_config();
        let res = handle(Request::builder(Method::Get, "/hello").build());
        assert_eq!(res.body_json().unwrap()["message"], "Hello, world!");
    }
}
