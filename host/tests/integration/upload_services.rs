//! The upload services (`plugins/upload-processor`, `plugins/latest-object`) end to end in
//! `plughost serve` (the real binary, embedded storage and event sources): an upload is
//! described by its object event, the newest upload is answered from a kv pointer (with a
//! download URL that serves its bytes), and the scheduled expiry deletes old objects and
//! clears the pointer.

use crate::support;

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
config = { max_age_seconds = "604800" }
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

/// Fires the `expire` schedule as if `days_later` days had passed (the event's `time`).
async fn fire_expiry(http: &reqwest::Client, server: &Server, days_later: u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let fired = http
        .post(server.url("/_plughost/events"))
        .json(&json!({ "schedule": "expire", "plugin": "latest-object", "time": now + days_later * 86_400 }))
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

    // Nothing is older than max_age_seconds (a week) yet: the expiry keeps everything.
    fire_expiry(&http, &server, 0).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get(&http, &server.url("/v1/objects/latest")).await.1["name"], "pixel.png");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    // Ten days later both are older: the expiry deletes them and clears the pointer.
    fire_expiry(&http, &server, 10).await;
    until(&http, &server.url("/v1/objects/latest"), |status, _| status == 404).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404, "the object is gone");
}

// --- In Lambda, with the container on S3 in moto -----------------------------------------

/// Under cargo-lambda's emulator, the container bound to S3 in moto (the kv stores stay
/// embedded): an upload through the function lands in S3; the S3 event notification moto
/// itself produces (delivered to an SQS queue, where the test picks it up) is handed to the
/// function as Lambda would; both services act on it; the expiry, invoked as the schedule
/// rule's envelope ten days later, deletes the object from S3 and clears the pointer.
#[tokio::test]
async fn in_lambda_an_upload_to_s3_reaches_both_services_as_the_notification_s3_sends() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    use support::moto::Moto;
    let moto = Moto::start().await;
    let config = moto.sdk_config().await;
    let s3 = plughost::platform::aws::s3(&config);
    s3.create_bucket().bucket("plughost-data").send().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue_url, queue_arn) = Moto::create_queue(&sqs, "s3-notifications").await;
    let notifications =
        QueueConfiguration::builder().queue_arn(&queue_arn).events(Event::S3ObjectCreated).build().unwrap();
    s3.put_bucket_notification_configuration()
        .bucket("plughost-data")
        .notification_configuration(NotificationConfiguration::builder().queue_configurations(notifications).build())
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (_written, path) = support::manifest(MANIFEST);
    std::fs::copy(&path, dir.path().join("plughost.toml")).unwrap();
    let mut env = vec![
        ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
        ("PLUGHOST_DATA_DIR", dir.path().join("data").display().to_string()),
        (
            "PLUGHOST_STORAGE",
            json!({ "blob": { "uploads": { "s3": { "bucket": "plughost-data", "prefix": "uploads" } } } }).to_string(),
        ),
        ("PLUGHOST_ALLOW_EMBEDDED_STORAGE", "1".to_owned()),
    ];
    env.extend(moto.env().iter().map(|(k, v)| (*k, v.to_string())));
    let lambda = support::lambda::Lambda::start(&env, dir);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let put = http.put(lambda.url("/v1/uploads/pixel.png")).header("content-type", "image/png").body(png.to_vec());
    assert_eq!(put.send().await.unwrap().status(), 201);
    let stored = s3.head_object().bucket("plughost-data").key("uploads/pixel.png").send().await.unwrap();
    assert_eq!(stored.content_length, Some(16), "the upload is in S3, under the container's prefix");

    // S3's own notification, as moto sent it to the queue: what Lambda would deliver.
    let mut notification = None;
    for _ in 0..20 {
        let received = sqs.receive_message().queue_url(&queue_url).wait_time_seconds(1).send().await.unwrap();
        // S3 first sends a test event when the notification is configured (to a queue,
        // not to a function): not an object's.
        let mut messages = received.messages.unwrap_or_default().into_iter().filter_map(|m| m.body);
        if let Some(body) = messages.find(|body| !body.contains("s3:TestEvent")) {
            notification = Some(body);
            break;
        }
    }
    let notification = notification.expect("moto sent no S3 notification");
    let answer = lambda.invoke(&["--data-ascii", &notification]).unwrap();
    assert_eq!(answer["delivered"], 2, "one object event, to both services: {answer}");

    let (status, described) = get(&http, &lambda.url("/v1/uploads/pixel.png")).await;
    assert_eq!(status, 200, "{described}");
    assert_eq!((described["kind"].as_str(), described["size"].as_u64()), (Some("png"), Some(16)));
    let (status, latest) = get(&http, &lambda.url("/v1/objects/latest")).await;
    assert_eq!((status, latest["name"].as_str()), (200, Some("pixel.png")), "{latest}");
    let downloaded = http.get(latest["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.as_ref(), png, "the presigned S3 URL serves the object");

    // The hourly expiry, as the schedule rule delivers it, ten days on: past max_age.
    let later = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(10 * 86_400));
    let tick = json!({ "plughost_schedule": { "plugin": "latest-object", "name": "expire", "time": later.to_string(), "id": "t1" } });
    lambda.invoke(&["--data-ascii", &tick.to_string()]).unwrap();
    assert!(s3.head_object().bucket("plughost-data").key("uploads/pixel.png").send().await.is_err(), "expired");
    assert_eq!(get(&http, &lambda.url("/v1/objects/latest")).await.0, 404, "the pointer went with it");
}
