//! Event sources in `plughost serve`, end to end: the real binary with its embedded event
//! sources (durable queues, outbox, scheduler) and `POST /_plughost/events`. The
//! `event-counter` guest records what it got in the embedded kv store `seen`, read back
//! here through the host's own SQLite backend.

use crate::support;

use plughost::capability::kv::{KvBackend, SqliteKv};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use support::server::Server;

const MANIFEST: &str = r#"
[kv.seen]
[queue.jobs]
visibility_timeout = "1s"
max_receives = 2
[topic.alerts]
[bus.app]

[plugins.counter]
source = "{event-counter}"
events = [
  { schedule = "cron(* * * * ? *)", name = "tick" },
  { queue = "jobs", batch = 5 },
  { topic = "alerts" },
  { bus = "app", pattern = { source = ["shop"], detail-type = [{ prefix = "Order" }] } },
]
kv = { seen = "read-write" }
"#;

/// A manifest in a temp dir, and the `seen` store in the data dir `serve` will use,
/// opened first so the test and the server share an existing database.
fn setup(text: &str) -> (tempfile::TempDir, std::path::PathBuf, SqliteKv) {
    let (dir, path) = support::manifest(text);
    let seen = SqliteKv::open(&path.with_file_name("data").join("kv.sqlite3")).unwrap();
    (dir, path, seen)
}

async fn read(seen: &SqliteKv, key: &str) -> Option<String> {
    seen.get("seen", key).await.unwrap().map(|entry| String::from_utf8(entry.value).unwrap())
}

/// Waits (up to `timeout`) until `key` reads `expected`.
async fn wait_for(seen: &SqliteKv, key: &str, expected: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let value = read(seen, key).await;
        if value.as_deref() == Some(expected) {
            return;
        }
        assert!(Instant::now() < deadline, "{key} is {value:?}, not {expected:?}, after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fire(server: &Server, event: Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(server.url("/_plughost/events")).json(&event).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn status(server: &Server) -> Value {
    reqwest::get(server.url("/_plughost/events")).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn every_local_source_delivers_and_a_poison_message_is_redelivered_then_dead_lettered() {
    let (_dir, path, seen) = setup(MANIFEST);
    let server = Server::start(&path, &[]);

    let (status_code, accepted) =
        fire(&server, json!({ "queue": "jobs", "body": "job 1", "attributes": { "a": "1" } })).await;
    assert_eq!(status_code, 202, "{accepted}");
    assert_eq!(accepted["kind"], "message");
    wait_for(&seen, "count/message", "1", Duration::from_secs(10)).await;
    let message: Value = serde_json::from_str(&read(&seen, "last/message").await.unwrap()).unwrap();
    assert_eq!(message["id"], accepted["id"]);
    assert_eq!(message["event"]["body"], "job 1");
    assert_eq!(message["event"]["attributes"], json!([["a", "1"]]));
    assert_eq!(message["event"]["receive_count"], 1);

    // A message that keeps failing: received, back after the 1 s visibility timeout,
    // received again, then dead-lettered (max_receives = 2) — never lost, never a third run.
    let (_, poison) = fire(&server, json!({ "queue": "jobs", "body": "fail" })).await;
    let poison_id = poison["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    let dead = loop {
        let status = status(&server).await;
        if let Some(dead) = status["dead_letters"].as_array().unwrap().iter().find(|d| d["id"] == poison_id.as_str()) {
            break dead.clone();
        }
        assert!(Instant::now() < deadline, "not dead-lettered: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (dead["source"].as_str(), dead["receives"].as_u64(), dead["body"].as_str()),
        (Some("queue jobs"), Some(2), Some("fail"))
    );
    assert!(dead["reason"].as_str().unwrap().contains("asked to fail"), "{dead}");
    assert_eq!(read(&seen, &format!("attempts/{poison_id}")).await.as_deref(), Some("2"));
    assert_eq!(status(&server).await["queues"]["jobs"], Value::Null, "the queue is empty: {}", status(&server).await);

    // A topic notification, a matching and a non-matching bus event, a schedule fired now.
    assert_eq!(fire(&server, json!({ "topic": "alerts", "subject": "disk", "body": "90%" })).await.0, 202);
    let order = json!({ "bus": "app", "source": "shop", "detail-type": "OrderPlaced", "detail": { "total": 3 } });
    assert_eq!(fire(&server, order).await.0, 202);
    let other = json!({ "bus": "app", "source": "shop", "detail-type": "StockChanged", "detail": {} });
    assert_eq!(fire(&server, other).await.0, 202);
    let (code, tick) = fire(&server, json!({ "schedule": "tick", "plugin": "counter" })).await;
    assert_eq!(code, 202, "{tick}");
    wait_for(&seen, "count/notification", "1", Duration::from_secs(10)).await;
    wait_for(&seen, "count/custom", "1", Duration::from_secs(10)).await;
    let custom: Value = serde_json::from_str(&read(&seen, "last/custom").await.unwrap()).unwrap();
    assert_eq!(custom["event"]["detail_type"], "OrderPlaced", "only the matching event: {custom}");
    let notification: Value = serde_json::from_str(&read(&seen, "last/notification").await.unwrap()).unwrap();
    assert_eq!(
        (notification["event"]["subject"].as_str(), notification["event"]["body"].as_str()),
        (Some("disk"), Some("90%"))
    );
    // The schedule is delivered on its own: wait for it as for the others.
    wait_for(&seen, &format!("attempts/{}", tick["id"].as_str().unwrap()), "1", Duration::from_secs(10)).await;

    // What is not accepted, and why.
    let (code, body) = fire(&server, json!({ "queue": "nope", "body": "x" })).await;
    assert_eq!((code, body["error"]["message"].as_str()), (404, Some("the manifest declares no queue `nope`")));
    let (code, body) = fire(&server, json!({ "queue": "jobs", "topic": "alerts" })).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = fire(&server, json!({ "schedule": "hourly", "plugin": "counter" })).await;
    assert_eq!((code, body["error"]["message"].as_str()), (404, Some("plugin `counter` has no schedule `hourly`")));
    let (code, body) = fire(&server, json!({ "queue": "jobs", "body": "x".repeat(256 * 1024 + 1) })).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = fire(&server, json!({ "bus": "app", "source": "shop" })).await;
    assert_eq!((code, body["error"]["message"].as_str()), (400, Some("a bus event needs `source` and `detail-type`")));
    let (code, body) = fire(&server, json!({ "queue": "jobs", "body": "x", "time": 1 })).await;
    assert_eq!((code, body["error"]["message"].as_str()), (400, Some("`time` does not apply to a queue event")));
}

#[tokio::test]
async fn events_accepted_before_a_crash_are_delivered_after_the_restart() {
    let (_dir, path, seen) = setup(MANIFEST);
    let mut server = Server::start(&path, &[]);
    // Both handlers sleep 3 s: the server is killed while they run.
    let (_, message) = fire(&server, json!({ "queue": "jobs", "body": "sleep" })).await;
    let (_, notification) = fire(&server, json!({ "topic": "alerts", "body": "sleep" })).await;
    let message_attempts = format!("attempts/{}", message["id"].as_str().unwrap());
    let notification_attempts = format!("attempts/{}", notification["id"].as_str().unwrap());
    wait_for(&seen, &message_attempts, "1", Duration::from_secs(10)).await;
    wait_for(&seen, &notification_attempts, "1", Duration::from_secs(10)).await;
    server.child.kill().unwrap(); // SIGKILL: no shutdown, mid-event
    server.child.wait().unwrap();
    drop(server);
    assert_eq!(read(&seen, "count/message").await, None, "killed before the handler finished");

    let _server = Server::start(&path, &[]);
    wait_for(&seen, "count/message", "1", Duration::from_secs(20)).await;
    wait_for(&seen, "count/notification", "1", Duration::from_secs(20)).await;
    assert_eq!(read(&seen, &message_attempts).await.as_deref(), Some("2"), "delivered again, once");
    assert_eq!(read(&seen, &notification_attempts).await.as_deref(), Some("2"), "delivered again, once");
}

#[tokio::test]
async fn a_schedule_fires_on_time_with_its_due_time_and_a_stable_id() {
    let (_dir, path, seen) = setup(MANIFEST);
    let _server = Server::start(&path, &[]);
    // `cron(* * * * ? *)`: at the next whole minute.
    wait_for(&seen, "count/schedule", "1", Duration::from_secs(75)).await;
    let tick: Value = serde_json::from_str(&read(&seen, "last/schedule").await.unwrap()).unwrap();
    let time = tick["event"]["time"].as_u64().unwrap();
    assert_eq!(time % 60, 0, "due on the minute: {tick}");
    assert_eq!(tick["id"], format!("schedule/counter/tick@{time}"));
    assert!(Path::new(&path.with_file_name("data").join("events.sqlite3")).exists());
}

const WRITES: &str = r#"
[kv.seen]
[kv.users]
[blob.uploads]

[plugins.kvprobe]
source = "{kv-probe}"
routes = ["/kv/{label}/{key}", "/kv-tx/{label}"]
kv = { users = "read-write", seen = "read" }

[plugins.blobprobe]
source = "{blob-probe}"
routes = ["/blob/{label}"]
blob = { uploads = "read-write" }

[plugins.counter]
source = "{event-counter}"
events = [
  { changes = "users", prefix = "user/" },
  { object = "uploads", on = ["created", "removed"], suffix = ".png" },
]
kv = { seen = "read-write", users = "read" }
blob = { uploads = "read" }
"#;

#[tokio::test]
async fn embedded_stores_and_containers_emit_change_and_object_events_after_their_writes_commit() {
    let (_dir, path, seen) = setup(WRITES);
    let server = Server::start(&path, &[]);
    let http = reqwest::Client::new();

    // Insert, modify, remove a user: three changes, in order, with old and new values.
    assert_eq!(http.put(server.url("/kv/users/user%2F1")).body("ada").send().await.unwrap().status(), 200);
    wait_for(&seen, "count/change", "1", Duration::from_secs(10)).await;
    let change: Value = serde_json::from_str(&read(&seen, "last/change").await.unwrap()).unwrap();
    assert_eq!(
        change["event"],
        json!({ "store": "users", "key": "user/1", "kind": "inserted", "old": null, "new": "ada", "time": change["event"]["time"] })
    );
    http.put(server.url("/kv/users/user%2F1")).body("ada lovelace").send().await.unwrap();
    wait_for(&seen, "count/change", "2", Duration::from_secs(10)).await;
    let change: Value = serde_json::from_str(&read(&seen, "last/change").await.unwrap()).unwrap();
    assert_eq!(
        (change["event"]["kind"].as_str(), change["event"]["old"].as_str(), change["event"]["new"].as_str()),
        (Some("modified"), Some("ada"), Some("ada lovelace"))
    );
    http.delete(server.url("/kv/users/user%2F1")).send().await.unwrap();
    wait_for(&seen, "count/change", "3", Duration::from_secs(10)).await;
    let change: Value = serde_json::from_str(&read(&seen, "last/change").await.unwrap()).unwrap();
    assert_eq!(
        (change["event"]["kind"].as_str(), change["event"]["old"].as_str()),
        (Some("removed"), Some("ada lovelace"))
    );

    // A key outside the trigger's prefix, and a transaction that fails its condition:
    // no event (nothing committed), so the count stays.
    http.put(server.url("/kv/users/other")).body("x").send().await.unwrap();
    let failed_tx = json!([{ "set": "user/2", "value": "b" }, { "delete": "user/9", "if": "1" }]);
    let answer: Value =
        http.post(server.url("/kv-tx/users")).json(&failed_tx).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["err"], "conflict", "{answer}");

    // An upload of a .png and its removal; a .txt is filtered out by the suffix.
    let put = http
        .put(server.url("/blob/uploads?key=photos/cat.png"))
        .header("content-type", "image/png")
        .body(vec![7u8; 10]);
    let stored: Value = put.send().await.unwrap().json().await.unwrap();
    http.put(server.url("/blob/uploads?key=notes.txt"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    wait_for(&seen, "count/object", "1", Duration::from_secs(10)).await;
    let object: Value = serde_json::from_str(&read(&seen, "last/object").await.unwrap()).unwrap();
    assert_eq!(
        (object["event"]["container"].as_str(), object["event"]["key"].as_str()),
        (Some("uploads"), Some("photos/cat.png"))
    );
    assert_eq!((object["event"]["change"].as_str(), object["event"]["size"].as_u64()), (Some("created"), Some(10)));
    assert_eq!(object["event"]["etag"], stored["ok"]["etag"], "the stored object's etag: {stored}");
    http.delete(server.url("/blob/uploads?key=photos/cat.png")).send().await.unwrap();
    wait_for(&seen, "count/object", "2", Duration::from_secs(10)).await;
    let object: Value = serde_json::from_str(&read(&seen, "last/object").await.unwrap()).unwrap();
    assert_eq!(object["event"]["change"], "removed");

    // Give stray events time to arrive; none did.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read(&seen, "count/change").await.as_deref(), Some("3"));
    assert_eq!(read(&seen, "count/object").await.as_deref(), Some("2"));
}

/// `serve` against the cloud: a queue bound to SQS (moto here) with its URL is consumed
/// from SQS, fired events go there, and SQS's own redrive policy dead-letters a message
/// that keeps failing.
#[tokio::test]
async fn a_queue_bound_to_sqs_is_consumed_from_sqs_and_its_redrive_policy_applies() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let moto = support::moto::Moto::start().await;
    let sqs = plughost::platform::aws::sqs(&moto.sdk_config().await);
    let dlq = sqs.create_queue().queue_name("jobs-dlq").send().await.unwrap().queue_url.unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive = json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2" }).to_string();
    let created = sqs
        .create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap();
    let url = created.queue_url.unwrap();
    let arn = dlq_arn.replace("jobs-dlq", "jobs");

    let (dir, path, seen) = setup(MANIFEST);
    let storage = dir.path().join("storage.toml");
    std::fs::write(&storage, format!("[queue.jobs]\nsqs = {{ arn = \"{arn}\", url = \"{url}\" }}\n")).unwrap();
    let server = Server::start_with_env(&path, &["--storage", storage.to_str().unwrap()], &moto.env());

    // Fired through serve: sent to SQS, received from SQS, deleted once handled.
    let (code, accepted) = fire(&server, json!({ "queue": "jobs", "body": "job 1", "attributes": { "a": "1" } })).await;
    assert_eq!(code, 202, "{accepted}");
    wait_for(&seen, "count/message", "1", Duration::from_secs(20)).await;
    let message: Value = serde_json::from_str(&read(&seen, "last/message").await.unwrap()).unwrap();
    assert_eq!((message["id"].as_str(), message["event"]["queue"].as_str()), (accepted["id"].as_str(), Some("jobs")));
    assert_eq!(message["event"]["attributes"], json!([["a", "1"]]));
    assert_eq!(status(&server).await["queues"]["jobs"], Value::Null, "nothing went to the embedded queue");

    // Sent by someone else, failing: received twice (visibility 1 s), then SQS moves it.
    let sent = sqs.send_message().queue_url(&url).message_body("fail").send().await.unwrap();
    let attempts = format!("attempts/{}", sent.message_id.unwrap());
    wait_for(&seen, &attempts, "2", Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let received = sqs.receive_message().queue_url(&dlq).wait_time_seconds(1).send().await.unwrap();
        if let Some(message) = received.messages.unwrap_or_default().first() {
            assert_eq!(message.body(), Some("fail"));
            break;
        }
        assert!(Instant::now() < deadline, "the failing message did not reach the dead-letter queue");
    }
    assert_eq!(read(&seen, "count/message").await.as_deref(), Some("1"));
}

/// `POST /_plughost/events` with `content_type` and `headers`: the status and error code.
async fn post_event(server: &Server, content_type: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let event = r#"{"queue":"jobs","body":"from a web page"}"#;
    let mut request =
        reqwest::Client::new().post(server.url("/_plughost/events")).header("content-type", content_type).body(event);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json::<Value>().await.unwrap()["error"]["code"].clone())
}

#[tokio::test]
async fn a_web_page_cannot_fire_events_or_read_the_operator_endpoints_cross_site() {
    let (_dir, path, seen) = setup(MANIFEST);
    let server = Server::start(&path, &[]);
    // What a page on another site can send without asking (a "simple" request): refused.
    let refused = |code: &str| (403, json!(code));
    assert_eq!(
        post_event(&server, "text/plain", &[("origin", "http://evil.example")]).await,
        refused("forbidden_origin")
    );
    assert_eq!(post_event(&server, "text/plain", &[]).await, (415, json!("unsupported_media_type")));
    let form = post_event(&server, "application/x-www-form-urlencoded", &[]).await;
    assert_eq!(form, (415, json!("unsupported_media_type")));
    assert_eq!(post_event(&server, "application/json", &[("origin", "null")]).await, refused("forbidden_origin"));
    // A page rebinding its own name to 127.0.0.1 (DNS rebinding): a foreign Host.
    assert_eq!(post_event(&server, "application/json", &[("host", "evil.example")]).await, refused("forbidden_host"));
    for path in ["/_plughost/api/state", "/_plughost/metrics", "/_plughost/health", "/_plughost/events"] {
        let response =
            reqwest::Client::new().get(server.url(path)).header("host", "evil.example:80").send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    // Nothing of it was accepted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read(&seen, "count/message").await, None);
    // The console's own page (same origin, JSON) and `plughost trigger` (no Origin) still can.
    let own = server.url("");
    assert_eq!(post_event(&server, "application/json", &[("origin", own.as_str())]).await.0, 202);
    assert_eq!(post_event(&server, "application/json; charset=utf-8", &[]).await.0, 202);
    wait_for(&seen, "count/message", "2", Duration::from_secs(10)).await;
}
