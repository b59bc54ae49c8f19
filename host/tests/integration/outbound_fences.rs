//! The outbound fences end to end, through the real `plughost serve` asking a name server
//! of the test's own (`PLUGHOST_DNS_SERVERS`, `support/dns.rs`):
//!
//! - a plugin allowed `*://*:*` reaches a name resolving to each IPv6 form that carries a
//!   non-public IPv4 address — NAT64 (well-known and local-use), 6to4, SIIT, Teredo, mapped
//!   — or to deprecated site-local: every one refused before connecting, with the
//!   `outbound request denied` line naming why;
//! - a plugin allowed `http://127.0.0.1:*` cannot reach the server's own listener (its
//!   operator API, or itself), while another loopback port stays reachable;
//! - lookups against a name server that never answers: one plugin floods them while a
//!   neighbour's kv writes keep answering at once (lookups hold no thread, and a plugin
//!   has a bounded share of them); the flooder's requests end at their deadline.

use crate::support;

use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;
use support::dns::DnsServer;
use support::server::Server;

const MANIFEST: &str = r#"
[limits]
timeout = "3s"

[kv.notes]

[plugins.wild]
source = "{http-probe}"
routes = ["POST /wild/fetch"]
allowed_outbound_hosts = ["*://*:*"]
limits = { max_concurrency = 48 }

[plugins.local]
source = "{http-probe}"
routes = ["POST /local/fetch"]
allowed_outbound_hosts = ["http://127.0.0.1:*"]

[plugins.writer]
source = "{kv-probe}"
routes = ["/kv/{label}/{key}"]
kv = { notes = "read-write" }
"#;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

async fn fetch(http: &reqwest::Client, server: &Server, plugin: &str, url: &str) -> Value {
    let response =
        http.post(server.url(&format!("/{plugin}/fetch"))).json(&json!({ "url": url })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["results"][0].clone()
}

fn start(dns: &DnsServer) -> (tempfile::TempDir, Server) {
    let (dir, path) = support::manifest(MANIFEST);
    let servers = dns.addr.to_string();
    let server = Server::start_with_env(&path, &[], &[("PLUGHOST_DNS_SERVERS", servers.as_str())]);
    (dir, server)
}

#[tokio::test]
async fn names_resolving_to_ipv4_inside_ipv6_or_to_non_global_ranges_are_refused_before_connecting() {
    let forms = [
        ("nat64.fence.test", "64:ff9b::7f00:1", "NAT64"),
        ("nat64-metadata.fence.test", "64:ff9b::a9fe:a9fe", "link-local"),
        ("nat64-private.fence.test", "64:ff9b::a00:5", "private"),
        ("nat64-local-use.fence.test", "64:ff9b:1::a00:5", "local-use NAT64"),
        ("sixtofour.fence.test", "2002:7f00:1::", "6to4"),
        ("siit.fence.test", "::ffff:0:7f00:1", "SIIT"),
        ("teredo.fence.test", "2001:0:7f00:1::f7f7:f7f7", "Teredo"),
        ("site-local.fence.test", "fec0::1", "site-local"),
        ("mapped.fence.test", "::ffff:127.0.0.1", "loopback"),
    ];
    let records: Vec<(&str, IpAddr)> = forms.iter().map(|(name, address, _)| (*name, ip(address))).collect();
    let dns = DnsServer::start(&records);
    let (_dir, mut server) = start(&dns);
    let http = reqwest::Client::new();
    for (name, address, kind) in forms {
        let outcome = fetch(&http, &server, "wild", &format!("http://{name}:8080/")).await;
        assert_eq!(outcome["error"], "Denied", "{name} ({address}): {outcome}");
        let line = server.wait_for_log("outbound request denied", Duration::from_secs(5));
        assert!(line.contains(name) && line.contains("not a public address") && line.contains(kind), "{line}");
    }
    assert!(dns.queries.load(std::sync::atomic::Ordering::Relaxed) >= forms.len(), "the names were looked up");
}

#[tokio::test]
async fn no_allow_list_reaches_the_servers_own_listener() {
    let dns = DnsServer::start(&[]);
    let (_dir, mut server) = start(&dns);
    let upstream = support::upstream::Upstream::start().await;
    let http = reqwest::Client::new();
    let own = server.addr().to_owned();
    for path in ["/_plughost/api/state", "/wild/fetch", "/_plughost/health"] {
        let outcome = fetch(&http, &server, "local", &format!("http://{own}{path}")).await;
        assert_eq!(outcome["error"], "Denied", "{path}: {outcome}");
        let line = server.wait_for_log("outbound request denied", Duration::from_secs(5));
        assert!(line.contains("own listener"), "{line}");
    }
    // Another port of the same address is what the entry allows.
    let outcome = fetch(&http, &server, "local", &format!("http://{}/echo", upstream.addr)).await;
    assert_eq!(outcome["status"], 200, "{outcome}");
}

#[tokio::test]
async fn a_plugin_flooding_a_dns_server_that_never_answers_leaves_its_neighbours_storage_alone() {
    let dns = DnsServer::start(&[]);
    let (_dir, server) = start(&dns);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    // 48 requests at once, each looking up a name under `hang.test`.
    let flood: Vec<_> = (0..48)
        .map(|n| {
            let (http, url) = (http.clone(), server.url("/wild/fetch"));
            tokio::spawn(async move {
                let body = json!({ "url": format!("http://n{n}.hang.test/") });
                http.post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile the neighbour writes, one after another: every write succeeds. (Starved of a
    // thread, a write would wait past its storage deadline and answer `unavailable`.)
    for n in 0..20 {
        let response = http.put(server.url(&format!("/kv/notes/k{n}"))).body("v").send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert!(body.get("ok").is_some(), "write {n}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The flooder's requests end at their deadline, as DNS timeouts: nothing waits longer.
    for request in flood {
        let outcome = request.await.unwrap();
        let error = outcome["results"][0]["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains("DnsTimeout"), "{outcome}");
    }
    assert!(dns.queries.load(std::sync::atomic::Ordering::Relaxed) > 0);
}
