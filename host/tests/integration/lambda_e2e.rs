//! The Lambda entry end to end: the real `plughost` binary, started the way Lambda starts
//! `bootstrap` (no arguments, configuration in the environment), under cargo-lambda's
//! runtime emulator (`cargo lambda watch --only-lambda-apis`, installed by
//! `scripts/install-cargo-lambda`). Recorded event shapes in `tests/fixtures/lambda/` go
//! through `cargo lambda invoke --data-file`; Function URL requests go over HTTP.

use crate::support;

use base64::Engine as _;
use serde_json::Value;
use std::time::Duration;
use support::guest_wasm;
use support::lambda::Lambda;

const MANIFEST: &str = r#"
[plugins.hello]
source = "{hello}"
routes = ["GET /hello/{name}"]

[plugins.pricing]
source = "{pricing}"
routes = ["POST /v1/quotes/{currency}"]

[plugins.misbehave]
source = "{misbehave}"
routes = ["GET /binary", "POST /echo", "GET /loop"]
limits = { timeout = "1s" }
"#;

/// The function serving [`MANIFEST`] from a file in `dir` (data and compiled components
/// under `dir/data`, so a second start in the same dir is a cold start with a warm cache).
fn start_in(dir: tempfile::TempDir) -> Lambda {
    let mut manifest = MANIFEST.to_owned();
    for guest in ["hello", "pricing", "misbehave"] {
        manifest = manifest.replace(&format!("{{{guest}}}"), &guest_wasm(guest).display().to_string());
    }
    std::fs::write(dir.path().join("plughost.toml"), manifest).unwrap();
    let env = [
        ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
        ("PLUGHOST_DATA_DIR", dir.path().join("data").display().to_string()),
    ];
    Lambda::start(&env, dir)
}

fn start() -> Lambda {
    start_in(tempfile::tempdir().unwrap())
}

fn json_body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("a JSON body")
}

#[tokio::test]
async fn rest_v1_alb_and_http_v2_events_get_answers_shaped_for_them() {
    let lambda = start();

    // REST v1: the stage (`prod`) is not part of the path plugins route on.
    let rest = lambda.invoke_fixture("apigw-rest-v1-get.json");
    assert_eq!(rest["statusCode"], 200, "{rest}");
    assert_eq!(json_body(&rest)["message"], "Hello, ada!");
    assert_eq!(rest["multiValueHeaders"]["content-type"][0], "application/json", "REST v1 shape: {rest}");
    let request_id = rest["multiValueHeaders"]["x-request-id"][0].as_str().expect("a request id").to_owned();
    // The request id is Lambda's, and tags the host's access line.
    let lines = lambda.logs_until(&request_id);
    let access = lines.last().unwrap();
    assert_eq!((access["request_id"].as_str(), access["plugin"].as_str()), (Some(request_id.as_str()), Some("hello")));

    let quote = lambda.invoke_fixture("apigw-rest-v1-post-json.json");
    assert_eq!(quote["statusCode"], 200, "{quote}");
    let quote = json_body(&quote);
    assert_eq!((quote["discount_percent"].as_u64(), quote["total_cents"].as_u64()), (Some(15), Some(850)), "{quote}");

    let alb = lambda.invoke_fixture("alb-get.json");
    assert_eq!(alb["statusCode"], 200, "{alb}");
    assert_eq!(alb["statusDescription"], "200 OK", "ALB shape: {alb}");
    assert_eq!(json_body(&alb)["message"], "Hello, grace!");

    // HTTP API v2 with a base64 binary body: echoed back base64, byte for byte.
    let echo = lambda.invoke_fixture("apigw-http-v2-post-binary.json");
    assert_eq!(echo["statusCode"], 200, "{echo}");
    assert_eq!(echo["isBase64Encoded"], true, "{echo}");
    let bytes = base64::engine::general_purpose::STANDARD.decode(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(bytes, [0, 1, 254, 255, 128, 129, 2, 3]);
}

#[tokio::test]
async fn function_url_requests_over_http_round_trip_binary_bodies() {
    let lambda = start();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let hello = http.get(lambda.url("/hello/ada")).send().await.unwrap();
    assert_eq!(hello.status(), 200);
    assert!(hello.headers().contains_key("x-request-id"));
    assert_eq!(hello.json::<Value>().await.unwrap()["message"], "Hello, ada!");

    let binary = http.get(lambda.url("/binary")).send().await.unwrap();
    assert_eq!(binary.headers()["content-type"], "application/octet-stream");
    assert_eq!(binary.bytes().await.unwrap().to_vec(), (0..=255u8).collect::<Vec<u8>>());

    let payload: Vec<u8> = (0..=255u8).rev().cycle().take(3000).collect();
    let echo =
        http.post(lambda.url("/echo")).header("content-type", "image/png").body(payload.clone()).send().await.unwrap();
    assert_eq!(echo.status(), 200);
    assert_eq!(echo.bytes().await.unwrap().to_vec(), payload);

    let missing = http.get(lambda.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"]["code"], "route_not_found");
}

#[tokio::test]
async fn a_non_http_event_is_refused_and_a_slow_plugin_times_out_without_harming_the_host() {
    let lambda = start();
    let error = lambda.invoke(&["--data-ascii", r#"{"hello":"not an http event"}"#]).unwrap_err();
    assert!(error.contains("plughost.UnsupportedEvent"), "{error}");
    assert!(error.contains("plughost answers API Gateway, Function URL and ALB events, S3, SQS"), "{error}");

    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let slow = http.get(lambda.url("/loop")).send().await.unwrap();
    assert_eq!(slow.status(), 504);
    assert_eq!(slow.json::<Value>().await.unwrap()["error"]["code"], "plugin_timeout");
    assert_eq!(http.get(lambda.url("/hello/still-here")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_second_cold_start_loads_components_from_the_precompiled_cache() {
    let first = start();
    let compiled = first.logs_until("component compiled");
    assert!(compiled.last().unwrap()["plugin"].is_string());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    assert_eq!(http.get(first.url("/hello/one")).send().await.unwrap().status(), 200);
    let dir = first.stop();

    let second = start_in(dir);
    let lines = second.logs_until("\"plugin\":\"hello\"");
    let hello = lines.iter().rev().find(|l| l["plugin"] == "hello").unwrap();
    assert_eq!(hello["message"], "component loaded from the precompiled cache", "{hello}");
    assert_eq!(http.get(second.url("/hello/two")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn http_api_paths_route_as_serve_routes_them_and_a_named_stage_is_dropped() {
    let lambda = start();
    // HTTP APIs deliver `rawPath` decoded (the client sent `/hello/ada%20lovelace`).
    let decoded = lambda.invoke_fixture("apigw-http-v2-decoded-path.json");
    assert_eq!(decoded["statusCode"], 200, "{decoded}");
    assert_eq!(json_body(&decoded)["message"], "Hello, ada lovelace!");
    // A named stage (`Prod`) stays in `rawPath`; plugins route without it.
    let staged = lambda.invoke_fixture("apigw-http-v2-named-stage.json");
    assert_eq!(staged["statusCode"], 200, "{staged}");
    assert_eq!(json_body(&staged)["message"], "Hello, ada!");

    // A NUL in a path parameter is refused at the edge, as in `serve`, with an access line.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let nul = http.get(lambda.url("/hello/ada%00")).send().await.unwrap();
    assert_eq!(nul.status(), 400);
    let request_id = nul.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = nul.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("contains a control character"), "{body}");
    let lines = lambda.logs_until(&request_id);
    let access = lines.iter().find(|l| l["target"] == "plughost::access" && l["request_id"] == request_id.as_str());
    assert_eq!(access.expect("an access line for the 400")["status"], 400);
}

#[tokio::test]
async fn events_lambda_http_would_panic_on_get_a_400_and_a_json_log_line() {
    let lambda = start();
    for (fixture, reason) in [
        ("apigw-http-v2-invalid-base64.json", "not valid base64"),
        ("apigw-http-v2-invalid-host.json", "invalid Host `exa mple.com`"),
    ] {
        let refused = lambda.invoke_fixture(fixture);
        assert_eq!(refused["statusCode"], 400, "{fixture}: {refused}");
        let body = json_body(&refused);
        assert_eq!(body["error"]["code"], "bad_request", "{fixture}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(reason), "{fixture}: {body}");
        // Every line the function wrote is JSON (no plain-text panic output), and the
        // refusal has its access line.
        let request_id = refused["headers"]["x-request-id"].as_str().expect("a request id").to_owned();
        let lines = lambda.logs_until(&request_id);
        assert!(lines.iter().all(|l| !l.to_string().contains("panicked")), "{lines:?}");
    }
    assert_eq!(lambda.invoke_fixture("apigw-http-v2-post-binary.json")["statusCode"], 200);
}

#[tokio::test]
async fn an_s3_notification_for_another_object_does_not_reload_and_is_not_dropped() {
    let lambda = start();
    let error = lambda.invoke(&["--data-file", &fixture_path("s3-put-other-object.json")]).unwrap_err();
    // cargo-lambda wraps the error over several `│`-prefixed lines.
    let error = error.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
    assert!(error.contains("s3://plughost-uploads/uploads/photo 1.png"), "{error}");
    assert!(error.contains("plughost.UnboundSource × s3://"), "{error}");
    assert!(error.contains("no blob container is bound to this bucket and prefix"), "{error}");
    let lines = lambda.logs_until("invocation failed");
    let failed = lines.last().unwrap().to_string();
    assert!(failed.contains("\"source\":\"aws:s3\"") && failed.contains("plughost.UnboundSource"), "{failed}");
    assert!(lines.iter().all(|l| !l.to_string().contains("checking the deployment now")), "{lines:?}");
}

fn fixture_path(name: &str) -> String {
    support::lambda::repo().join("tests/fixtures/lambda").join(name).display().to_string()
}

/// The EMF line of `plugin` among `lines` (the metrics written by one invocation).
fn emf_of<'a>(lines: &'a [Value], plugin: &str) -> &'a Value {
    lines.iter().rev().find(|line| line["plugin"] == plugin).unwrap_or_else(|| panic!("no EMF line for {plugin}"))
}

#[tokio::test]
async fn each_invocation_writes_its_own_per_plugin_metrics_as_emf_lines() {
    let lambda = start();
    let http = reqwest::Client::new();

    // The components compiled at start land in the first invocation's lines.
    let rest = lambda.invoke_fixture("apigw-rest-v1-get.json");
    assert_eq!(rest["statusCode"], 200, "{rest}");
    let lines = lambda.metrics_until(r#""plugin":"hello""#);
    let hello = emf_of(&lines, "hello");
    let directive = &hello["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "plughost");
    assert_eq!(directive["Dimensions"], serde_json::json!([["plugin"]]));
    assert_eq!(hello["Invocations"], 1, "{hello}");
    assert_eq!(hello["Errors"], 0);
    assert_eq!(hello["ColdStarts"], 1);
    assert_eq!(hello["Duration"].as_array().map(Vec::len), Some(1));
    assert_eq!(hello["InstantiateDuration"].as_array().map(Vec::len), Some(1));
    assert!(hello["ResponseBytes"].as_u64().unwrap() > 0);
    assert_eq!(hello["ComponentLoadDuration"].as_array().map(Vec::len), Some(1), "{hello}");
    // Every member is named in the directive, with a unit.
    let named: Vec<&str> =
        directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
    for member in ["Invocations", "Errors", "ColdStarts", "Duration", "InstantiateDuration", "ResponseBytes"] {
        assert!(named.contains(&member), "{member} not in the directive: {directive}");
    }

    // A timeout: the plugin's own line says so; nothing of hello's is repeated.
    assert_eq!(http.get(lambda.url("/loop")).send().await.unwrap().status(), 504);
    let lines = lambda.metrics_until(r#""Errors.timeout""#);
    let misbehave = emf_of(&lines, "misbehave");
    assert_eq!((misbehave["Invocations"].as_u64(), misbehave["Errors"].as_u64()), (Some(1), Some(1)), "{misbehave}");
    assert_eq!(misbehave["Errors.timeout"], 1);
    assert!(lines.iter().all(|line| line["plugin"] != "hello"), "hello ran no request in this invocation: {lines:?}");

    // The next invocation starts its own batch: one invocation, warm.
    assert_eq!(http.get(lambda.url("/hello/again")).send().await.unwrap().status(), 200);
    let lines = lambda.metrics_until(r#""plugin":"hello""#);
    let hello = emf_of(&lines, "hello");
    assert_eq!(hello["Invocations"], 1, "{hello}");
    assert!(hello.get("ColdStarts").is_none(), "a warm instance is no cold start: {hello}");
}
