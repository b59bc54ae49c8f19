//! Traces end to end: the real `plughost` binary exports its spans with OTLP to a real
//! receiver the test starts (`support/otlp.rs`, decoding the protobuf), because
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. The spans arrive with the right parents and
//! attributes — request → route, instantiate, call → the plugin's own span → host_call —
//! the incoming trace is continued (W3C `traceparent` in `serve`; the invocation's X-Ray
//! trace under the Lambda emulator), a chained call joins its caller's trace, and the trace
//! id is in the request's log lines.
//!
//! capabilities: trace

use crate::support;

use support::lambda::Lambda;
use support::otlp::{OtlpReceiver, Received};
use support::server::Server;
use support::{guest_wasm, manifest};

const MANIFEST: &str = r#"
[kv.users]

[plugins.probe]
source = "{kv-probe}"
routes = ["GET /kv/{label}/{key}"]
kv = { users = "read-write" }

[plugins.front]
source = "{http-probe}"
routes = ["POST /fetch"]
config = { name = "front" }
allowed_outbound_hosts = ["http://back.plughost.internal"]

[plugins.back]
source = "{http-probe}"
routes = ["GET /back/whoami"]
config = { name = "back" }
allowed_outbound_hosts = ["https://api.example.com"]
"#;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn one<'a>(spans: &'a [Received], what: &str, wanted: impl Fn(&&Received) -> bool) -> &'a Received {
    let found: Vec<&Received> = spans.iter().filter(wanted).collect();
    assert_eq!(found.len(), 1, "exactly one span {what}; got {spans:#?}");
    found[0]
}

#[tokio::test]
async fn serve_exports_the_request_path_as_spans_that_continue_the_incoming_trace() {
    let receiver = OtlpReceiver::start().await;
    let (_dir, path) = manifest(MANIFEST);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_SERVICE_NAME", "plughost-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let mut server = Server::start_with_env(&path, &[], &env);
    let http = reqwest::Client::new();

    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let url = server.url("/kv/users/ada?note=first%0Asecond");
    let res = http.get(url).header("traceparent", &traceparent).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();

    // The request span ends last, so once it is here, so is every span inside it.
    let spans = receiver
        .wait_for("request", |s| s.attribute("http.route") == Some("/kv/{label}/{key}") && s.trace_id == TRACE)
        .await;
    let spans: Vec<Received> = spans.into_iter().filter(|s| s.trace_id == TRACE).collect();
    let request = one(&spans, "request", |s| s.attribute("http.route") == Some("/kv/{label}/{key}"));
    assert_eq!(request.name, "GET /kv/{label}/{key}", "named by method and route");
    assert_eq!(request.parent_span_id, CALLER_SPAN, "a child of the caller's span");
    assert_eq!(request.service, "plughost-test");
    assert_eq!(request.attribute("plugin"), Some("probe"));
    assert_eq!(request.attribute("http.request.method"), Some("GET"));
    assert_eq!(request.attribute("http.response.status_code"), Some("200"));
    assert_eq!(request.attribute("request_id"), Some(request_id.as_str()));
    assert_eq!(request.attribute("trace_id"), Some(TRACE));
    for name in ["route", "instantiate", "call"] {
        let span = one(&spans, name, |s| s.name == name);
        assert_eq!(span.parent_span_id, request.span_id, "{name} is a child of the request");
    }
    let call = one(&spans, "call", |s| s.name == "call");
    // The plugin's own span (`plughost_sdk::trace::span`) around its read: a child of its
    // call, with its attributes (control characters escaped), and the parent of the kv call
    // made inside it.
    let own = one(&spans, "of the plugin's own", |s| s.name == "kv-probe read");
    assert_eq!(own.parent_span_id, call.span_id, "the plugin's span is a child of its call");
    assert_eq!(own.attribute("plugin"), Some("probe"));
    assert_eq!(own.attribute("key"), Some("ada"));
    assert_eq!(own.attribute("note"), Some("first\\nsecond"), "escaped, so no line can be forged");
    let host_call = one(&spans, "host_call", |s| s.name == "host_call");
    assert_eq!(host_call.parent_span_id, own.span_id, "host calls are children of the plugin's open span");
    assert_eq!(host_call.attribute("capability"), Some("kv"));
    assert_eq!(host_call.attribute("operation"), Some("get"));
    assert_eq!(host_call.attribute("label"), Some("users"));
    assert_eq!(host_call.attribute("outcome"), Some("ok"));

    // The trace id is in the request's log lines (the text format shows the root span).
    let access = server.wait_for_log(&request_id, std::time::Duration::from_secs(5));
    assert!(access.contains(TRACE), "{access}");

    // A chained call: the callee's request joins the caller's trace, under the caller's
    // outgoing call.
    let body = serde_json::json!({ "url": "http://back.plughost.internal/back/whoami" }).to_string();
    let res = http.post(server.url("/fetch")).body(body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let spans = receiver.wait_for("back's request", |s| s.attribute("plugin") == Some("back")).await;
    let back = one(&spans, "back's request", |s| s.attribute("plugin") == Some("back"));
    let front = one(&spans, "front's request", |s| s.attribute("plugin") == Some("front"));
    assert_eq!(back.trace_id, front.trace_id, "one trace across the chain");
    let outgoing = one(&spans, "front's outgoing call", |s| {
        s.name == "host_call" && s.attribute("capability") == Some("http") && s.trace_id == front.trace_id
    });
    assert_eq!(outgoing.attribute("operation"), Some("call"));
    assert_eq!(back.parent_span_id, outgoing.span_id, "the callee continues from the caller's call span");
}

#[tokio::test]
async fn under_the_lambda_emulator_spans_continue_the_invocations_trace_and_are_flushed_per_invocation() {
    let receiver = OtlpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[plugins.hello]\nsource = \"{}\"\nroutes = [\"GET /hello/{{name}}\"]\n",
        guest_wasm("hello").display()
    );
    std::fs::write(dir.path().join("plughost.toml"), manifest).unwrap();
    let env = [
        ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
        ("PLUGHOST_DATA_DIR", dir.path().join("data").display().to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        // Long: only the per-invocation flush can deliver within the test's wait.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".into()),
    ];
    let lambda = Lambda::start(&env, dir);

    // The emulator, as Lambda does, gives each invocation an X-Ray trace
    // (`Lambda-Runtime-Trace-Id`, which the runtime sets as `_X_AMZN_TRACE_ID`); it comes
    // before the event's own `X-Amzn-Trace-Id` header.
    let rest = lambda.invoke_fixture("apigw-rest-v1-get.json");
    assert_eq!(rest["statusCode"], 200, "{rest}");
    let spans = receiver.wait_for("the invocation's request", |s| s.attribute("plugin") == Some("hello")).await;
    let request = one(&spans, "request", |s| s.attribute("plugin") == Some("hello"));
    // An X-Ray trace id begins with its start time (epoch seconds, 8 hex digits): a
    // continued trace has now's; a trace of our own would be random.
    let started = u64::from_str_radix(&request.trace_id[..8], 16).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(started) < 600, "the invocation's X-Ray trace is continued: {}", request.trace_id);
    assert_ne!(request.trace_id, "6740a1b23c4d5e6f708192a3b4c5d6e7", "the invocation's trace comes before the event's");
    assert!(!request.parent_span_id.is_empty(), "a child of the invocation's segment");
    assert_eq!(request.attribute("http.route"), Some("/hello/{name}"));
    let call = one(&spans, "call", |s| s.name == "call");
    assert_eq!(call.parent_span_id, request.span_id);
    // The JSON log lines of the invocation carry the trace id at the top level.
    let lines = lambda.logs_until(r#""target":"plughost::access""#);
    let access = lines.last().unwrap();
    assert_eq!(access["trace_id"], request.trace_id.as_str(), "{access}");
}
