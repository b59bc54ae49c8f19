//! End-to-end: the real `plughost` binary on a loopback port, a real HTTP client.
//! Body limits, health, live reload (new version goes live; a broken one is rejected and
//! the old keeps serving), graceful shutdown, and CLI errors for bad manifests.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::guest_wasm;
use support::server::Server;

const PLUGHOST: &str = env!("CARGO_BIN_EXE_plughost");

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// A temp dir holding copies of the guests, so tests can overwrite them.
fn workdir(manifest: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for guest in ["hello", "pricing", "misbehave"] {
        std::fs::copy(guest_wasm(guest), dir.path().join(format!("{guest}.wasm"))).unwrap();
    }
    let path = dir.path().join("plughost.toml");
    std::fs::write(&path, manifest).unwrap();
    (dir, path)
}

const MANIFEST: &str = r#"
[plugins.hello]
source = "hello.wasm"
routes = ["GET /hello", "GET /hello/{name}", "POST /hello"]

[plugins.pricing]
source = "pricing.wasm"
routes = ["POST /v1/quotes/{currency}", "GET /v1/currencies"]
"#;

#[tokio::test]
async fn serves_plugins_health_and_errors_over_http() {
    let (_dir, manifest) = workdir(MANIFEST);
    let server = Server::start(&manifest, &[]);
    let http = client();

    let res = http.get(server.url("/hello/bob?x=1")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Hello, bob!");

    let res = http.get(server.url("/v1/currencies")).send().await.unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap(), serde_json::json!(["EUR", "USD"]));

    let res = http.get(server.url("/missing")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = http.put(server.url("/hello")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, POST");

    let health: serde_json::Value =
        http.get(server.url("/_plughost/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["generation"], 1);
    assert_eq!(health["plugins"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn request_body_over_the_limit_is_413_whether_declared_or_streamed() {
    let (_dir, manifest) = workdir(MANIFEST);
    let server = Server::start(&manifest, &["--max-body", "1KiB"]);
    let http = client();

    // A quote whose JSON body is exactly at the limit is accepted and priced.
    let shell = r#"{"items":[{"sku":"","unit_price_cents":1,"quantity":1}]}"#;
    let at_limit = shell.replace(r#""sku":"""#, &format!(r#""sku":"{}""#, "s".repeat(1024 - shell.len())));
    assert_eq!(at_limit.len(), 1024);
    let res = http
        .post(server.url("/v1/quotes/eur"))
        .header("content-type", "application/json")
        .body(at_limit)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a body at the limit is accepted");

    let res = http.post(server.url("/hello")).body(vec![b'a'; 1025]).send().await.unwrap();
    assert_eq!(res.status(), 413);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(body["error"]["request_id"], request_id.as_str());

    // Chunked: no content-length, the limit is enforced while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..8).map(|_| Ok(vec![b'b'; 512])).collect();
    let stream = futures::stream::iter(chunks);
    let res = http.post(server.url("/hello")).body(reqwest::Body::wrap_stream(stream)).send().await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["connection"], "close", "the unread body makes the connection unusable");

    // The server is still fine, and the client's next request (on a new connection) works.
    assert_eq!(http.get(server.url("/hello")).send().await.unwrap().status(), 200);
}

/// Polls `GET url` until `expect(status, body)` holds; a file change may take a debounce
/// interval and one or more reloads to show.
async fn eventually(http: &reqwest::Client, url: &str, expect: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = http.get(url).send().await.unwrap();
        let (status, body) = (res.status().as_u16(), res.text().await.unwrap());
        if expect(status, &body) {
            return (status, body);
        }
        assert!(Instant::now() < deadline, "{url} still answers {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn live_reload_swaps_in_a_new_version_and_rejects_a_broken_one() {
    let (dir, manifest) = workdir(MANIFEST);
    let mut server = Server::start(&manifest, &[]);
    let http = client();
    let hello = dir.path().join("hello.wasm");
    let hello_url = server.url("/hello");

    let (status, body) = eventually(&http, &hello_url, |s, _| s == 200).await;
    assert_eq!((status, body.contains("Hello, world!")), (200, true));

    // A manifest change (new config) goes live without a restart.
    std::fs::write(
        &manifest,
        MANIFEST.replace("source = \"hello.wasm\"", "source = \"hello.wasm\"\nconfig = { greeting = \"Bonjour\" }"),
    )
    .unwrap();
    eventually(&http, &hello_url, |_, b| b.contains("Bonjour, world!")).await;

    // Then the watcher goes quiet: the reload reads every watched file, and those reads
    // must not count as changes (they once caused an endless reload loop).
    let more = server.count_logs("change detected", Duration::from_secs(2));
    assert!(more <= 1, "{more} further reload attempts after one change: the watcher is looping");

    // Rewriting identical content publishes nothing.
    let generation = |h: serde_json::Value| h["generation"].as_u64().unwrap();
    let health_url = server.url("/_plughost/health");
    let before = generation(http.get(&health_url).send().await.unwrap().json().await.unwrap());
    std::fs::write(&manifest, std::fs::read(&manifest).unwrap()).unwrap();
    server.wait_for_log("nothing changed", Duration::from_secs(30));
    let after = generation(http.get(&health_url).send().await.unwrap().json().await.unwrap());
    assert_eq!(before, after);

    // A new component at the same path goes live: misbehave answers /ok.
    std::fs::write(&manifest, MANIFEST.replace("\"GET /hello\",", "\"GET /hello\", \"GET /ok\",")).unwrap();
    std::fs::copy(dir.path().join("misbehave.wasm"), &hello).unwrap();
    eventually(&http, &server.url("/ok"), |s, b| s == 200 && b == "ok").await;

    // Back to hello, confirmed live before breaking it.
    std::fs::copy(guest_wasm("hello"), &hello).unwrap();
    eventually(&http, &hello_url, |s, b| s == 200 && b.contains("Hello, world!")).await;

    // A broken upload is rejected with a log line naming the plugin; hello keeps serving.
    std::fs::write(&hello, b"\0asm garbage that is not a component").unwrap();
    let rejected = server.wait_for_log("reload rejected", Duration::from_secs(30));
    assert!(rejected.contains("plugin `hello`"), "{rejected}");
    let res = http.get(&hello_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Hello, world!"));

    // A broken manifest is rejected too, and hello still serves.
    std::fs::write(&manifest, "[plugins.hello\nsource = ").unwrap();
    let rejected = server.wait_for_log("invalid TOML", Duration::from_secs(30));
    assert!(rejected.contains("reload rejected"), "{rejected}");
    assert_eq!(http.get(&hello_url).send().await.unwrap().status(), 200);
}

// Multi-threaded: `wait_for_log` blocks its thread while the slow request runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_on_the_old_version_during_a_swap() {
    let manifest_text = r#"
[plugins.misbehave]
source = "misbehave.wasm"
routes = ["GET /slow-version", "GET /ok"]
config = { version = "old" }
limits = { timeout = "10s" }
"#;
    let (_dir, manifest) = workdir(manifest_text);
    let mut server = Server::start(&manifest, &[]);
    let http = client();
    // A slow request on the old version (it answers its version's config value)...
    let slow = tokio::spawn({
        let url = server.url("/slow-version?ms=3000");
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    });
    server.wait_for_log("slow-version started", Duration::from_secs(10));
    // ...while the manifest changes under it: the swap happens, new requests see the new
    // version, and the old request finishes on the version it started on.
    std::fs::write(&manifest, manifest_text.replace("version = \"old\"", "version = \"new\"")).unwrap();
    server.wait_for_log("reloaded", Duration::from_secs(30));
    let fresh = http.get(server.url("/slow-version?ms=0")).send().await.unwrap();
    assert_eq!(fresh.text().await.unwrap(), "new", "requests after the swap run the new version");
    let (status, version) = slow.await.unwrap();
    assert_eq!((status.as_u16(), version.as_str()), (200, "old"), "the in-flight request finished on the old version");
}

#[tokio::test]
async fn json_log_format_writes_one_object_per_line_with_plugin_fields() {
    let (_dir, manifest) = workdir(MANIFEST);
    let mut server = Server::start(&manifest, &["--log-format", "json"]);
    let res = client().get(server.url("/v1/quotes/eur")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let body = r#"{"items":[{"sku":"A","unit_price_cents":5,"quantity":2}]}"#;
    let res = client()
        .post(server.url("/v1/quotes/eur"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = server.wait_for_log("quote priced", Duration::from_secs(30));
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(event["target"], "plugin");
    assert_eq!(event["plugin"], "pricing");
    assert_eq!(event["request_id"], request_id.as_str());
    assert_eq!(event["fields"], r#"{"currency":"EUR","lines":"1","total_cents":"10"}"#);
    let access = server.wait_for_log("plughost::access", Duration::from_secs(30));
    let access: serde_json::Value = serde_json::from_str(&access).unwrap();
    assert_eq!(access["status"], 200);
    assert_eq!(access["request_id"], request_id.as_str());
}

/// moto with plughost's kv table `plughost-data`, and the server running `kv-probe` under
/// `manifest` (the component is `kv-probe.wasm` beside it) with `storage` as its storage file.
async fn kv_probe_on_moto(
    manifest: &str,
    storage: &str,
) -> (support::moto::Moto, aws_sdk_dynamodb::Client, tempfile::TempDir, Server) {
    let moto = support::moto::Moto::start().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    moto.create_kv_table(&dynamo, "plughost-data").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guest_wasm("kv-probe"), dir.path().join("kv-probe.wasm")).unwrap();
    std::fs::write(dir.path().join("plughost.toml"), manifest).unwrap();
    let storage_file = dir.path().join("storage.toml");
    std::fs::write(&storage_file, storage).unwrap();
    let env = moto.env();
    let server =
        Server::start_with_env(&dir.path().join("plughost.toml"), &["--storage", storage_file.to_str().unwrap()], &env);
    (moto, dynamo, dir, server)
}

#[tokio::test]
async fn a_store_bound_to_dynamodb_keeps_its_data_in_dynamodb() {
    let (_moto, dynamo, dir, server) = kv_probe_on_moto(
        "[kv.users]\n[kv.cache]\n[plugins.probe]\nsource = \"kv-probe.wasm\"\n\
         routes = [\"GET /kv/{label}/{key}\", \"PUT /kv/{label}/{key}\"]\n\
         kv = { users = \"read-write\", cache = \"read-write\" }\n",
        "[kv.users]\ndynamodb = { table = \"plughost-data\", prefix = \"app1-users\" }\n",
    )
    .await;
    let http = client();
    let put: serde_json::Value =
        http.put(server.url("/kv/users/ada")).body("lovelace").send().await.unwrap().json().await.unwrap();
    assert!(put["ok"].is_u64(), "{put}");
    let got: serde_json::Value = http.get(server.url("/kv/users/ada")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["ok"]["value"], "lovelace");

    // The item is in DynamoDB, under the operator's prefix.
    let item = dynamo
        .get_item()
        .table_name("plughost-data")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("app1-users#ada".into()))
        .send()
        .await
        .unwrap();
    let value = item.item().and_then(|i| i.get("v")).and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec());
    assert_eq!(value.as_deref(), Some(&b"lovelace"[..]));

    // A store the storage file does not bind stays embedded: nothing of it in DynamoDB.
    http.put(server.url("/kv/cache/x")).body("local").send().await.unwrap();
    let scan = dynamo.scan().table_name("plughost-data").send().await.unwrap();
    assert_eq!(scan.count(), 1, "only the users item is in DynamoDB");
    assert!(dir.path().join("data/kv.sqlite3").exists());
}

#[tokio::test]
async fn blob_containers_on_s3_and_embedded_both_hand_out_working_presigned_urls() {
    let moto = support::moto::Moto::start().await;
    let s3 = plughost::platform::aws::s3(&moto.sdk_config().await);
    s3.create_bucket().bucket("plughost-data").send().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guest_wasm("blob-probe"), dir.path().join("blob-probe.wasm")).unwrap();
    let manifest = dir.path().join("plughost.toml");
    std::fs::write(
        &manifest,
        "[blob.images]\n[blob.local]\n[plugins.probe]\nsource = \"blob-probe.wasm\"\n\
         routes = [\"PUT /blob/{label}\", \"GET /blob/{label}\", \"POST /blob-presign/{label}\"]\n\
         blob = { images = \"read-write\", local = \"read-write\" }\n",
    )
    .unwrap();
    let storage = dir.path().join("storage.toml");
    std::fs::write(&storage, "[blob.images]\ns3 = { bucket = \"plughost-data\", prefix = \"app1-images\" }\n").unwrap();
    let env = moto.env();
    let server = Server::start_with_env(&manifest, &["--storage", storage.to_str().unwrap()], &env);
    let http = client();

    // On S3: the object lands under the operator's prefix, and S3's own URL serves it.
    let put: serde_json::Value = http
        .put(server.url("/blob/images?key=p/1.png"))
        .header("content-type", "image/png")
        .body("png bytes")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(put["ok"]["size"], 9, "{put}");
    let object = s3.get_object().bucket("plughost-data").key("app1-images/p/1.png").send().await.unwrap();
    assert_eq!(object.content_type(), Some("image/png"));
    let url: serde_json::Value =
        http.post(server.url("/blob-presign/images?key=p/1.png")).send().await.unwrap().json().await.unwrap();
    let url = url["ok"].as_str().expect("a URL").to_owned();
    assert!(url.starts_with(&moto.endpoint), "an S3 URL: {url}");
    assert_eq!(http.get(&url).send().await.unwrap().text().await.unwrap(), "png bytes");

    // Embedded: the URL points at this server, which accepts the upload.
    let url: serde_json::Value = http
        .post(server.url("/blob-presign/local?key=up.txt&method=put&type=text/plain"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = url["ok"].as_str().expect("a URL").to_owned();
    assert!(url.starts_with(&server.url("/_plughost/blob/local/up.txt?")), "{url}");
    let res = http.put(&url).header("content-type", "text/plain").body("uploaded").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let got: serde_json::Value =
        http.get(server.url("/blob/local?key=up.txt")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["ok"]["body"], "uploaded");
    assert_eq!(got["ok"]["info"]["content_type"], "text/plain");
    let listing = s3.list_objects_v2().bucket("plughost-data").send().await.unwrap();
    assert_eq!(listing.key_count(), Some(1), "the embedded container wrote nothing to S3");
}

#[tokio::test]
async fn an_edited_secrets_file_goes_live_and_a_broken_one_keeps_the_old_values() {
    let (dir, manifest) = workdir(
        "[plugins.hello]\nsource = \"hello.wasm\"\nroutes = [\"GET /hello/{name}\"]\n\
         config = { greeting = { secret = \"greeting\" } }\n",
    );
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(&secrets, "greeting = \"Psst\"\n").unwrap();
    let mut server = Server::start(&manifest, &["--secrets", secrets.to_str().unwrap()]);
    let http = client();
    let url = server.url("/hello/ada");
    eventually(&http, &url, |s, body| s == 200 && body.contains("Psst, ada!")).await;

    std::fs::write(&secrets, "greeting = \"Rotated\"\n").unwrap();
    eventually(&http, &url, |s, body| s == 200 && body.contains("Rotated, ada!")).await;

    // A secrets file without the secret: the reload is rejected, the old value serves on.
    std::fs::write(&secrets, "something-else = \"x\"\n").unwrap();
    let lines = server.read_logs_until("reload rejected", Duration::from_secs(20));
    assert!(lines.last().unwrap().contains("secret `greeting` is not in"), "{lines:#?}");
    let body = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("Rotated, ada!"), "{body}");
    let leaked: Vec<_> = lines.iter().filter(|l| l.contains("Psst") || l.contains("Rotated")).collect();
    assert!(leaked.is_empty(), "secret values are never logged: {leaked:#?}");
}

#[test]
fn a_bad_storage_file_fails_startup_naming_the_file() {
    let (_dir, manifest) = workdir(MANIFEST);
    let storage = manifest.with_file_name("storage.toml");
    std::fs::write(&storage, "[kv.users]\ndynamo = { table = \"t\" }\n").unwrap();
    let output = run_cli(&["check", "--storage", storage.to_str().unwrap()], &manifest);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("storage.toml") && stderr.contains("dynamo"), "{stderr}");
}

/// Runs `plughost <args> --manifest <manifest>` to completion, with its data dir beside
/// the manifest.
fn run_cli(args: &[&str], manifest: &Path) -> std::process::Output {
    Command::new(PLUGHOST)
        .args(args)
        .arg("--manifest")
        .arg(manifest)
        .arg("--data-dir")
        .arg(manifest.with_file_name("data"))
        .output()
        .unwrap()
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let (_dir, manifest) = workdir(MANIFEST);
    let mut server = Server::start(&manifest, &[]);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    server.wait_for_log("plughost stopped", Duration::from_secs(30));
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn malformed_manifest_fails_check_and_serve_with_a_clear_error() {
    let (_dir, manifest) = workdir("[plugins.hello]\nsource = \"hello.wasm\"\nroutes = [\"FETCH /x\"]\n");
    for command in [vec!["check"], vec!["serve", "--listen", "127.0.0.1:0", "--no-watch"]] {
        let output = run_cli(&command, &manifest);
        assert!(!output.status.success(), "{command:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("plugin `hello`: routes[0] `FETCH /x`: unknown method `FETCH`"),
            "{command:?} stderr: {stderr}"
        );
    }
}

#[test]
fn check_prints_the_routes_of_a_good_manifest() {
    let (_dir, manifest) = workdir(MANIFEST);
    let output = run_cli(&["check"], &manifest);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("2 plugin(s) OK"), "{stdout}");
    assert!(stdout.contains("GET /hello/{name}"), "{stdout}");
}

#[tokio::test]
async fn presigned_uploads_follow_put_rules_and_the_containers_size_quota() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guest_wasm("blob-probe"), dir.path().join("blob-probe.wasm")).unwrap();
    let manifest = dir.path().join("plughost.toml");
    std::fs::write(
        &manifest,
        "[blob.local]\nmax_presigned_upload = \"1 KiB\"\n[plugins.probe]\nsource = \"blob-probe.wasm\"\n\
         routes = [\"POST /blob-presign/{label}\"]\nblob = { local = \"read-write\" }\n",
    )
    .unwrap();
    let server = Server::start(&manifest, &[]);
    let http = client();
    let presign = |key: &str| {
        let url = server.url(&format!("/blob-presign/local?key={key}&method=put"));
        let http = http.clone();
        async move {
            let reply: serde_json::Value = http.post(url).send().await.unwrap().json().await.unwrap();
            reply["ok"].as_str().expect("a URL").to_owned()
        }
    };
    // Signed without a content type, the URL still stores only a media type.
    let url = presign("a.txt").await;
    let res = http.put(&url).header("content-type", "not a media type").body("x").send().await.unwrap();
    assert_eq!(res.status(), 400, "{url}: {}", res.text().await.unwrap());
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("must be a media type"), "{body}");
    assert_eq!(http.put(&url).header("content-type", "text/plain").body("x").send().await.unwrap().status(), 200);

    // The container's max_presigned_upload (1 KiB) is signed into the URL and enforced.
    let url = presign("big.bin").await;
    let res = http.put(&url).body(vec![0u8; 2048]).send().await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(http.put(&url).body(vec![0u8; 1024]).send().await.unwrap().status(), 200);
    // Raising the limit in the URL breaks its signature.
    let forged = url.replace("max-size=1024", "max-size=999999");
    assert_eq!(http.put(&forged).body(vec![0u8; 2048]).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn a_hung_backend_becomes_unavailable_inside_the_plugins_timeout() {
    let (moto, _dynamo, _dir, server) = kv_probe_on_moto(
        "[kv.users]\n[plugins.probe]\nsource = \"kv-probe.wasm\"\nroutes = [\"GET /kv/{label}/{key}\"]\n\
         kv = { users = \"read\" }\nlimits = { timeout = \"2s\" }\n",
        "[kv.users]\ndynamodb = { table = \"plughost-data\", prefix = \"users\" }\n",
    )
    .await;
    let http = client();
    let got: serde_json::Value = http.get(server.url("/kv/users/ada")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["ok"], serde_json::Value::Null, "{got}");

    // DynamoDB hangs: the storage call fails with `unavailable` while the plugin still
    // has time to answer (200 with the error here; a real service answers 503), instead
    // of the whole request running into its timeout (504).
    moto.pause();
    let res = http.get(server.url("/kv/users/ada")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["err"], "unavailable: storage did not answer in time", "{body}");
    moto.resume();
}

#[tokio::test]
async fn in_the_text_log_format_a_plugin_cannot_start_a_line_or_write_colours() {
    let (_dir, manifest) =
        workdir("[plugins.misbehave]\nsource = \"misbehave.wasm\"\nroutes = [\"GET /log-inject\"]\n");
    let mut server = Server::start(&manifest, &[]);
    let res = client().get(server.url("/log-inject")).send().await.unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let lines = server.read_logs_until("plughost::access: request", Duration::from_secs(30));
    // `<time> <LEVEL> <target>: <message> <fields>`: the target is the third word.
    let target = |line: &str| line.split_whitespace().nth(2).unwrap_or_default().to_owned();
    let forged: Vec<&String> = lines.iter().filter(|l| l.contains("forged")).collect();
    assert_eq!(forged.len(), 3, "{lines:#?}");
    for line in &forged {
        // Each is the plugin's own line (target `plugin`, tagged with its request), and
        // the newline, carriage return and escape sequence it tried are written escaped.
        assert_eq!(target(line), "plugin:", "{line}");
        assert!(line.contains(&request_id), "{line}");
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
    }
    let access: Vec<&String> = lines.iter().filter(|l| target(l) == "plughost::access:").collect();
    assert_eq!(access.len(), 1, "{lines:#?}");
    assert!(!access[0].contains("forged"));
}
