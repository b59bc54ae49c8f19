//! Nothing accepted is lost across a `kill -9`, whatever the moment: the SDK's idempotency
//! guard (`sdk/src/events/once.rs`) under real crashes.
//!
//! - In `plughost serve` with the `claim-probe` guest, killed with every delivery paused at
//!   a point of its own: after the claim, after the effects, after completing (`once`);
//!   before and after the transaction (`commit_once`). After the restart every message is
//!   handled; effects ran once — but for a delivery killed between its effects and
//!   completing, whose effects run again (the guard's documented limit) — and the
//!   transactional form's counter moved exactly once per event.
//! - In `plughost serve` with the order pipeline (`orders`, `order-worker`, `notifier`):
//!   orders posted by eight clients while the server is killed three times; afterwards
//!   every accepted order is processed (its units once) and notified once. It prints the
//!   kill-point table (what each kill interrupted).
//! - In Lambda (the real binary under cargo-lambda's emulator, the kv store in DynamoDB on
//!   moto): the function killed while the probe holds its claim, and while it holds a
//!   completed one not yet acknowledged; SQS redelivers (`ApproximateReceiveCount` 2): an
//!   early redelivery is refused while the claim is live (`batchItemFailures`, never
//!   acknowledged as a duplicate), a later one runs, and a completed one is acknowledged
//!   without running again.

use crate::support;

use plughost::capability::kv::{KvBackend, SqliteKv};
use plughost::capability::message_store::LocalEvents;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::server::Server;

const PROBE: &str = r#"
[limits]
timeout = "2s"

[kv.probe]
[queue.work]
max_receives = 5
visibility_timeout = "3s"

[plugins.probe]
source = "{claim-probe}"
events = [{ queue = "work", batch = 10 }]
kv = { probe = "read-write" }
"#;

async fn read(kv: &SqliteKv, label: &str, key: &str) -> Option<String> {
    kv.get(label, key).await.unwrap().map(|entry| String::from_utf8_lossy(&entry.value).into_owned())
}

/// Waits until `queue` holds nothing, visible or in flight (the server's event status).
async fn drained(server: &Server, queue: &str, timeout: Duration) -> Value {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        let status: Value = http.get(server.url("/_plughost/events")).send().await.unwrap().json().await.unwrap();
        let depth = &status["queues"][queue];
        let empty = depth.is_null() || (depth["visible"] == 0 && depth["in_flight"] == 0);
        if empty {
            return status;
        }
        assert!(Instant::now() < deadline, "queue `{queue}` not drained within {timeout:?}: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn in_serve_a_kill_at_any_point_of_either_form_loses_nothing_and_repeats_only_what_the_docs_say() {
    let (_dir, path) = support::manifest(PROBE);
    let data = path.with_file_name("data");
    // Queued before the server starts, so its first batch holds them all: each delivery
    // runs at once, on its own instance, and pauses at its own point.
    let jobs = [
        ("a1", "once", "after-claim"),
        ("a2", "once", "after-effects"),
        ("a3", "once", "after-complete"),
        ("c1", "commit", "before-commit"),
        ("c2", "commit", "after-commit"),
    ];
    let queue = LocalEvents::open(&data).unwrap();
    // Job id -> message id: the event id the claims are keyed by.
    let mut ids = std::collections::BTreeMap::new();
    for (id, form, pause) in jobs {
        let body = json!({ "id": id, "form": form, "pause": pause }).to_string();
        ids.insert(id, queue.send("work", body.into_bytes(), Vec::new()).await.unwrap());
    }
    drop(queue);
    let kv = SqliteKv::open(&data.join("kv.sqlite3")).unwrap();

    let mut server = Server::start(&path, &[]);
    let paused: Vec<String> =
        jobs.iter().map(|(id, _, pause)| format!("claim-probe paused at {pause} ({id})")).collect();
    server.wait_for_logs(&paused, Duration::from_secs(30));
    server.kill();

    // What the kill left: a claim is completed only after its effects.
    let claim = |id: &str| {
        let kv = &kv;
        let key = format!("plughost-event/{id}");
        async move { read(kv, "probe", &key).await }
    };
    let in_progress = |value: Option<String>| value.is_some_and(|v| v.starts_with("in-progress "));
    assert!(in_progress(claim(&ids["a1"]).await), "a1: claimed, nothing done yet");
    assert_eq!(read(&kv, "probe", "runs/a1").await, None);
    assert!(in_progress(claim(&ids["a2"]).await), "a2: effects done, not completed");
    assert_eq!(read(&kv, "probe", "runs/a2").await.as_deref(), Some("1"));
    assert_eq!(claim(&ids["a3"]).await.as_deref(), Some("completed\n"), "a3: completed, not acknowledged");
    assert_eq!(claim(&ids["c1"]).await, None, "c1: killed before its transaction: no claim at all");
    assert_eq!(claim(&ids["c2"]).await.as_deref(), Some("completed\n"), "c2: claim and effect committed together");
    assert_eq!(read(&kv, "probe", "total").await.as_deref(), Some("1"));

    // The restart: every message comes back after its visibility timeout, when the dead
    // deliveries' claims (2 s timeout) have expired.
    let server = Server::start(&path, &[]);
    let status = drained(&server, "work", Duration::from_secs(30)).await;
    assert_eq!(status["dead_letters"], json!([]), "{status}");
    for (id, _, _) in jobs {
        let claim = claim(&ids[id]).await;
        assert_eq!(claim.as_deref(), Some("completed\n"), "{id}: {claim:?}");
    }
    assert_eq!(read(&kv, "probe", "runs/a1").await.as_deref(), Some("1"), "a1: the effects ran once, after the crash");
    assert_eq!(read(&kv, "probe", "runs/a3").await.as_deref(), Some("1"), "a3: not run again");
    assert_eq!(
        read(&kv, "probe", "runs/a2").await.as_deref(),
        Some("2"),
        "a2: killed between its effects and completing, they ran again (the guard's documented limit)"
    );
    for id in ["a1", "a2", "a3"] {
        assert_eq!(read(&kv, "probe", &format!("effect/{id}")).await.as_deref(), Some("done"), "{id}");
    }
    assert_eq!(read(&kv, "probe", "total").await.as_deref(), Some("2"), "commit_once: exactly once per event");
}

// --- The order pipeline, killed three times while orders arrive ----------------------------

const PIPELINE: &str = r#"
[kv.orders]
[kv.notifications]
[queue.orders]
max_receives = 5
visibility_timeout = "3s"
[topic.order-events]
[bus.app]

[plugins.orders]
source = "{orders}"
routes = ["POST /v1/orders", "GET /v1/orders/{id}"]
kv = { orders = "read-write" }
queue = { orders = "send" }

[plugins.order-worker]
source = "{order-worker}"
events = [{ queue = "orders", batch = 10 }]
kv = { orders = "read-write" }
bus = { app = "put" }
topic = { order-events = "publish" }
limits = { timeout = "2s" }

[plugins.notifier]
source = "{notifier}"
routes = ["GET /v1/notifications/{orderId}"]
events = [{ bus = "app", pattern = { source = ["shop.orders"], detail-type = ["OrderProcessed"] } }]
kv = { notifications = "read-write" }
"#;

/// What one kill interrupted, read from the stores of the dead server.
#[derive(Debug)]
struct KillPoint {
    accepted_so_far: usize,
    /// Deliveries that held their claim (in progress) when killed.
    claims_in_progress: usize,
    /// Of those, orders already recorded as processed: killed after an effect, before
    /// completing (their announcement may or may not have gone out).
    recorded_not_completed: usize,
    /// Accepted orders not yet processed (queued or mid-delivery).
    not_processed: usize,
}

async fn kill_point(kv: &SqliteKv, data: &std::path::Path, accepted: &[(String, u64)]) -> KillPoint {
    // The queue's messages still held (not acknowledged): message id -> order id.
    let events = rusqlite::Connection::open(data.join("events.sqlite3")).unwrap();
    let mut statement = events.prepare("SELECT id, body FROM messages WHERE queue = 'orders'").unwrap();
    let held: std::collections::BTreeMap<String, String> = statement
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)))
        .unwrap()
        .map(|row| row.unwrap())
        .map(|(message, body)| {
            (message, serde_json::from_slice::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned())
        })
        .collect();
    let status = |order: Option<String>| order.map(|o| serde_json::from_str::<Value>(&o).unwrap()["status"].clone());
    let (mut claims_in_progress, mut recorded_not_completed) = (0, 0);
    for (message, order) in &held {
        let claim = read(kv, "orders", &format!("plughost-event/{message}")).await;
        if claim.is_some_and(|c| c.starts_with("in-progress")) {
            claims_in_progress += 1;
            if status(read(kv, "orders", &format!("order/{order}")).await) == Some(json!("processed")) {
                recorded_not_completed += 1;
            }
        }
    }
    let mut not_processed = 0;
    for (id, _) in accepted {
        if status(read(kv, "orders", &format!("order/{id}")).await) != Some(json!("processed")) {
            not_processed += 1;
        }
    }
    KillPoint { accepted_so_far: accepted.len(), claims_in_progress, recorded_not_completed, not_processed }
}

#[tokio::test]
async fn in_serve_orders_accepted_while_the_server_is_killed_three_times_are_each_processed_and_notified_once() {
    let (_dir, path) = support::manifest(PIPELINE);
    let data = path.with_file_name("data");
    std::fs::create_dir_all(&data).unwrap();
    let kv = SqliteKv::open(&data.join("kv.sqlite3")).unwrap();
    let mut server = Server::start(&path, &[]);
    let base = server.url("");
    let addr = server.addr().to_owned();

    // Eight clients post orders until told to stop; a refused connection (the server is
    // down) is not an accepted order.
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, u64)>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8u64)
        .map(|client| {
            let (accepted, stop, base) = (accepted.clone(), stop.clone(), base.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let quantity = 1 + (client + n) % 4;
                    let order =
                        json!({ "customer": format!("c{client}"), "items": [{ "sku": "tea", "quantity": quantity }] });
                    if let Ok(response) = http.post(format!("{base}/v1/orders")).json(&order).send().await
                        && response.status() == 202
                        && let Ok(body) = response.json::<Value>().await
                    {
                        accepted.lock().unwrap().push((body["id"].as_str().unwrap().to_owned(), quantity));
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            })
        })
        .collect();

    let mut kills = Vec::new();
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(600 + 300 * round)).await;
        // Aimed at a delivery: just after an order was accepted (its message is being
        // handed to the worker), a few milliseconds in.
        let seen = accepted.lock().unwrap().len();
        while accepted.lock().unwrap().len() == seen {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(3 * (round + 1))).await;
        server.kill();
        let snapshot = accepted.lock().unwrap().clone();
        kills.push(kill_point(&kv, &data, &snapshot).await);
        server = Server::start_listening(&path, &addr, &[], &[]);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();

    // Every accepted order: processed with its units, notified once.
    let status = drained(&server, "orders", Duration::from_secs(60)).await;
    assert_eq!(status["dead_letters"], json!([]), "{status}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut processed, mut notified) = (0, 0);
    for (id, units) in &accepted {
        let order = loop {
            let order: Value =
                serde_json::from_str(&read(&kv, "orders", &format!("order/{id}")).await.unwrap()).unwrap();
            if order["status"] == "processed" || Instant::now() > deadline {
                break order;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if order["status"] == "processed" && order["units"] == *units {
            processed += 1;
        }
        let notification = loop {
            let found = read(&kv, "notifications", &format!("notification/{id}")).await;
            if found.is_some() || Instant::now() > deadline {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if notification.is_some_and(|n| n.contains(&format!("your order {id} ({units} items)"))) {
            notified += 1;
        }
    }
    eprintln!(
        "kill | accepted so far | deliveries holding a claim | of them recorded, not completed | accepted, not processed"
    );
    for (n, kill) in kills.iter().enumerate() {
        eprintln!(
            "{} | {} | {} | {} | {}",
            n + 1,
            kill.accepted_so_far,
            kill.claims_in_progress,
            kill.recorded_not_completed,
            kill.not_processed
        );
    }
    eprintln!(
        "accepted {} | processed {processed} | notified {notified} | lost {}",
        accepted.len(),
        accepted.len() - processed.min(notified)
    );
    assert!(accepted.len() >= 24, "too few orders to mean anything: {}", accepted.len());
    assert_eq!((processed, notified), (accepted.len(), accepted.len()), "every accepted order, once");
}

// --- In Lambda, with the claims in DynamoDB on moto ----------------------------------------

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:plughost-work";

/// An SQS record as Lambda's event source mapping hands it over, on its `receives`th delivery.
fn sqs_event(message_id: &str, job: Value, receives: u32) -> String {
    json!({ "Records": [{
        "messageId": message_id,
        "receiptHandle": format!("handle-{message_id}-{receives}"),
        "body": job.to_string(),
        "attributes": { "ApproximateReceiveCount": receives.to_string(), "SentTimestamp": "1700000000000",
                        "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1700000000001" },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }]})
    .to_string()
}

#[tokio::test]
async fn in_lambda_a_killed_delivery_runs_again_once_its_claim_expires_and_a_completed_one_is_not_repeated() {
    use plughost::capability::kv::DynamoKv;
    let moto = support::moto::Moto::start().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    moto.create_kv_table(&dynamodb, "plughost-data").await;
    let claims = DynamoKv::new(dynamodb, "plughost-data");

    let dir = tempfile::tempdir().unwrap();
    let (_written, path) = support::manifest(PROBE);
    std::fs::copy(&path, dir.path().join("plughost.toml")).unwrap();
    let storage = json!({
        "kv": { "probe": { "dynamodb": { "table": "plughost-data", "prefix": "probe" } } },
        "queue": { "work": { "sqs": { "arn": QUEUE_ARN } } },
    });
    let mut env = vec![
        ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
        ("PLUGHOST_DATA_DIR", dir.path().join("data").display().to_string()),
        ("PLUGHOST_STORAGE", storage.to_string()),
    ];
    env.extend(moto.env().iter().map(|(k, v)| (*k, v.to_string())));
    let mut lambda = support::lambda::Lambda::start(&env, dir);
    let get = |key: &'static str| {
        let claims = &claims;
        async move { claims.get("probe", key).await.unwrap().map(|e| String::from_utf8_lossy(&e.value).into_owned()) }
    };
    let answer = |lambda: &support::lambda::Lambda, event: &str| lambda.invoke(&["--data-ascii", event]).unwrap();
    let nothing_failed = json!({ "batchItemFailures": [] });
    let returned = |id: &str| json!({ "batchItemFailures": [{ "itemIdentifier": id }] });

    // 1. Killed between the claim and the effects.
    let job = json!({ "id": "l1", "form": "once", "pause": "after-claim" });
    let _first = lambda.invoke_in_background(&["--data-ascii", &sqs_event("lm-1", job.clone(), 1)]);
    lambda.logs_until("claim-probe paused at after-claim (l1)");
    let killed_at = Instant::now();
    lambda.crash_function();
    assert!(get("plughost-event/lm-1").await.is_some_and(|c| c.starts_with("in-progress")));
    // SQS redelivers. While the dead delivery's claim is live it is not taken for done: the
    // message is returned, to come again.
    assert_eq!(answer(&lambda, &sqs_event("lm-1", job.clone(), 2)), returned("lm-1"));
    assert_eq!(get("runs/l1").await, None);
    // Once the claim has expired (the plugin's 2 s timeout), the redelivery runs it.
    tokio::time::sleep(Duration::from_millis(2_300).saturating_sub(killed_at.elapsed())).await;
    assert_eq!(answer(&lambda, &sqs_event("lm-1", job.clone(), 3)), nothing_failed);
    assert_eq!(get("runs/l1").await.as_deref(), Some("1"));
    assert_eq!(get("plughost-event/lm-1").await.as_deref(), Some("completed\n"));
    // And a duplicate after that is acknowledged without running.
    assert_eq!(answer(&lambda, &sqs_event("lm-1", job, 4)), nothing_failed);
    assert_eq!(get("runs/l1").await.as_deref(), Some("1"));

    // 2. Killed after completing, before the answer (the acknowledgement) went back.
    let job = json!({ "id": "l2", "form": "once", "pause": "after-complete" });
    let _first = lambda.invoke_in_background(&["--data-ascii", &sqs_event("lm-2", job.clone(), 1)]);
    lambda.logs_until("claim-probe paused at after-complete (l2)");
    lambda.crash_function();
    assert_eq!(answer(&lambda, &sqs_event("lm-2", job, 2)), nothing_failed);
    assert_eq!(get("runs/l2").await.as_deref(), Some("1"), "not run again");

    // 3. The transactional form, killed before and after its transaction.
    let job = json!({ "id": "l3", "form": "commit", "pause": "before-commit" });
    let _first = lambda.invoke_in_background(&["--data-ascii", &sqs_event("lm-3", job.clone(), 1)]);
    lambda.logs_until("claim-probe paused at before-commit (l3)");
    lambda.crash_function();
    assert_eq!(get("total").await, None, "nothing written before the transaction");
    assert_eq!(answer(&lambda, &sqs_event("lm-3", job, 2)), nothing_failed);
    assert_eq!(get("total").await.as_deref(), Some("1"));
    let job = json!({ "id": "l4", "form": "commit", "pause": "after-commit" });
    let _first = lambda.invoke_in_background(&["--data-ascii", &sqs_event("lm-4", job.clone(), 1)]);
    lambda.logs_until("claim-probe paused at after-commit (l4)");
    lambda.crash_function();
    assert_eq!(get("total").await.as_deref(), Some("2"));
    assert_eq!(answer(&lambda, &sqs_event("lm-4", job, 2)), nothing_failed);
    assert_eq!(get("total").await.as_deref(), Some("2"), "exactly once per event");
}
