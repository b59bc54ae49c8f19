//! The Lambda entry end to end: the real `plughost` binary, started the way Lambda starts
//! `bootstrap` (no arguments, configuration in the environment), under cargo-lambda's
//! runtime emulator (`cargo lambda watch --only-lambda-apis`, installed by
//! `scripts/install-cargo-lambda`). Recorded event shapes in `tests/fixtures/lambda/` go
//! through `cargo lambda invoke --data-file`; Function URL requests go over HTTP.

mod support;

use base64::Engine as _;
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::guest_wasm;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo_lambda() -> PathBuf {
    if let Ok(path) = std::env::var("PLUGHOST_CARGO_LAMBDA") {
        return PathBuf::from(path);
    }
    let path = repo().join("target/tools/cargo-lambda/bin/cargo-lambda");
    assert!(path.exists(), "{} is missing: run `scripts/install-cargo-lambda` (`make test` does)", path.display());
    path
}

/// The emulator and the function it drives; both killed on drop.
struct Lambda {
    emulator: Child,
    function: Child,
    port: u16,
    logs: mpsc::Receiver<String>,
    /// The manifest and the data dir (with the compiled-component cache); kept across a
    /// restart by [`Lambda::stop`].
    dir: Option<tempfile::TempDir>,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.emulator] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

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

impl Lambda {
    fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap())
    }

    /// Stops both processes and hands back the directory, for a second cold start.
    fn stop(mut self) -> tempfile::TempDir {
        self.dir.take().unwrap()
    }

    fn start_in(dir: tempfile::TempDir) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let emulator = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the emulator did not listen on {port} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }

        let mut manifest = MANIFEST.to_owned();
        for guest in ["hello", "pricing", "misbehave"] {
            manifest = manifest.replace(&format!("{{{guest}}}"), &guest_wasm(guest).display().to_string());
        }
        std::fs::write(dir.path().join("plughost.toml"), manifest).unwrap();
        // As Lambda starts `bootstrap`: no arguments, everything in the environment.
        let mut function = Command::new(env!("CARGO_BIN_EXE_plughost"))
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("PLUGHOST_MANIFEST", dir.path().join("plughost.toml"))
            .env("PLUGHOST_DATA_DIR", dir.path().join("data"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start plughost");
        let logs = support::server::lines_of(function.stderr.take().unwrap());
        Self { emulator, function, port, logs, dir: Some(dir) }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/_{path}", self.port)
    }

    /// `cargo lambda invoke` with `args`; the function's JSON answer, or the error text.
    fn invoke(&self, args: &[&str]) -> Result<Value, String> {
        let output = Command::new(cargo_lambda())
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .args(["--output-format", "json"])
            .args(args)
            .current_dir(repo())
            .output()
            .expect("run cargo lambda invoke");
        if !output.status.success() {
            return Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
    }

    fn invoke_fixture(&self, name: &str) -> Value {
        let file = repo().join("tests/fixtures/lambda").join(name);
        self.invoke(&["--data-file", file.to_str().unwrap()]).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Log lines (JSON) read so far and until one contains `needle`.
    fn logs_until(&self, needle: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut lines = Vec::new();
        loop {
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_default();
            let line = self.logs.recv_timeout(left).unwrap_or_else(|_| panic!("no log line with {needle:?}"));
            let found = line.contains(needle);
            lines.push(serde_json::from_str(&line).unwrap_or_else(|_| panic!("log line is not JSON: {line}")));
            if found {
                return lines;
            }
        }
    }
}

fn json_body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("a JSON body")
}

#[tokio::test]
async fn rest_v1_alb_and_http_v2_events_get_answers_shaped_for_them() {
    let lambda = Lambda::start();

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
    let lambda = Lambda::start();
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
    let lambda = Lambda::start();
    let error = lambda.invoke(&["--data-ascii", r#"{"hello":"not an http event"}"#]).unwrap_err();
    assert!(error.contains("plughost answers API Gateway, Function URL and ALB events"), "{error}");

    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let slow = http.get(lambda.url("/loop")).send().await.unwrap();
    assert_eq!(slow.status(), 504);
    assert_eq!(slow.json::<Value>().await.unwrap()["error"]["code"], "plugin_timeout");
    assert_eq!(http.get(lambda.url("/hello/still-here")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_second_cold_start_loads_components_from_the_precompiled_cache() {
    let first = Lambda::start();
    let compiled = first.logs_until("component compiled");
    assert!(compiled.last().unwrap()["plugin"].is_string());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    assert_eq!(http.get(first.url("/hello/one")).send().await.unwrap().status(), 200);
    let dir = first.stop();

    let second = Lambda::start_in(dir);
    let lines = second.logs_until("\"plugin\":\"hello\"");
    let hello = lines.iter().rev().find(|l| l["plugin"] == "hello").unwrap();
    assert_eq!(hello["message"], "component loaded from the precompiled cache", "{hello}");
    assert_eq!(http.get(second.url("/hello/two")).send().await.unwrap().status(), 200);
}
