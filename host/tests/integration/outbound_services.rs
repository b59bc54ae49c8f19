//! The outgoing-HTTP example services end to end: `rates` (an external API, over TLS
//! verified against a CA the operator trusts with `SSL_CERT_FILE`) and `checkout` (calls
//! `pricing` and `rates` in-process) served by the real `plughost serve`; and, in Lambda
//! (the real binary under cargo-lambda's emulator), a plugin allowed every port of
//! 127.0.0.1 still refused the Lambda runtime API on it, while its upstream is reached.
//!
//! capabilities: outbound

use crate::support;

use serde_json::{Value, json};
use support::lambda::Lambda;
use support::server::Server;
use support::upstream::{TlsUpstream, Upstream, test_ca};
use support::{guest_wasm, manifest};

fn services(rates_url: &str, allowed: &str) -> String {
    format!(
        r#"
[plugins.pricing]
source = "{{pricing}}"
routes = ["POST /v1/quotes/{{currency}}"]

[plugins.rates]
source = "{{rates}}"
routes = ["GET /v1/rates/{{base}}"]
config = {{ rates_url = "{rates_url}" }}
allowed_outbound_hosts = ["{allowed}"]

[plugins.checkout]
source = "{{checkout}}"
routes = ["POST /v1/checkout"]
allowed_outbound_hosts = ["http://pricing.plughost.internal", "http://rates.plughost.internal"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_rates_and_checkout_services_over_tls_and_in_process_calls() {
    let tls = TlsUpstream::start().await;
    let rates_url = format!("https://127.0.0.1:{}", tls.addr.port());
    let (_dir, path) = manifest(&services(&rates_url, "https://127.0.0.1:*"));
    let ca = test_ca();
    let server = Server::start_with_env(&path, &[], &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    let http = reqwest::Client::new();

    let rate: Value = http.get(server.url("/v1/rates/eur?to=USD")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rate, json!({ "base": "EUR", "to": "USD", "rate": 1.0842, "date": "2026-12-01" }));

    let order = json!({ "currency": "EUR", "pay_in": "USD",
        "items": [{ "sku": "A-1", "unit_price_cents": 250, "quantity": 4 }] });
    let response =
        http.post(server.url("/v1/checkout")).json(&order).header("x-customer-tier", "gold").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let paid: Value = response.json().await.unwrap();
    assert_eq!(paid["quote"]["total_cents"], 950, "gold tier passed on to pricing: {paid}");
    assert_eq!(paid["pay"], json!({ "currency": "USD", "amount_cents": 1030, "rate": 1.0842 }));

    let empty = json!({ "currency": "EUR", "items": [] });
    let refused = http.post(server.url("/v1/checkout")).json(&empty).send().await.unwrap();
    assert_eq!(refused.status(), 422, "pricing's answer is passed on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lambda_the_runtime_api_is_refused_and_the_allowed_upstream_is_reached() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = services(&format!("http://{}", upstream.addr), "http://127.0.0.1:*")
        + "\n[plugins.probe]\nsource = \"{http-probe}\"\nroutes = [\"POST /fetch\"]\nallowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n";
    let mut text = text;
    for guest in ["pricing", "rates", "checkout", "http-probe"] {
        text = text.replace(&format!("{{{guest}}}"), &guest_wasm(guest).display().to_string());
    }
    std::fs::write(dir.path().join("plughost.toml"), text).unwrap();
    let env = [
        ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
        ("PLUGHOST_DATA_DIR", dir.path().join("data").display().to_string()),
    ];
    let lambda = Lambda::start(&env, dir);
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();

    let rate: Value = http.get(lambda.url("/v1/rates/EUR?to=USD")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rate["rate"], 1.0842, "{rate}");

    // The emulator's runtime API is on 127.0.0.1 like the upstream, yet refused.
    let runtime_api =
        lambda.url("/").split("/lambda-url").next().unwrap().to_owned() + "/.rt/2018-06-01/runtime/invocation/next";
    let fetch = json!({ "url": runtime_api });
    let outcome: Value = http.post(lambda.url("/fetch")).json(&fetch).send().await.unwrap().json().await.unwrap();
    assert_eq!(outcome["results"][0]["error"], "Denied", "{outcome}");
    let logs = lambda.logs_until("outbound request denied");
    let denial = logs.iter().find(|l| l.to_string().contains("outbound request denied")).unwrap();
    assert!(denial.to_string().contains("Lambda runtime API"), "{denial}");

    let reachable = json!({ "url": upstream.url("/echo") });
    let outcome: Value = http.post(lambda.url("/fetch")).json(&reachable).send().await.unwrap().json().await.unwrap();
    assert_eq!(outcome["results"][0]["status"], 200, "{outcome}");
}
