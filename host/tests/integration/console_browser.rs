//! The local console in a real browser: the real `plughost serve`, Debian's headless
//! `chromium` driven through `chromedriver` (WebDriver, `fantoccini`), both installed by
//! `scripts/install-chromium` (`make test` runs it). The page loads, lists every plugin
//! with the numbers of the traffic the test sent, fires a request from its form, and the
//! request shows up — in the plugin's totals and, with its request id, in its log lines.
//!
//! `PLUGHOST_CONSOLE_SCREENSHOT=<file.png>` also saves a screenshot (the README's).

use crate::support;

use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
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
routes = ["GET /panic", "GET /ok"]
"#;

/// `chromedriver` on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/install-chromium installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// A headless Chromium session with a fresh profile and no background traffic (this
    /// machine has no network beyond loopback).
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1400,1100",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = serde_json::Map::new();
        capabilities
            .insert("goog:chromeOptions".into(), serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(capabilities).connect(&self.url).await.expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _already_gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// Polls the page until `check` returns `Some`, or fails after 15 s saying what it waited for.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "the console never showed {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the first element matching `css`, if there is one.
async fn text_of(browser: &Client, css: &str) -> Option<String> {
    let element = browser.find(Locator::Css(css)).await.ok()?;
    element.text().await.ok()
}

#[tokio::test]
async fn the_console_lists_the_plugins_and_their_traffic_and_shows_a_request_fired_from_its_form() {
    let (dir, path) = manifest(MANIFEST);
    let server = Server::start(&path, &[]);
    let http = reqwest::Client::new();
    for name in ["ada", "bob", "cy"] {
        assert_eq!(http.get(server.url(&format!("/hello/{name}"))).send().await.unwrap().status(), 200);
    }
    assert_eq!(http.get(server.url("/panic")).send().await.unwrap().status(), 500);

    let driver = Driver::start();
    let browser = driver.browser(&dir.path().join("chromium-profile")).await;
    browser.goto(&server.url("/_plughost/")).await.unwrap();

    // Every plugin is listed, with the traffic so far.
    let row = |plugin: &str, cell: &str| format!(r#"#plugins tbody tr[data-plugin="{plugin}"] td.{cell}"#);
    let requests = eventually("hello's 3 requests", || async {
        text_of(&browser, &row("hello", "requests")).await.filter(|t| t == "3")
    })
    .await;
    assert_eq!(requests, "3");
    // Rows are redrawn on every poll: a cell read across a redraw reads as nothing, so each
    // is read until it shows (a wrong value never does, and fails after the wait).
    let shows = |css: String, expected: &'static str| {
        let browser = &browser;
        async move {
            let what = format!("{css} = {expected}");
            eventually(&what, || async { text_of(browser, &css).await.filter(|t| t == expected) }).await
        }
    };
    shows(row("probe", "requests"), "0").await;
    shows(row("misbehave", "requests"), "1").await;
    shows(row("misbehave", "errors"), "1").await;
    eventually("hello's p50", || async { text_of(&browser, &row("hello", "p50")).await.filter(|t| t.ends_with("ms")) })
        .await;
    assert_eq!(text_of(&browser, "#generation").await.as_deref(), Some("1"));
    let reloads = text_of(&browser, "#reloads tbody").await.unwrap();
    assert!(reloads.contains("published") && reloads.contains("hello@"), "{reloads}");

    // Fire a request from the form.
    let path_input = browser.find(Locator::Id("try-path")).await.unwrap();
    path_input.clear().await.unwrap();
    path_input.send_keys("/hello/console").await.unwrap();
    browser.find(Locator::Id("try-send")).await.unwrap().click().await.unwrap();
    let status =
        eventually("the form's answer", || async { text_of(&browser, "#try-status").await.filter(|t| !t.is_empty()) })
            .await;
    assert!(status.starts_with("200"), "{status}");
    let body = text_of(&browser, "#try-response").await.unwrap();
    assert!(body.contains("Hello, console!"), "{body}");
    let request_id = text_of(&browser, "#try-request-id").await.unwrap();
    assert_eq!(request_id.len(), 32, "the answer's x-request-id: {request_id:?}");

    // It appears: in hello's totals, and in hello's log lines with its request id.
    eventually("hello's 4th request", || async {
        text_of(&browser, &row("hello", "requests")).await.filter(|t| t == "4")
    })
    .await;
    // The table is redrawn on every poll: a row found just before a redraw is stale by the
    // click, so find and click again until one lands.
    eventually("a click on hello's row", || async {
        let row = browser.find(Locator::Css(r#"#plugins tbody tr[data-plugin="hello"]"#)).await.ok()?;
        row.click().await.ok()
    })
    .await;
    assert_eq!(
        eventually("hello selected", || async { text_of(&browser, "#detail-id").await.filter(|t| t == "hello") }).await,
        "hello"
    );
    let line = eventually("the request's log line", || async {
        text_of(&browser, &format!(r#"#logs li[data-request-id="{request_id}"]"#)).await
    })
    .await;
    assert!(line.contains("/hello/console") && line.contains("200"), "{line}");
    let routes = text_of(&browser, "#detail-facts").await.unwrap();
    assert!(routes.contains("GET /hello/{name}"), "{routes}");

    // The console's numbers are the metrics endpoint's.
    let metrics = http.get(server.url("/_plughost/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"plughost_invocations_total{outcome="ok",plugin="hello",trigger="http"} 4"#),
        "{metrics}"
    );

    if let Some(file) = std::env::var_os("PLUGHOST_CONSOLE_SCREENSHOT") {
        std::fs::write(file, browser.screenshot().await.unwrap()).unwrap();
    }
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_console_refuses_a_host_name_that_is_not_local() {
    let (_dir, path) = manifest(MANIFEST);
    let server = Server::start(&path, &[]);
    let http = reqwest::Client::new();
    // A page on evil.example that rebinds its name to 127.0.0.1 sends `Host: evil.example`.
    let rebound =
        http.get(server.url("/_plughost/api/state")).header("host", "evil.example:8080").send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    let local = http.get(server.url("/_plughost/api/state")).send().await.unwrap();
    assert_eq!(local.status(), 200);
    let page = http.get(server.url("/_plughost/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    let missing = http.get(server.url("/_plughost/api/logs/nobody")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
