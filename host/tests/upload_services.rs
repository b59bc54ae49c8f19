//! The upload services (`plugins/upload-processor`, `plugins/latest-object`) end to end in
//! `plughost serve` (the real binary, embedded storage and event sources): an upload is
//! described by its object event, the newest upload is answered from a kv pointer (with a
//! download URL that serves its bytes), and the scheduled expiry deletes old objects and
//! clears the pointer.

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::server::Server;

const MANIFEST: &str = r#"
[blob.uploads]
[kv.latest]
[kv.upload-meta]

[plugins.upload-processor]
source = "{upload-processor}"
routes = ["PUT /v1/uploads/{name}", "GET /v1/uploads", "GET /v1/uploads/{name}"]
events = [{ object = "uploads", on = ["created"] }]
kv = { upload-meta = "read-write" }
blob = { uploads = "read-write" }

[plugins.latest-object]
source = "{latest-object}"
routes = ["GET /v1/objects/latest"]
events = [{ object = "uploads", on = ["created"] }, { schedule = "rate(1 hour)", name = "expire" }]
config = { max_age_seconds = "2" }
kv = { latest = "read-write" }
blob = { uploads = "read-write" }
"#;

async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// Polls `url` until `ready` holds for its answer (up to 10 s).
async fn until(http: &reqwest::Client, url: &str, ready: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(http, url).await;
        if ready(status, &body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{url}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fire_expiry(http: &reqwest::Client, server: &Server) {
    let fired = http
        .post(server.url("/_plughost/events"))
        .json(&json!({ "schedule": "expire", "plugin": "latest-object" }))
        .send()
        .await
        .unwrap();
    assert_eq!(fired.status(), 202);
}

#[tokio::test]
async fn uploads_are_described_the_newest_is_served_from_its_pointer_and_old_ones_expire() {
    let (_dir, path) = support::manifest(MANIFEST);
    let server = Server::start(&path, &[]);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    assert_eq!(get(&http, &server.url("/v1/objects/latest")).await.0, 404, "nothing uploaded yet");

    let put = |name: &str, content_type: &str, body: &[u8]| {
        http.put(server.url(&format!("/v1/uploads/{name}")))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
    };
    assert_eq!(put("notes.txt", "text/plain", b"hello uploads").await.unwrap().status(), 201);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    assert_eq!(put("pixel.png", "image/png", png).await.unwrap().status(), 201);
    assert_eq!(put("../escape", "text/plain", b"x").await.unwrap().status(), 404, "not a route: names have no `/`");
    assert_eq!(put("bad name", "text/plain", b"x").await.unwrap().status(), 400);

    let described = until(&http, &server.url("/v1/uploads/pixel.png"), |status, _| status == 200).await;
    assert_eq!(
        (described["kind"].as_str(), described["content_type"].as_str(), described["size"].as_u64()),
        (Some("png"), Some("image/png"), Some(16))
    );
    let notes = until(&http, &server.url("/v1/uploads/notes.txt"), |status, _| status == 200).await;
    assert_eq!(notes["kind"], "text");

    let latest = until(&http, &server.url("/v1/objects/latest"), |s, b| s == 200 && b["name"] == "pixel.png").await;
    let url = latest["url"].as_str().unwrap().to_owned();
    let downloaded = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), png, "the download URL serves the newest upload");

    // Nothing is older than max_age_seconds yet: the expiry keeps everything.
    fire_expiry(&http, &server).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get(&http, &server.url("/v1/objects/latest")).await.1["name"], "pixel.png");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    // Once both are older, the expiry deletes them and clears the pointer.
    tokio::time::sleep(Duration::from_secs(3)).await;
    fire_expiry(&http, &server).await;
    until(&http, &server.url("/v1/objects/latest"), |status, _| status == 404).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404, "the object is gone");
}
