//! The order pipeline example (`plugins/orders`, `order-worker`, `notifier`) end to end:
//!
//! - in `plughost serve` (the real binary, embedded storage and event sources): an order
//!   posted over HTTP is queued, processed, announced on the bus and the topic, and
//!   notified; a poison order is redelivered, then dead-lettered; the topic's subscribed
//!   queue receives each announcement;
//! - in Lambda (the real binary under cargo-lambda's emulator) with the queue, topic and
//!   bus bound to SQS, SNS and EventBridge in moto: the messages the plugins send land in
//!   moto, and what moto then holds — the SQS message, the event the bus rule delivered to
//!   its target queue, the SNS notification in the subscribed queue — is handed to the
//!   function in the shapes Lambda's event sources use, as they would in AWS;
//! - the same steps as workflow tasks (`plughost_task` payloads, what the state machine's
//!   `Task` states send): outputs chain, and a poison order fails with `OrderFailed`.

use crate::support;

use plughost::capability::kv::{KvBackend, SqliteKv};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::lambda::Lambda;
use support::moto::Moto;
use support::server::Server;

const MANIFEST: &str = r#"
[kv.orders]
[kv.notifications]
[kv.seen]
[queue.orders]
max_receives = 2
visibility_timeout = "1s"
[queue.order-audit]
topics = ["order-events"]
[topic.order-events]
[bus.app]

[plugins.orders]
source = "{orders}"
routes = ["POST /v1/orders", "GET /v1/orders/{id}"]
kv = { orders = "read-write" }
queue = { orders = "send" }

[plugins.order-worker]
source = "{order-worker}"
events = [{ queue = "orders" }]
kv = { orders = "read-write" }
bus = { app = "put" }
topic = { order-events = "publish" }

[plugins.notifier]
source = "{notifier}"
routes = ["GET /v1/notifications/{orderId}"]
events = [{ bus = "app", pattern = { source = ["shop.orders"], detail-type = ["OrderProcessed"] } }]
kv = { notifications = "read-write" }

[plugins.audit]
source = "{event-counter}"
events = [{ queue = "order-audit" }]
kv = { seen = "read-write" }
"#;

/// Polls `url` until it answers 200 (up to `timeout`); its JSON body.
async fn await_ok(http: &reqwest::Client, url: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let response = http.get(url).send().await.unwrap();
        if response.status() == 200 {
            return response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "{url} still answers {} after {timeout:?}", response.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_order(http: &reqwest::Client, url: &str, order: Value) -> (u16, Value) {
    let response = http.post(url).json(&order).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn in_serve_an_order_is_queued_processed_announced_and_notified_and_a_poison_order_is_dead_lettered() {
    let (_dir, path) = support::manifest(MANIFEST);
    let seen = SqliteKv::open(&path.with_file_name("data").join("kv.sqlite3")).unwrap();
    let server = Server::start(&path, &[]);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let (status, accepted) = post_order(
        &http,
        &server.url("/v1/orders"),
        json!({ "customer": "ada", "items": [{ "sku": "tea", "quantity": 2 }] }),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    let notification = await_ok(&http, &server.url(&format!("/v1/notifications/{id}")), Duration::from_secs(15)).await;
    assert_eq!(notification["message"], format!("ada, your order {id} (2 items) is on its way"));
    let order = await_ok(&http, &server.url(&format!("/v1/orders/{id}")), Duration::from_secs(1)).await;
    assert_eq!((order["status"].as_str(), order["units"].as_u64()), (Some("processed"), Some(2)));

    // The topic's subscribed queue got the announcement (its consumer records messages).
    let deadline = Instant::now() + Duration::from_secs(10);
    let audit = loop {
        if let Some(entry) = seen.get("seen", "last/message").await.unwrap() {
            break serde_json::from_slice::<Value>(&entry.value).unwrap();
        }
        assert!(Instant::now() < deadline, "the subscribed queue got nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(audit["event"]["queue"], "order-audit");
    let announced: Value = serde_json::from_str(audit["event"]["body"].as_str().unwrap()).unwrap();
    assert_eq!((announced["id"].as_str(), announced["units"].as_u64()), (Some(id.as_str()), Some(2)));

    let (status, invalid) =
        post_order(&http, &server.url("/v1/orders"), json!({ "customer": "ada", "items": [] })).await;
    assert_eq!(status, 400);
    assert!(invalid["error"]["message"].as_str().unwrap().contains("items must hold"), "{invalid}");

    let (_, poison) = post_order(
        &http,
        &server.url("/v1/orders"),
        json!({ "customer": "bob", "items": [{ "sku": "poison", "quantity": 1 }] }),
    )
    .await;
    let poison_id = poison["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let status: Value = http.get(server.url("/_plughost/events")).send().await.unwrap().json().await.unwrap();
        let dead = status["dead_letters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["body"].as_str().is_some_and(|body| body.contains(&poison_id)));
        if let Some(dead) = dead {
            break dead.clone();
        }
        assert!(Instant::now() < deadline, "the poison order was not dead-lettered: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((dead["source"].as_str(), dead["receives"].as_u64()), (Some("queue orders"), Some(2)));
    assert!(dead["reason"].as_str().unwrap().contains("sku `poison`"), "{dead}");
    let order = await_ok(&http, &server.url(&format!("/v1/orders/{poison_id}")), Duration::from_secs(1)).await;
    assert_eq!(order["status"], "accepted", "a failed order is not marked processed");
}

// --- In Lambda, with the messaging on moto -----------------------------------------------

struct Cloud {
    _moto: Moto,
    sqs: aws_sdk_sqs::Client,
    orders_url: String,
    orders_arn: String,
    audit_url: String,
    bus_target_url: String,
    storage: Value,
    env: Vec<(&'static str, String)>,
}

impl Cloud {
    /// moto with what Terraform's messaging and triggers modules create for this manifest:
    /// the queues, the topic with the audit queue subscribed, the bus with a rule whose
    /// target is a queue standing in for the function (so the test sees what the rule
    /// delivers, and hands it on in the rule's envelope).
    async fn start() -> Self {
        let moto = Moto::start().await;
        let config = moto.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let (orders_url, orders_arn) = Moto::create_queue(&sqs, "orders").await;
        let (audit_url, audit_arn) = Moto::create_queue(&sqs, "order-audit").await;
        let (bus_target_url, bus_target_arn) = Moto::create_queue(&sqs, "bus-target").await;
        let sns = aws_sdk_sns::Client::new(&config);
        let topic_arn = sns.create_topic().name("order-events").send().await.unwrap().topic_arn.unwrap();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&audit_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        let eventbridge = aws_sdk_eventbridge::Client::new(&config);
        eventbridge.create_event_bus().name("plughost-app").send().await.unwrap();
        eventbridge
            .put_rule()
            .name("notifier")
            .event_bus_name("plughost-app")
            .event_pattern(r#"{"source": ["shop.orders"], "detail-type": ["OrderProcessed"]}"#)
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder().id("t").arn(&bus_target_arn).build().unwrap();
        eventbridge.put_targets().rule("notifier").event_bus_name("plughost-app").targets(target).send().await.unwrap();
        let storage = json!({
            "queue": {
                "orders": { "sqs": { "arn": orders_arn, "url": orders_url } },
                "order-audit": { "sqs": { "arn": audit_arn, "url": audit_url } },
            },
            "topic": { "order-events": { "sns": { "arn": topic_arn } } },
            "bus": { "app": { "eventbridge": { "name": "plughost-app" } } },
        });
        let env = moto.env().iter().map(|(k, v)| (*k, v.to_string())).collect();
        Self { _moto: moto, sqs, orders_url, orders_arn, audit_url, bus_target_url, storage, env }
    }

    /// Waits for one message on `url` and deletes it (as Lambda's poller does once the
    /// function handled it).
    async fn take(&self, url: &str) -> aws_sdk_sqs::types::Message {
        for _ in 0..20 {
            let output = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(1)
                .message_attribute_names("All")
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if let Some(message) = output.messages.unwrap_or_default().pop() {
                let handle = message.receipt_handle.clone().unwrap();
                self.sqs.delete_message().queue_url(url).receipt_handle(handle).send().await.unwrap();
                return message;
            }
        }
        panic!("no message on {url}");
    }
}

/// An SQS message as Lambda's SQS event source mapping hands it to the function.
fn sqs_event(message: &aws_sdk_sqs::types::Message, queue_arn: &str) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .message_attributes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            (name, json!({ "stringValue": value.string_value, "dataType": value.data_type, "stringListValues": [], "binaryListValues": [] }))
        })
        .collect();
    json!({ "Records": [{
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                        "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1700000000001" },
        "messageAttributes": attributes,
        "md5OfBody": message.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }]})
}

fn function(cloud: &Cloud) -> Lambda {
    let dir = tempfile::tempdir().unwrap();
    let (_written, path) = support::manifest(MANIFEST);
    std::fs::copy(&path, dir.path().join("plughost.toml")).unwrap();
    let mut env = vec![
        ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
        ("PLUGHOST_DATA_DIR", dir.path().join("data").display().to_string()),
        ("PLUGHOST_STORAGE", cloud.storage.to_string()),
        // The kv stores stay embedded (DynamoDB is proven elsewhere): only messaging is on moto.
        ("PLUGHOST_ALLOW_EMBEDDED_STORAGE", "1".to_owned()),
    ];
    env.extend(cloud.env.iter().cloned());
    Lambda::start(&env, dir)
}

#[tokio::test]
async fn in_lambda_the_messages_go_through_sqs_sns_and_eventbridge_and_back_as_their_events() {
    let cloud = Cloud::start().await;
    let lambda = function(&cloud);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    let (status, accepted) = post_order(
        &http,
        &lambda.url("/v1/orders"),
        json!({ "customer": "ada", "items": [{ "sku": "tea", "quantity": 3 }] }),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();

    // The order is in SQS; Lambda's poller would hand it over like this.
    let message = cloud.take(&cloud.orders_url).await;
    assert_eq!(message.message_attributes.as_ref().unwrap()["kind"].string_value.as_deref(), Some("order"));
    let event = sqs_event(&message, &cloud.orders_arn);
    let answer = lambda.invoke(&["--data-ascii", &event.to_string()]).unwrap();
    assert_eq!(answer, json!({ "batchItemFailures": [] }), "the worker handled it");

    // The worker's bus event reached the rule's target; the rule hands it to the function
    // in the envelope Terraform's input transformer writes.
    let delivered = cloud.take(&cloud.bus_target_url).await;
    let bus_event: Value = serde_json::from_str(delivered.body.as_deref().unwrap()).unwrap();
    assert_eq!(bus_event["detail"]["id"], id.as_str());
    let envelope = json!({ "plughost_bus": "app", "event": bus_event });
    lambda.invoke(&["--data-ascii", &envelope.to_string()]).unwrap();
    let notification = await_ok(&http, &lambda.url(&format!("/v1/notifications/{id}")), Duration::from_secs(10)).await;
    assert_eq!(notification["message"], format!("ada, your order {id} (3 items) is on its way"));

    // The worker's notification reached the topic's subscribed queue.
    let audit = cloud.take(&cloud.audit_url).await;
    let announced: Value = serde_json::from_str(audit.body.as_deref().unwrap()).unwrap();
    assert_eq!((announced["id"].as_str(), announced["units"].as_u64()), (Some(id.as_str()), Some(3)));

    // A poison order: the function reports the message failed, so SQS keeps it.
    let (_, poison) = post_order(
        &http,
        &lambda.url("/v1/orders"),
        json!({ "customer": "bob", "items": [{ "sku": "poison", "quantity": 1 }] }),
    )
    .await;
    let message = cloud.take(&cloud.orders_url).await;
    assert!(message.body.as_deref().unwrap().contains(poison["id"].as_str().unwrap()));
    let answer = lambda.invoke(&["--data-ascii", &sqs_event(&message, &cloud.orders_arn).to_string()]).unwrap();
    assert_eq!(answer["batchItemFailures"][0]["itemIdentifier"].as_str(), message.message_id.as_deref());
}

#[tokio::test]
async fn as_workflow_tasks_the_steps_chain_and_a_poison_order_fails_with_its_error_name() {
    let cloud = Cloud::start().await;
    let lambda = function(&cloud);
    let task =
        |plugin: &str, input: Value| json!({ "plughost_task": { "plugin": plugin, "input": input } }).to_string();

    let order = json!({ "id": "wf-1", "customer": "ada", "items": [{ "sku": "tea", "quantity": 4 }] });
    let validated = lambda.invoke(&["--data-ascii", &task("orders", order.clone())]).unwrap();
    assert_eq!(validated, order, "validation passes a valid order on unchanged");
    let processed = lambda.invoke(&["--data-ascii", &task("order-worker", validated)]).unwrap();
    assert_eq!(processed, json!({ "id": "wf-1", "customer": "ada", "units": 4 }));
    let notified = lambda.invoke(&["--data-ascii", &task("notifier", processed)]).unwrap();
    assert_eq!(notified["message"], "ada, your order wf-1 (4 items) is on its way");

    // Failures carry the name a state machine's Catch matches, as the errorType.
    let poison = json!({ "id": "wf-2", "customer": "bob", "items": [{ "sku": "poison", "quantity": 1 }] });
    let failed = lambda.invoke(&["--data-ascii", &task("order-worker", poison)]).unwrap_err();
    assert!(failed.contains("OrderFailed") && failed.contains("sku `poison`"), "{failed}");
    let rejected =
        lambda.invoke(&["--data-ascii", &task("orders", json!({ "id": "wf-3", "customer": "", "items": [] }))]);
    assert!(rejected.unwrap_err().contains("OrderRejected"));
    let unknown = lambda.invoke(&["--data-ascii", &task("nope", json!({}))]).unwrap_err();
    assert!(unknown.contains("plughost.UnknownPlugin"), "{unknown}");
    let malformed = lambda.invoke(&["--data-ascii", r#"{"plughost_task": {"input": {}}}"#]).unwrap_err();
    assert!(malformed.contains("plughost.InvalidInput"), "{malformed}");
}
