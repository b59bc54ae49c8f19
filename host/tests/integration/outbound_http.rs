//! Outgoing HTTP as plugins reach it: the `http-probe` guest sends the requests each test
//! describes, through the whole app (no socket in front), to real servers on 127.0.0.1
//! (`support/upstream.rs`). Every fence of `capability/outbound/` is exercised: the
//! allow-list (exact, wildcard port, range), addresses that are not public (a name resolving
//! to loopback, the metadata address), redirects not followed, the deadline, the response
//! cap, the request count, forbidden headers, trace headers only where marked, TLS
//! verification, and in-process chaining (the callee's grants, the depth bound).
//!
//! capabilities: outbound

use crate::support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::upstream::{TlsUpstream, Upstream};
use support::{TestApp, call, capture_logs, captured_logs, load_app};

/// A manifest with the probe plugin allowed `hosts` (TOML list items) and `limits`.
fn probe(hosts: &str, limits: &str) -> String {
    format!(
        r#"
[plugins.probe]
source = "{{http-probe}}"
routes = ["POST /fetch", "GET /whoami"]
allowed_outbound_hosts = [{hosts}]
limits = {{ {limits} }}
"#
    )
}

/// Asks the probe to send `fetch` (see the guest's header) and returns each outcome.
async fn fetch(app: &TestApp, fetch: Value) -> Vec<Value> {
    fetch_with(app, fetch, &[]).await.0
}

async fn fetch_with(app: &TestApp, fetch: Value, headers: &[(&str, &str)]) -> (Vec<Value>, String) {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let reply = call(app, "POST", "/fetch", &all, fetch.to_string().as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    (reply.json()["results"].as_array().unwrap().clone(), request_id)
}

fn error(outcome: &Value) -> &str {
    outcome["error"].as_str().unwrap_or_else(|| panic!("expected an error, got {outcome}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_are_reached_and_every_other_target_is_denied_and_logged() {
    capture_logs();
    let upstream = Upstream::start().await;
    let other = Upstream::start().await;
    let app = load_app(&probe(&format!("\"http://127.0.0.1:{}\"", upstream.port()), "")).await;

    let ok = fetch(&app, json!({ "url": upstream.url("/echo?x=1") })).await;
    assert_eq!(ok[0]["status"], 200, "{ok:?}");
    let echoed: Value = serde_json::from_str(ok[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["path"], "/echo?x=1");
    assert_eq!(echoed["headers"]["host"], format!("127.0.0.1:{}", upstream.port()));
    // Not marked `trace = true`: no ids leave for this host.
    assert!(echoed["headers"].get("traceparent").is_none() && echoed["headers"].get("x-request-id").is_none());

    let (denied, request_id) = fetch_with(&app, json!({ "url": other.url("/echo") }), &[]).await;
    assert_eq!(error(&denied[0]), "Denied");
    let by_name = fetch(&app, json!({ "url": format!("http://localhost:{}/echo", upstream.port()) })).await;
    assert_eq!(error(&by_name[0]), "Denied", "a name is not its address");
    let https = fetch(&app, json!({ "url": format!("https://127.0.0.1:{}/echo", upstream.port()) })).await;
    assert_eq!(error(&https[0]), "Denied", "the scheme is part of the entry");
    assert_eq!(other.hits(), 0);
    assert_eq!(upstream.hits(), 1);

    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("outbound request denied") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("no denial logged for {request_id}:\n{logs}"));
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["plugin"], "probe");
    assert_eq!(line["url"], format!("http://127.0.0.1:{}", other.port()));
    assert_eq!(line["reason"], "not in the plugin's allowed_outbound_hosts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_wildcards_and_ranges_decide_which_ports_are_reached() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    let any_port = load_app(&probe("\"http://127.0.0.1:*\"", "")).await;
    for upstream in [&a, &b] {
        assert_eq!(fetch(&any_port, json!({ "url": upstream.url("/echo") })).await[0]["status"], 200);
    }
    let range = format!("\"http://127.0.0.1:{}..{}\"", a.port(), a.port() + 1);
    let one_port = load_app(&probe(&range, "")).await;
    assert_eq!(fetch(&one_port, json!({ "url": a.url("/echo") })).await[0]["status"], 200);
    assert_eq!(error(&fetch(&one_port, json!({ "url": b.url("/echo") })).await[0]), "Denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_a_private_address_is_refused_unless_an_entry_names_the_address() {
    capture_logs();
    let upstream = Upstream::start().await;
    let url = format!("http://localhost:{}/echo", upstream.port());
    let by_name = load_app(&probe("\"http://localhost:*\"", "")).await;
    let (denied, request_id) = fetch_with(&by_name, json!({ "url": url }), &[]).await;
    assert_eq!(error(&denied[0]), "Denied");
    assert_eq!(upstream.hits(), 0, "refused before connecting");
    let logs = captured_logs();
    let line = logs.lines().find(|l| l.contains(&request_id) && l.contains("outbound request denied")).unwrap();
    assert!(line.contains("loopback"), "{line}");

    let named = load_app(&probe("\"http://localhost:*\", \"http://127.0.0.1:*\"", "")).await;
    assert_eq!(fetch(&named, json!({ "url": url })).await[0]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_address_is_refused_and_redirects_come_back_unfollowed() {
    let upstream = Upstream::start().await;
    let everything = format!("\"*://*:*\", \"http://127.0.0.1:{}\"", upstream.port());
    let app = load_app(&probe(&everything, "")).await;
    let started = Instant::now();
    let metadata = fetch(&app, json!({ "url": "http://169.254.169.254/latest/meta-data/iam/" })).await;
    assert_eq!(error(&metadata[0]), "Denied");
    assert!(started.elapsed() < Duration::from_secs(2), "refused without trying to connect");

    let redirect = fetch(&app, json!({ "url": upstream.url("/redirect") })).await;
    assert_eq!(redirect[0]["status"], 302, "{redirect:?}");
    assert_eq!(redirect[0]["headers"]["location"], "http://169.254.169.254/latest/meta-data/");
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_is_cut_off_at_the_deadline_so_the_plugin_can_still_answer() {
    let upstream = Upstream::start().await;
    let app = load_app(&probe("\"http://127.0.0.1:*\"", "timeout = \"2s\"")).await;
    let started = Instant::now();
    let slow = fetch(&app, json!({ "url": upstream.url("/slow") })).await;
    assert_eq!(error(&slow[0]), "Timeout");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the plugin answered before its own timeout ({took:?})");
    // The plugin's own, shorter timeout cuts first.
    let quick = fetch(&app, json!({ "url": upstream.url("/slow"), "timeout_ms": 200 })).await;
    assert_eq!(error(&quick[0]), "Timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_over_max_outbound_response_fail_whether_declared_or_streamed() {
    let upstream = Upstream::start().await;
    let app = load_app(&probe("\"http://127.0.0.1:*\"", "max_outbound_response = \"1 MiB\"")).await;
    for path in ["/huge-declared", "/huge"] {
        let huge = fetch(&app, json!({ "url": upstream.url(path) })).await;
        assert_eq!(error(&huge[0]), "TooLarge", "{path}");
    }
    assert_eq!(fetch(&app, json!({ "url": upstream.url("/echo") })).await[0]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_max_outbound_requests_are_denied() {
    let upstream = Upstream::start().await;
    let app = load_app(&probe("\"http://127.0.0.1:*\"", "max_outbound_requests = 3")).await;
    let outcomes = fetch(&app, json!({ "url": upstream.url("/echo"), "repeat": 5 })).await;
    let statuses: Vec<Value> =
        outcomes.iter().map(|o| o.get("status").cloned().unwrap_or(o["error"].clone())).collect();
    assert_eq!(statuses, [json!(200), json!(200), json!(200), json!("Denied"), json!("Denied")]);
    assert_eq!(upstream.hits(), 3);
    // The count is per request: the next one starts again.
    assert_eq!(fetch(&app, json!({ "url": upstream.url("/echo") })).await[0]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_overrides_are_refused_and_trace_headers_reach_only_marked_hosts() {
    let marked = Upstream::start().await;
    let unmarked = Upstream::start().await;
    let hosts = format!(
        "{{ host = \"http://127.0.0.1:{}\", trace = true }}, \"http://127.0.0.1:{}\"",
        marked.port(),
        unmarked.port()
    );
    let app = load_app(&probe(&hosts, "")).await;
    let host_override =
        fetch(&app, json!({ "url": marked.url("/echo"), "headers": [["host", "internal.example"]] })).await;
    assert!(error(&host_override[0]).starts_with("Invalid"), "{host_override:?}");
    let hop = fetch(&app, json!({ "url": marked.url("/echo"), "headers": [["connection", "upgrade"]] })).await;
    assert!(error(&hop[0]).starts_with("Invalid"), "{hop:?}");

    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let both = json!({ "url": marked.url("/echo"), "headers": [["x-plugin", "kept"]] });
    let (traced, request_id) = fetch_with(&app, both, &[("traceparent", incoming)]).await;
    let echoed: Value = serde_json::from_str(traced[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["headers"]["x-request-id"], request_id);
    let traceparent = echoed["headers"]["traceparent"].as_str().unwrap();
    assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "the trace continues: {traceparent}");
    assert_ne!(traceparent, incoming, "with a span of its own");
    assert_eq!(echoed["headers"]["x-plugin"], "kept");

    let (plain, _) = fetch_with(&app, json!({ "url": unmarked.url("/echo") }), &[("traceparent", incoming)]).await;
    let echoed: Value = serde_json::from_str(plain[0]["body"].as_str().unwrap()).unwrap();
    assert!(echoed["headers"].get("traceparent").is_none() && echoed["headers"].get("x-request-id").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_against_the_system_roots_which_do_not_know_the_test_ca() {
    let tls = TlsUpstream::start().await;
    let app = load_app(&probe("\"https://127.0.0.1:*\"", "")).await;
    let outcome = fetch(&app, json!({ "url": format!("https://127.0.0.1:{}/", tls.addr.port()) })).await;
    assert_eq!(error(&outcome[0]), "Failed(\"TlsCertificateError\")");
}

const CHAIN: &str = r#"
[plugins.front]
source = "{http-probe}"
routes = ["POST /fetch"]
config = { name = "front" }
allowed_outbound_hosts = ["http://back.plughost.internal", "http://ghost.plughost.internal", "http://127.0.0.1:*"]

[plugins.back]
source = "{http-probe}"
routes = ["GET /back/whoami", "POST /back/fetch"]
config = { name = "back" }
allowed_outbound_hosts = ["https://api.example.com"]

[plugins.looper]
source = "{http-probe}"
routes = ["POST /loop"]
config = { name = "looper" }
allowed_outbound_hosts = ["http://looper.plughost.internal"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chained_call_runs_the_callee_on_its_own_instance_with_its_own_grants() {
    let upstream = Upstream::start().await;
    let app = load_app(CHAIN).await;
    let (whoami, request_id) =
        fetch_with(&app, json!({ "url": "http://back.plughost.internal/back/whoami" }), &[]).await;
    assert_eq!(whoami[0]["status"], 200, "{whoami:?}");
    let answer: Value = serde_json::from_str(whoami[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["plugin"], "back");
    assert_eq!(answer["headers"]["x-request-id"], request_id, "the caller's request id arrives");
    assert_ne!(answer["request_id"], request_id, "the callee's request has its own id");
    assert!(answer["headers"]["traceparent"].as_str().unwrap().contains(&request_id), "same trace");

    // The callee may not reach what the caller may: its own allow-list applies.
    let through_back = json!({ "url": "http://back.plughost.internal/back/fetch", "method": "POST",
        "body": json!({ "url": upstream.url("/echo") }).to_string() });
    let relayed = fetch(&app, through_back).await;
    assert_eq!(relayed[0]["status"], 200, "{relayed:?}");
    let inner: Value = serde_json::from_str(relayed[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["results"][0]["error"], "Denied", "{inner}");

    // Routes of other plugins are not reachable through a plugin's name, nor are missing plugins.
    let not_backs = fetch(&app, json!({ "url": "http://back.plughost.internal/loop", "method": "POST" })).await;
    assert_eq!(not_backs[0]["status"], 404, "{not_backs:?}");
    let ghost = fetch(&app, json!({ "url": "http://ghost.plughost.internal/" })).await;
    assert_eq!(error(&ghost[0]), "Failed(\"DestinationNotFound\")");
    let unlisted = fetch(&app, json!({ "url": "http://looper.plughost.internal/loop", "method": "POST" })).await;
    assert_eq!(error(&unlisted[0]), "Denied");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_calling_itself_is_cut_off_at_the_chain_depth() {
    let app = load_app(CHAIN).await;
    let reply = call(&app, "POST", "/loop", &[], b"").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let mut level = reply.json();
    let mut depth = 0;
    while let Some(next) = level.get("next") {
        depth += 1;
        level = next.clone();
    }
    assert_eq!(depth, 4, "four in-process calls, then the fifth is refused: {}", reply.text());
    assert_eq!(level["error"], "LoopDetected");
}

#[tokio::test]
async fn a_component_importing_outgoing_http_without_allowed_hosts_does_not_load() {
    let (_dir, path) = support::manifest("[plugins.probe]\nsource = \"{http-probe}\"\nroutes = [\"POST /fetch\"]\n");
    let data = tempfile::tempdir().unwrap();
    let storage = plughost::Capabilities::embedded(data.path(), "http://127.0.0.1").unwrap();
    let error = plughost::App::load(support::engine(), storage, &path, 1 << 20).await.err().expect("refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("plugin `probe`")
            && message.contains(
                "imports `wasi:http/outgoing-handler@0.2.12` (outgoing HTTP) but the manifest allows it no hosts"
            )
            && message.contains("allowed_outbound_hosts = [\"https://api.example.com\"]"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_set_over_the_size_limit_is_an_error_the_plugin_handles_not_a_trap() {
    capture_logs();
    let upstream = Upstream::start().await;
    let app = load_app(&probe("\"http://127.0.0.1:*\"", "")).await;
    // Two 100 KiB headers: past wasmtime-wasi-http's 128 KiB for a header set.
    let big = "a".repeat(100 * 1024);
    let request = json!({ "url": upstream.url("/echo"), "headers": [["x-one", big], ["x-two", big]] });
    let (outcomes, request_id) = fetch_with(&app, request, &[]).await;
    assert!(error(&outcomes[0]).contains("InvalidSyntax"), "{}", outcomes[0]);
    let logs = captured_logs();
    let line = logs.lines().find(|l| l.contains(&request_id) && l.contains("outgoing headers refused"));
    assert!(line.is_some_and(|l| l.contains("total size of fields exceeds limit")), "{logs}");
    assert_eq!(upstream.hits(), 0, "nothing was sent");
    // The plugin answered, and answers again.
    assert_eq!(fetch(&app, json!({ "url": upstream.url("/echo") })).await[0]["status"], 200);
}
