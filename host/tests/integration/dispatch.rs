//! Host integration tests: real components built from source (`make plugins`), driven
//! through `App::handle` without a socket. Routing, request/response conversion, the
//! sandbox, and every failure mode a plugin can cause.

use crate::support;

use std::time::{Duration, Instant};
use support::{call, capture_logs, captured_logs, get, load_app};

const EXAMPLES: &str = r#"
[plugins.hello]
source = "{hello}"
routes = ["GET /hello", "GET /hello/{name}"]
config = { greeting = "Howdy" }

[plugins.pricing]
source = "{pricing}"
routes = ["POST /v1/quotes/{currency}", "GET /v1/currencies"]
config = { currencies = "EUR,USD" }
"#;

const MISBEHAVE: &str = r#"
[plugins.misbehave]
source = "{misbehave}"
routes = ["GET /loop", "GET /alloc", "GET /panic", "GET /big-response", "GET /bad-header",
          "GET /sandbox", "GET /stdio", "GET /config", "GET /ok", "GET /count"]
config = { mine = "yes" }
limits = { timeout = "500ms", max_memory = "16 MiB", max_response = "64 KiB" }

[plugins.hello]
source = "{hello}"
routes = ["GET /hello"]
config = { secret_of_hello = "not for misbehave" }
"#;

#[tokio::test]
async fn hello_answers_with_configured_greeting_and_route_param() {
    let app = load_app(EXAMPLES).await;
    let reply = get(&app, "/hello/ada%20lovelace").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.json()["message"], "Howdy, ada lovelace!");
    assert!(reply.headers.contains_key("x-request-id"));
    assert_eq!(get(&app, "/hello").await.json()["message"], "Howdy, world!");
}

#[tokio::test]
async fn unknown_path_is_404_json_and_wrong_method_is_405_with_allow() {
    let app = load_app(EXAMPLES).await;
    let reply = get(&app, "/nope").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "route_not_found");

    let reply = call(&app, "DELETE", "/hello", &[], b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "GET");
    assert_eq!(reply.json()["error"]["code"], "method_not_allowed");

    let reply = get(&app, "/v1/quotes/eur").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "POST");
}

#[tokio::test]
async fn pricing_uses_params_query_headers_and_json_body() {
    let app = load_app(EXAMPLES).await;
    let body = br#"{"items":[{"sku":"A","unit_price_cents":250,"quantity":4},{"sku":"B","unit_price_cents":1000,"quantity":1}]}"#;
    let reply = call(
        &app,
        "POST",
        "/v1/quotes/eur?discount_percent=10",
        &[("content-type", "application/json"), ("x-customer-tier", "gold")],
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let quote = reply.json();
    assert_eq!(quote["currency"], "EUR");
    assert_eq!(quote["subtotal_cents"], 2000);
    assert_eq!(quote["discount_percent"], 15);
    assert_eq!(quote["total_cents"], 1700);
    assert_eq!(quote["lines"][0]["line_total_cents"], 1000);
    assert_eq!(quote["request_id"], reply.headers["x-request-id"].to_str().unwrap());
}

#[tokio::test]
async fn pricing_rejects_bad_input_with_specific_errors() {
    let app = load_app(EXAMPLES).await;
    let json = [("content-type", "application/json")];
    let reply = call(&app, "POST", "/v1/quotes/eur", &json, b"{not json").await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("invalid JSON body"));

    let reply = call(&app, "POST", "/v1/quotes/eur", &[("content-type", "text/plain")], b"{}").await;
    assert_eq!(reply.status, 415);

    let reply = call(&app, "POST", "/v1/quotes/eur?discount_percent=lots", &json, b"{}").await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("discount_percent"));

    let reply = call(&app, "POST", "/v1/quotes/jpy", &json, br#"{"items":[]}"#).await;
    assert_eq!(reply.status, 404);

    let reply =
        call(&app, "POST", "/v1/quotes/usd", &json, br#"{"items":[{"sku":"A","unit_price_cents":1,"quantity":0}]}"#)
            .await;
    assert_eq!(reply.status, 422);
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("items[0].quantity"));
}

#[tokio::test]
async fn infinite_loop_gets_504_at_the_deadline_and_the_host_keeps_serving() {
    let app = load_app(MISBEHAVE).await;
    let started = Instant::now();
    let reply = get(&app, "/loop").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["error"]["code"], "plugin_timeout");
    assert_eq!(reply.json()["error"]["plugin"], "misbehave");
    // The limit is 500 ms; a generous upper bound only guards against "never stopped".
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(get(&app, "/ok").await.text(), "ok");
}

#[tokio::test]
async fn looping_plugin_does_not_block_other_requests() {
    let app = load_app(MISBEHAVE).await;
    let looping = tokio::spawn({
        let app = app.clone();
        async move { get(&app, "/loop").await.status }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While the loop runs, other requests are answered (the guest yields at every epoch).
    let reply = get(&app, "/hello").await;
    assert_eq!(reply.status, 200);
    assert!(!looping.is_finished(), "the loop should still be running");
    assert_eq!(looping.await.unwrap(), 504);
}

#[tokio::test]
async fn unbounded_allocation_is_contained_as_500_memory_limit() {
    let app = load_app(MISBEHAVE).await;
    let reply = get(&app, "/alloc").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"]["code"], "plugin_memory_limit");
    assert_eq!(get(&app, "/ok").await.status, 200);
}

#[tokio::test]
async fn panic_is_500_naming_plugin_and_request_without_internals() {
    capture_logs();
    let app = load_app(MISBEHAVE).await;
    let reply = get(&app, "/panic").await;
    assert_eq!(reply.status, 500);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "plugin_failed");
    assert_eq!(error["plugin"], "misbehave");
    let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(error["request_id"], request_id.as_str());
    assert!(!reply.text().contains("deliberate panic"), "panic message leaked: {}", reply.text());
    assert!(!reply.text().contains("wasm"), "internals leaked: {}", reply.text());
    // The panic message reaches the host log, tagged with the request.
    let logs = captured_logs();
    assert!(
        logs.lines().any(|l| l.contains(&request_id) && l.contains("deliberate panic")),
        "no log line with the panic message for {request_id}"
    );
    assert_eq!(get(&app, "/ok").await.status, 200);
}

#[tokio::test]
async fn oversized_response_and_invalid_header_are_refused() {
    let app = load_app(MISBEHAVE).await;
    assert_eq!(get(&app, "/big-response?bytes=1000").await.body.len(), 1000);
    let reply = get(&app, "/big-response?bytes=100000").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"]["code"], "plugin_response_too_large");

    let reply = get(&app, "/bad-header").await;
    assert_eq!(reply.status, 502);
    assert!(reply.headers.get("set-cookie").is_none());
    assert!(reply.headers.get("x-evil").is_none());
}

#[tokio::test]
async fn sandbox_exposes_no_env_args_or_files() {
    let app = load_app(MISBEHAVE).await;
    let reply = get(&app, "/sandbox").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = reply.json();
    assert_eq!(seen["env"], serde_json::json!([]), "host environment leaked");
    assert_eq!(seen["args"], serde_json::json!([]));
    assert_eq!(seen["visible_paths"], serde_json::json!([]), "filesystem visible");
}

#[tokio::test]
async fn config_shows_only_the_plugins_own_values() {
    let app = load_app(MISBEHAVE).await;
    let reply = get(&app, "/config").await;
    assert_eq!(reply.json(), serde_json::json!([["mine", "yes"]]));
}

#[tokio::test]
async fn stdout_stderr_and_log_calls_become_tagged_log_lines() {
    capture_logs();
    let app = load_app(MISBEHAVE).await;
    let reply = get(&app, "/stdio").await;
    assert_eq!(reply.status, 200);
    let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    let logs = captured_logs();
    let mine: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["request_id"] == request_id.as_str() && l["target"] == "plugin")
        .collect();
    let find = |source: &str| mine.iter().find(|l| l["source"] == source).cloned();
    let stdout = find("stdout").expect("stdout line");
    assert_eq!(stdout["message"], format!("to stdout from {request_id}"));
    assert_eq!(stdout["level"], "INFO");
    assert_eq!(stdout["plugin"], "misbehave");
    assert_eq!(find("stderr").expect("stderr line")["level"], "WARN");
    let structured = find("log").expect("log line");
    assert_eq!(structured["message"], "structured line");
    assert_eq!(structured["fields"], r#"{"answer":"42"}"#);
}

#[tokio::test]
async fn many_concurrent_requests_each_get_a_fresh_instance() {
    let app = load_app(EXAMPLES).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { get(&app, &format!("/hello/n{i}")).await.json()["message"].clone() })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), format!("Howdy, n{i}!"));
    }
    // A guest that counts its calls in a static: on a reused instance the count would
    // pass 1, concurrently or one after another.
    let app = load_app(MISBEHAVE).await;
    let counts: Vec<_> = (0..40)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { get(&app, "/count").await.text() })
        })
        .collect();
    for count in counts {
        assert_eq!(count.await.unwrap(), "1", "a request saw another request's instance state");
    }
    for _ in 0..5 {
        assert_eq!(get(&app, "/count").await.text(), "1");
    }
}

/// Components built against package 0.1.0 (before `events` existed) keep loading and
/// serving: the host's linker and export lookups match 0.1.x versions semver-compatibly.
/// The fixture is `plugins/hello` as built by plughost before 0.1.1.
#[tokio::test]
async fn a_component_built_against_package_0_1_0_still_serves() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/components/hello-built-against-0.1.0.wasm");
    let bytes = std::fs::read(&fixture).unwrap();
    let as_text = String::from_utf8_lossy(&bytes);
    assert!(as_text.contains("plughost:plugin/handler@0.1.0") && !as_text.contains("@0.1.1"), "an 0.1.0 component");
    let app = load_app(&format!(
        "[plugins.old]\nsource = \"{}\"\nroutes = [\"GET /hello/{{name}}\"]\nconfig = {{ greeting = \"Hi\" }}\n",
        fixture.display()
    ))
    .await;
    let reply = get(&app, "/hello/ada").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["message"], "Hi, ada!");
}
