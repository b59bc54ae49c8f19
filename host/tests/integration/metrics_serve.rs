//! Per-plugin metrics end to end: the real `plughost serve` answers traffic from a real
//! client, and `/_plughost/metrics` (Prometheus text) shows exactly that traffic —
//! invocations by plugin, trigger and outcome, errors by kind, durations, host calls by
//! capability and operation, response bytes and cold starts — for requests, for events
//! (and the ones a plugin fails), and for outgoing requests (and the ones refused).

use crate::support;

use std::time::Duration;
use support::manifest;
use support::server::Server;

const MANIFEST: &str = r#"
[kv.users]

[plugins.hello]
source = "{hello}"
routes = ["GET /hello/{name}"]

[plugins.probe]
source = "{kv-probe}"
routes = ["GET /kv/{label}/{key}", "PUT /kv/{label}/{key}"]
kv = { users = "read-write" }

[plugins.misbehave]
source = "{misbehave}"
routes = ["GET /panic", "GET /ok", "GET /loop"]
limits = { timeout = "300ms" }
"#;

/// The value of the sample `name{labels}` in a Prometheus text exposition (label order
/// as written does not matter).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            return None;
        }
        let mut found: Vec<(String, String)> = rest
            .trim_end_matches('}')
            .split(',')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        let mut wanted: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        found.sort();
        wanted.sort();
        (found == wanted).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn the_metrics_endpoint_counts_exactly_the_traffic_each_plugin_served() {
    let (dir, path) = manifest(MANIFEST);
    // Its own compiled-component cache, empty: this test counts the compiles.
    let cache = dir.path().join("compiled");
    let server = Server::start(&path, &["--cache-dir", cache.to_str().unwrap()]);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };

    for name in ["ada", "bob", "cy", "dee", "eve"] {
        assert_eq!(status(server.url(&format!("/hello/{name}"))).await, 200);
    }
    for key in ["a", "b", "c"] {
        let put = http.put(server.url(&format!("/kv/users/{key}"))).body("v").send().await.unwrap();
        assert_eq!(put.status(), 200);
    }
    for key in ["a", "missing"] {
        assert_eq!(status(server.url(&format!("/kv/users/{key}"))).await, 200);
    }
    assert_eq!(status(server.url("/panic")).await, 500);
    assert_eq!(status(server.url("/panic")).await, 500);
    assert_eq!(status(server.url("/loop")).await, 504);
    assert_eq!(status(server.url("/ok")).await, 200);
    // Not a plugin's: counted nowhere.
    assert_eq!(status(server.url("/nobody")).await, 404);

    let res = http.get(server.url("/_plughost/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();
    let count = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels).unwrap_or(0.0);
    let invocations = "plughost_invocations_total";

    assert_eq!(count(invocations, &[("plugin", "hello"), ("trigger", "http"), ("outcome", "ok")]), 5.0, "{text}");
    assert_eq!(count(invocations, &[("plugin", "hello"), ("trigger", "http"), ("outcome", "error")]), 0.0);
    assert_eq!(count(invocations, &[("plugin", "probe"), ("trigger", "http"), ("outcome", "ok")]), 5.0);
    assert_eq!(count(invocations, &[("plugin", "misbehave"), ("trigger", "http"), ("outcome", "ok")]), 1.0);
    assert_eq!(count(invocations, &[("plugin", "misbehave"), ("trigger", "http"), ("outcome", "error")]), 3.0);
    assert_eq!(count("plughost_errors_total", &[("plugin", "misbehave"), ("kind", "trap")]), 2.0);
    assert_eq!(count("plughost_errors_total", &[("plugin", "misbehave"), ("kind", "timeout")]), 1.0);
    assert_eq!(count("plughost_errors_total", &[("plugin", "hello"), ("kind", "trap")]), 0.0);

    let host_calls = "plughost_host_calls_total";
    let kv = |operation| [("plugin", "probe"), ("capability", "kv"), ("operation", operation), ("outcome", "ok")];
    assert_eq!(count(host_calls, &kv("set")), 3.0);
    assert_eq!(count(host_calls, &kv("get")), 2.0);
    let kv_time = [("plugin", "probe"), ("capability", "kv")];
    assert_eq!(count("plughost_host_call_duration_seconds_count", &kv_time), 5.0);

    let hello_total = [("plugin", "hello"), ("phase", "total")];
    assert_eq!(count("plughost_duration_seconds_count", &hello_total), 5.0);
    assert!(count("plughost_duration_seconds_sum", &hello_total) > 0.0);
    let hello_instantiate = [("plugin", "hello"), ("phase", "instantiate")];
    assert_eq!(count("plughost_duration_seconds_count", &hello_instantiate), 5.0);
    assert_eq!(count("plughost_cold_starts_total", &[("plugin", "hello")]), 1.0);
    // Each answer is `{"message":"Hello, <name>!"}`: 22 bytes plus the name.
    let names: usize = ["ada", "bob", "cy", "dee", "eve"].iter().map(|n| 22 + n.len()).sum();
    assert_eq!(count("plughost_response_bytes_total", &[("plugin", "hello")]), names as f64);
    // An empty cache: each component compiled once, none deserialized.
    assert_eq!(count("plughost_component_load_seconds_count", &[("plugin", "hello"), ("how", "compiled")]), 1.0);
    assert_eq!(count("plughost_component_load_seconds_count", &[("plugin", "hello"), ("how", "deserialized")]), 0.0);
}

const EVENTS: &str = r#"
[kv.seen]
[topic.alerts]

[plugins.counter]
source = "{event-counter}"
events = [{ topic = "alerts" }]
kv = { seen = "read-write" }
"#;

/// Polls `/_plughost/metrics` until `sample(name, labels)` reaches `at_least`; the text.
async fn metrics_until(server: &Server, name: &str, labels: &[(&str, &str)], at_least: f64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = reqwest::get(server.url("/_plughost/metrics")).await.unwrap().text().await.unwrap();
        if sample(&text, name, labels).unwrap_or(0.0) >= at_least {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "{name}{labels:?} never reached {at_least}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn events_and_the_ones_a_plugin_fails_are_counted_per_plugin() {
    let (_dir, path) = manifest(EVENTS);
    let server = Server::start(&path, &[]);
    let http = reqwest::Client::new();
    for body in ["one", "two", "fail"] {
        let fired = http
            .post(server.url("/_plughost/events"))
            .json(&serde_json::json!({ "topic": "alerts", "body": body }))
            .send()
            .await
            .unwrap();
        assert_eq!(fired.status(), 202);
    }
    let ok = [("plugin", "counter"), ("trigger", "event"), ("outcome", "ok")];
    let text = metrics_until(&server, "plughost_invocations_total", &ok, 2.0).await;
    let text = if sample(&text, "plughost_errors_total", &[("plugin", "counter"), ("kind", "rejected")]).is_none() {
        metrics_until(&server, "plughost_errors_total", &[("plugin", "counter"), ("kind", "rejected")], 1.0).await
    } else {
        text
    };
    assert_eq!(sample(&text, "plughost_invocations_total", &ok), Some(2.0), "{text}");
    // The failed notification is redelivered: each delivery is one failed invocation.
    let failed = [("plugin", "counter"), ("trigger", "event"), ("outcome", "error")];
    let (failures, rejected) = (
        sample(&text, "plughost_invocations_total", &failed).unwrap_or(0.0),
        sample(&text, "plughost_errors_total", &[("plugin", "counter"), ("kind", "rejected")]).unwrap_or(0.0),
    );
    assert!(failures >= 1.0 && failures == rejected, "{text}");
    // Every delivery increments its attempt counter in `seen` first.
    let increments = [("plugin", "counter"), ("capability", "kv"), ("operation", "increment"), ("outcome", "ok")];
    assert!(sample(&text, "plughost_host_calls_total", &increments).unwrap_or(0.0) >= 3.0, "{text}");
    assert_eq!(
        sample(&text, "plughost_invocations_total", &[("plugin", "counter"), ("trigger", "http"), ("outcome", "ok")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn outgoing_requests_and_the_ones_the_host_refuses_are_counted() {
    let upstream = support::upstream::Upstream::start().await;
    let text = format!(
        "[plugins.probe]\nsource = \"{{http-probe}}\"\nroutes = [\"POST /fetch\"]\nallowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\n",
        upstream.port()
    );
    let (_dir, path) = manifest(&text);
    let server = Server::start(&path, &[]);
    let http = reqwest::Client::new();
    for url in [upstream.url("/echo"), upstream.url("/echo"), "http://denied.example/".to_owned()] {
        let res = http.post(server.url("/fetch")).json(&serde_json::json!({ "url": url })).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let text = reqwest::get(server.url("/_plughost/metrics")).await.unwrap().text().await.unwrap();
    let sent = [("plugin", "probe"), ("capability", "http"), ("operation", "send"), ("outcome", "ok")];
    assert_eq!(sample(&text, "plughost_host_calls_total", &sent), Some(2.0), "{text}");
    assert_eq!(sample(&text, "plughost_errors_total", &[("plugin", "probe"), ("kind", "outbound_denied")]), Some(1.0));
    // A refused request is no failed invocation: the plugin answered.
    let ok = [("plugin", "probe"), ("trigger", "http"), ("outcome", "ok")];
    assert_eq!(sample(&text, "plughost_invocations_total", &ok), Some(3.0));
}
