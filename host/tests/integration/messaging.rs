//! Messages out: the `queue`, `topic` and `bus` capabilities as a plugin reaches them
//! (the `message-probe` guest, through the whole app without a socket) — grants, the
//! SQS/SNS/EventBridge limits checked before any backend, FIFO groups and deduplication —
//! on the embedded backends (read back from `serve`'s local event store) and on the AWS
//! backends through the AWS SDK against a moto server started on 127.0.0.1 for the test
//! (read back from SQS: topics deliver to a subscribed queue, the bus through a rule).
//!
//! capabilities: queue, topic, bus  (`scripts/test-capability` runs this file for each)

use crate::support;

use plughost::capability::event::Event;
use serde_json::{Value, json};
use std::time::Duration;
use support::moto::Moto;
use support::{TestApp, call, load_app};

const MANIFEST: &str = r#"
[queue.orders]
[queue.ordered]
fifo = true
[queue.other]
[topic.alerts]
[bus.app]

[plugins.probe]
source = "{message-probe}"
routes = ["POST /queue/{label}", "POST /queue-batch/{label}", "POST /topic/{label}", "POST /bus/{label}"]
queue = { orders = "send", ordered = "send" }
topic = { alerts = "publish" }
bus = { app = "put" }
"#;

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let reply = call(app, "POST", path, &[("content-type", "application/json")], body.to_string().as_bytes()).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

fn err(reply: &Value) -> String {
    reply["err"].as_str().unwrap_or_else(|| panic!("expected an error, got {reply}")).to_owned()
}

#[tokio::test]
async fn a_sent_message_reaches_the_local_queue_its_consumer_reads() {
    let app = load_app(MANIFEST).await;
    let sent = post(&app, "/queue/orders", json!({ "body": "{\"id\":1}", "attributes": { "kind": "order" } })).await;
    let id = sent["ok"].as_str().unwrap().to_owned();
    let delayed = post(&app, "/queue/orders", json!({ "body": "later", "delay": 60 })).await;
    assert!(delayed["ok"].is_string(), "{delayed}");

    let events = app.capabilities().local_events().get().await.unwrap();
    let received = events.receive("orders", 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(received.len(), 1, "the delayed message is not visible yet");
    assert_eq!(received[0].id, id);
    assert_eq!(received[0].body, b"{\"id\":1}");
    assert_eq!(received[0].attributes, vec![("kind".to_owned(), "order".to_owned())]);

    let batch = post(&app, "/queue-batch/orders", json!([{ "body": "a" }, { "body": "b" }])).await;
    assert_eq!(batch["ok"].as_array().unwrap().len(), 2, "{batch}");
    let received = events.receive("orders", 10, Duration::from_secs(30)).await.unwrap();
    let bodies: Vec<&[u8]> = received.iter().map(|m| m.body.as_slice()).collect();
    assert_eq!(bodies, [b"a".as_slice(), b"b".as_slice()]);
}

#[tokio::test]
async fn only_granted_labels_open_and_sends_are_checked_before_any_backend() {
    let app = load_app(MANIFEST).await;
    assert_eq!(err(&post(&app, "/queue/other", json!({ "body": "x" })).await), "access-denied");
    assert_eq!(err(&post(&app, "/queue/nope", json!({ "body": "x" })).await), "access-denied");
    let cases = [
        (json!({ "body": "" }), "invalid-input: the body is empty"),
        (json!({ "body": "a\u{0}b" }), "invalid-input: the body contains U+0000"),
        (json!({ "body": "x".repeat(256 * 1024 + 1) }), "limit-exceeded: the message is 262145 bytes"),
        (json!({ "body": "x", "delay": 901 }), "invalid-input: delay-seconds 901 is over 900"),
        (json!({ "body": "x", "attributes": { "AWS.trace": "1" } }), "invalid-input: attribute name `AWS.trace`"),
        (json!({ "body": "x", "group": "g" }), "invalid-input: group-id and deduplication-id apply to FIFO"),
    ];
    for (message, expected) in cases {
        let reply = post(&app, "/queue/orders", message.clone()).await;
        assert!(err(&reply).starts_with(expected), "{message}: {reply}");
    }
    let eleven: Vec<Value> = (0..11).map(|i| json!({ "body": i.to_string() })).collect();
    assert!(err(&post(&app, "/queue-batch/orders", json!(eleven)).await).starts_with("limit-exceeded: a batch holds"));
    // A batch with one bad message sends nothing.
    let mixed = post(&app, "/queue-batch/orders", json!([{ "body": "fine" }, { "body": "" }])).await;
    assert!(err(&mixed).starts_with("invalid-input"), "{mixed}");
    let events = app.capabilities().local_events().get().await.unwrap();
    assert!(events.receive("orders", 10, Duration::from_secs(30)).await.unwrap().is_empty(), "nothing was sent");

    assert!(err(&post(&app, "/topic/alerts", json!({ "body": "x", "subject": "a\nb" })).await).contains("subject"));
    let bad_detail = post(&app, "/bus/app", json!([{ "source": "shop", "detail-type": "T", "detail": "[1]" }])).await;
    assert!(err(&bad_detail).contains("detail must be a JSON object"), "{bad_detail}");
    let reserved = post(&app, "/bus/app", json!([{ "source": "aws.s3", "detail-type": "T", "detail": {} }])).await;
    assert!(err(&reserved).contains("reserved"), "{reserved}");
    assert!(err(&post(&app, "/bus/app", json!([])).await).starts_with("limit-exceeded"));
}

#[tokio::test]
async fn a_fifo_queue_needs_a_group_deduplicates_and_hands_out_one_message_per_group() {
    let app = load_app(MANIFEST).await;
    assert!(err(&post(&app, "/queue/ordered", json!({ "body": "x" })).await).contains("needs a group-id"));
    let first = post(&app, "/queue/ordered", json!({ "body": "a1", "group": "a", "dedup": "d1" })).await;
    let again = post(&app, "/queue/ordered", json!({ "body": "a1 again", "group": "a", "dedup": "d1" })).await;
    assert_eq!(first["ok"], again["ok"], "a deduplication id sent twice is one message");
    post(&app, "/queue/ordered", json!({ "body": "a2", "group": "a" })).await;
    // Without an id, the body's hash deduplicates (content-based).
    post(&app, "/queue/ordered", json!({ "body": "b1", "group": "b" })).await;
    post(&app, "/queue/ordered", json!({ "body": "b1", "group": "b" })).await;

    let events = app.capabilities().local_events().get().await.unwrap();
    let visibility = Duration::from_secs(30);
    let heads = events.receive("ordered", 10, visibility).await.unwrap();
    let bodies: Vec<&[u8]> = heads.iter().map(|m| m.body.as_slice()).collect();
    assert_eq!(bodies, [b"a1".as_slice(), b"b1".as_slice()], "one message per group: the oldest");
    assert!(events.receive("ordered", 10, visibility).await.unwrap().is_empty(), "a group waits for its head");
    events.acknowledge(vec![heads[0].id.clone()]).await.unwrap();
    let next = events.receive("ordered", 10, visibility).await.unwrap();
    assert_eq!(next.iter().map(|m| m.body.as_slice()).collect::<Vec<_>>(), [b"a2".as_slice()]);
}

#[tokio::test]
async fn notifications_and_bus_events_enter_the_outbox_in_the_shape_their_triggers_read() {
    let app = load_app(MANIFEST).await;
    let published = post(
        &app,
        "/topic/alerts",
        json!({ "body": "disk full", "subject": "disk", "attributes": { "level": "high" } }),
    )
    .await;
    let put = post(
        &app,
        "/bus/app",
        json!([
            { "source": "shop.orders", "detail-type": "OrderProcessed", "detail": { "id": "o1" } },
            { "source": "shop.orders", "detail-type": "OrderProcessed", "detail": { "id": "o2" } },
        ]),
    )
    .await;
    let events = app.capabilities().local_events().get().await.unwrap();
    let due = events.due(10).await.unwrap();
    assert_eq!(due.len(), 3, "one notification, two bus events");
    let Event::Notification { topic, message_id, subject, body, attributes, .. } = &due[0].event else {
        panic!("{:?}", due[0].event)
    };
    assert_eq!((topic.as_str(), body.as_str(), subject.as_deref()), ("alerts", "disk full", Some("disk")));
    assert_eq!(attributes, &vec![("level".to_owned(), "high".to_owned())]);
    assert_eq!(published["ok"].as_str(), Some(message_id.as_str()));
    for (i, due) in due[1..].iter().enumerate() {
        let Event::Bus { bus, event } = &due.event else { panic!("{:?}", due.event) };
        assert_eq!(bus, "app");
        assert_eq!(event["source"], "shop.orders");
        assert_eq!(event["detail-type"], "OrderProcessed");
        assert_eq!(event["detail"]["id"], format!("o{}", i + 1));
        assert_eq!(put["ok"][i]["ok"], event["id"], "the id the plugin got is the event's");
    }
}

// --- The AWS backends, against moto -------------------------------------------------

struct Aws {
    moto: Moto,
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

impl Aws {
    /// moto, and an SQS queue named `name` with its URL and ARN.
    async fn start(name: &str) -> Self {
        let moto = Moto::start().await;
        let config = moto.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let (url, arn) = Moto::create_queue(&sqs, name).await;
        Self { moto, sqs, url, arn }
    }

    async fn receive(&self, url: &str, expected: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let mut messages = Vec::new();
        for _ in 0..20 {
            let output = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            messages.extend(output.messages.unwrap_or_default());
            if messages.len() >= expected {
                break;
            }
        }
        messages
    }

    /// The app over [`MANIFEST`] with `storage` (JSON) binding labels to AWS.
    async fn app(&self, storage: Value) -> TestApp {
        support::load_app_with_storage(MANIFEST, &storage.to_string(), &self.moto.sdk_config().await).await
    }
}

#[tokio::test]
async fn sends_reach_sqs_with_their_attributes_by_url_or_by_arn_alone_against_moto() {
    let aws = Aws::start("orders").await;
    let (ordered_url, ordered_arn) = {
        let url = aws
            .sqs
            .create_queue()
            .queue_name("ordered.fifo")
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        (
            url.clone(),
            url.replace(&format!("{}/123456789012/", aws.moto.endpoint), "arn:aws:sqs:us-east-1:123456789012:"),
        )
    };
    let app = aws
        .app(json!({ "queue": {
            "orders": { "sqs": { "arn": aws.arn, "url": aws.url } },
            // Only the ARN: the URL is looked up (GetQueueUrl) on the first send.
            "ordered": { "sqs": { "arn": ordered_arn } },
        } }))
        .await;

    let sent = post(&app, "/queue/orders", json!({ "body": "{\"id\":1}", "attributes": { "kind": "order" } })).await;
    let batch = post(&app, "/queue-batch/orders", json!([{ "body": "a" }, { "body": "b" }])).await;
    let messages = aws.receive(&aws.url, 3).await;
    let mut bodies: Vec<&str> = messages.iter().map(|m| m.body.as_deref().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["a", "b", "{\"id\":1}"]);
    let first = messages.iter().find(|m| m.body.as_deref() == Some("{\"id\":1}")).unwrap();
    assert_eq!(first.message_id.as_deref(), sent["ok"].as_str(), "the id the plugin got is SQS's");
    let kind = &first.message_attributes.as_ref().unwrap()["kind"];
    assert_eq!(kind.string_value.as_deref(), Some("order"));
    assert!(batch["ok"].as_array().unwrap().iter().all(|r| r["ok"].is_string()), "{batch}");

    let fifo = post(&app, "/queue/ordered", json!({ "body": "first", "group": "g" })).await;
    assert!(fifo["ok"].is_string(), "{fifo}");
    let messages = aws.receive(&ordered_url, 1).await;
    assert_eq!(messages[0].body.as_deref(), Some("first"));
}

#[tokio::test]
async fn notifications_reach_sns_subscribers_and_bus_events_reach_matching_rules_against_moto() {
    let aws = Aws::start("subscriber").await;
    let config = aws.moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic_arn = sns.create_topic().name("alerts").send().await.unwrap().topic_arn.unwrap();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&aws.arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let eventbridge = aws_sdk_eventbridge::Client::new(&config);
    eventbridge.create_event_bus().name("plughost-app").send().await.unwrap();
    let (rule_url, rule_arn) = Moto::create_queue(&aws.sqs, "rule-target").await;
    eventbridge
        .put_rule()
        .name("processed")
        .event_bus_name("plughost-app")
        .event_pattern(r#"{"source": ["shop.orders"], "detail-type": ["OrderProcessed"]}"#)
        .send()
        .await
        .unwrap();
    eventbridge
        .put_targets()
        .rule("processed")
        .event_bus_name("plughost-app")
        .targets(aws_sdk_eventbridge::types::Target::builder().id("queue").arn(&rule_arn).build().unwrap())
        .send()
        .await
        .unwrap();
    let app = aws
        .app(json!({
            "topic": { "alerts": { "sns": { "arn": topic_arn } } },
            "bus": { "app": { "eventbridge": { "name": "plughost-app" } } },
        }))
        .await;

    let published = post(&app, "/topic/alerts", json!({ "body": "disk full", "subject": "disk" })).await;
    assert!(published["ok"].is_string(), "{published}");
    let messages = aws.receive(&aws.url, 1).await;
    assert_eq!(messages[0].body.as_deref(), Some("disk full"), "raw delivery to the subscribed queue");

    let put = post(
        &app,
        "/bus/app",
        json!([
            { "source": "shop.orders", "detail-type": "OrderProcessed", "detail": { "id": "o1" } },
            { "source": "shop.orders", "detail-type": "Ignored", "detail": { "id": "o2" } },
        ]),
    )
    .await;
    let results = put["ok"].as_array().unwrap_or_else(|| panic!("{put}"));
    assert!(results.iter().all(|r| r["ok"].is_string()), "{put}");
    let messages = aws.receive(&rule_url, 1).await;
    assert_eq!(messages.len(), 1, "only the matching event reaches the rule's target");
    let event: Value = serde_json::from_str(messages[0].body.as_deref().unwrap()).unwrap();
    assert_eq!((event["detail-type"].as_str(), event["detail"]["id"].as_str()), (Some("OrderProcessed"), Some("o1")));
    assert_eq!(event["id"], results[0]["ok"], "the id the plugin got is EventBridge's");
}

#[tokio::test]
async fn a_fired_message_names_its_group_exactly_when_the_queue_is_fifo() {
    use plughost::serve::sources::fire::{Fire, Refused};
    let app = load_app(MANIFEST).await;
    let events = app.capabilities().local_events().get().await.unwrap().clone();
    let fire = |event: Value| serde_json::from_value::<Fire>(event).unwrap();
    let refused = fire(json!({ "queue": "ordered", "body": "x" })).accept(&app, &events).await.unwrap_err();
    assert!(
        matches!(&refused, Refused::Invalid(m) if m.contains("FIFO queue: give the message a `group`")),
        "{refused:?}"
    );
    let refused =
        fire(json!({ "queue": "orders", "body": "x", "group": "g" })).accept(&app, &events).await.unwrap_err();
    assert!(matches!(&refused, Refused::Invalid(m) if m.contains("not a FIFO queue")), "{refused:?}");
    let accepted = fire(json!({ "queue": "ordered", "body": "x", "group": "g" })).accept(&app, &events).await.unwrap();
    let received = events.receive("ordered", 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(received.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [accepted.id.as_str()]);
}

#[tokio::test]
async fn a_notification_reaches_a_subscribed_queue_once_however_often_its_plugins_fail() {
    let app = load_app(
        r#"
        [kv.seen]
        [queue.audit]
        topics = ["alerts"]
        [topic.alerts]
        [bus.app]

        [plugins.probe]
        source = "{message-probe}"
        routes = ["POST /topic/{label}"]
        queue = { audit = "send" }
        topic = { alerts = "publish" }
        bus = { app = "put" }

        [plugins.counter]
        source = "{event-counter}"
        events = [{ topic = "alerts" }]
        kv = { seen = "read-write" }
        "#,
    )
    .await;
    let events = app.capabilities().local_events().get().await.unwrap().clone();
    plughost::serve::sources::pump::watch_triggered_labels(&app, &mut Default::default()).await;
    let pump = plughost::serve::sources::pump::spawn(app.arc(), events.clone());
    // `fail`: the counter asks for redelivery every time, so the outbox retries it (1 s,
    // 2 s) and dead-letters it.
    let published = post(&app, "/topic/alerts", json!({ "body": "fail" })).await;
    let id = published["ok"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = events.status().await.unwrap();
        if status.dead_letters.iter().any(|d| d.id == id) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not dead-lettered: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pump.abort();
    let received = events.receive("audit", 10, Duration::from_secs(30)).await.unwrap();
    let bodies: Vec<&[u8]> = received.iter().map(|m| m.body.as_slice()).collect();
    assert_eq!(bodies, [b"fail".as_slice()], "forwarded once, not once per attempt");
}
