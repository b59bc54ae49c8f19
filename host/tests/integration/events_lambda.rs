//! Event sources in Lambda, end to end: the real `plughost` binary under cargo-lambda's
//! emulator (as in `lambda_e2e.rs`), invoked with recorded event shapes from
//! `tests/fixtures/lambda/` (the `aws_lambda_events` crate's fixtures, with ARNs, buckets
//! and items of this deployment): S3 object created, an SQS batch with one failing
//! message, an SNS notification, a DynamoDB stream batch with one failing record, an
//! EventBridge schedule and a bus event. The `event-counter` guest records what it got in
//! an embedded kv store, read back here through the host's own SQLite backend.

use crate::support;

use plughost::capability::kv::{KvBackend, SqliteKv};
use serde_json::Value;
use support::guest_wasm;
use support::lambda::Lambda;

const MANIFEST: &str = r#"
[kv.seen]
[kv.users]
[blob.uploads]
[queue.jobs]
[topic.alerts]
[bus.app]

[plugins.counter]
source = "{counter}"
events = [
  { schedule = "cron(0 3 * * ? *)", name = "nightly" },
  { object = "uploads", on = ["created"], prefix = "photos/" },
  { queue = "jobs" },
  { topic = "alerts" },
  { changes = "users" },
  { bus = "app", pattern = { source = ["shop"], detail = { total = [{ numeric = [">", 100] }] } } },
]
kv = { seen = "read-write", users = "read" }
blob = { uploads = "read" }
"#;

const STORAGE: &str = r#"{
  "kv": { "users": { "dynamodb": { "table": "plughost-data", "prefix": "users" } } },
  "blob": { "uploads": { "s3": { "bucket": "plughost-data", "prefix": "uploads" } } },
  "queue": { "jobs": { "sqs": { "arn": "arn:aws:sqs:us-east-1:123456789012:plughost-jobs" } } },
  "topic": { "alerts": { "sns": { "arn": "arn:aws:sns:us-east-1:246796806071:snsNetTest" } } },
  "bus": { "app": { "eventbridge": { "name": "plughost-app" } } }
}"#;

struct Function {
    lambda: Lambda,
    seen: SqliteKv,
}

impl Function {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifest = MANIFEST.replace("{counter}", &guest_wasm("event-counter").display().to_string());
        std::fs::write(dir.path().join("plughost.toml"), manifest).unwrap();
        let data = dir.path().join("data");
        // Created before the function starts, so both open an existing database.
        let seen = SqliteKv::open(&data.join("kv.sqlite3")).unwrap();
        let env = [
            ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
            ("PLUGHOST_DATA_DIR", data.display().to_string()),
            ("PLUGHOST_STORAGE", STORAGE.to_owned()),
            // `seen` stays embedded: the test reads it from the data dir.
            ("PLUGHOST_ALLOW_EMBEDDED_STORAGE", "1".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ];
        Self { lambda: Lambda::start(&env, dir), seen }
    }

    fn invoke(&self, fixture: &str) -> Result<Value, String> {
        let file = support::lambda::repo().join("tests/fixtures/lambda").join(fixture);
        self.lambda.invoke(&["--data-file", file.to_str().unwrap()])
    }

    async fn read(&self, key: &str) -> Option<String> {
        let entry = self.seen.get("seen", key).await.unwrap()?;
        Some(String::from_utf8(entry.value).unwrap())
    }

    async fn last(&self, kind: &str) -> Value {
        let text = self.read(&format!("last/{kind}")).await.unwrap_or_else(|| panic!("no {kind} event recorded"));
        serde_json::from_str(&text).unwrap()
    }
}

/// cargo-lambda wraps an error over several `│`-prefixed lines.
fn one_line(error: &str) -> String {
    error.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn sqs_batches_report_only_the_failed_message_and_stream_batches_keep_their_order() {
    let f = Function::start();

    let answer = f.invoke("sqs-batch-one-failing.json").unwrap();
    assert_eq!(answer, serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": "msg-2" }] }));
    assert_eq!(f.read("count/message").await.as_deref(), Some("2"));
    let message = f.last("message").await;
    assert_eq!(message["event"]["queue"], "jobs", "the label, never the ARN: {message}");
    assert!(["msg-1", "msg-3"].contains(&message["id"].as_str().unwrap()), "{message}");
    // Only string and number attributes, sorted; the receive count from SQS's attributes.
    let expected_attributes = serde_json::json!([["Attribute1", "AttributeValue1"], ["Attribute2", "123"]]);
    assert_eq!(message["event"]["attributes"], expected_attributes, "{message}");
    assert_eq!(f.read("attempts/msg-2").await.as_deref(), Some("1"), "the failing message ran once");

    // Stream: users#user/1 inserted, another namespace (skipped), modified, user/2 fails,
    // user/1 removed. The failure and every record after it are reported, in order.
    let answer = f.invoke("dynamodb-stream-one-failing.json").unwrap();
    let failures: Vec<&str> =
        answer["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap()).collect();
    assert_eq!(failures, ["1004", "1005"], "{answer}");
    assert_eq!(f.read("count/change").await.as_deref(), Some("2"), "insert and modify of user/1");
    let change = f.last("change").await;
    assert_eq!(change["event"]["store"], "users");
    assert_eq!(change["event"]["key"], "user/1");
    assert_eq!(change["event"]["kind"], "modified");
    assert_eq!((change["event"]["old"].as_str(), change["event"]["new"].as_str()), (Some("ada"), Some("ada lovelace")));
    assert_eq!(f.read("attempts/dynamodb/stream-5").await, None, "nothing after the failure ran");
    assert_eq!(f.read("attempts/dynamodb/stream-2").await, None, "another namespace of the table is not ours");

    let lines = f.lambda.logs_until("\"outcome\":\"failed\"");
    let failed = lines.iter().find(|l| l["outcome"] == "failed").unwrap();
    assert_eq!(failed["plugin"], "counter");
    assert!(failed["failure"].as_str().is_some_and(|f| f.contains("asked to fail")), "{failed}");
}

#[tokio::test]
async fn s3_sns_schedule_and_bus_events_reach_the_plugin_by_label() {
    let f = Function::start();

    let answer = f.invoke("s3-object-created.json").unwrap();
    assert_eq!(answer["delivered"], 1, "{answer}");
    let object = f.last("object").await;
    assert_eq!(object["event"]["container"], "uploads");
    assert_eq!(object["event"]["key"], "photos/Happy Face.jpg", "decoded, without the container's prefix");
    assert_eq!(object["event"]["change"], "created");
    assert_eq!(object["event"]["size"], 1024);
    assert_eq!(object["event"]["etag"], "\"d41d8cd98f00b204e9800998ecf8427e\"");

    let answer = f.invoke("sns-notification.json").unwrap();
    assert_eq!(answer["delivered"], 1, "{answer}");
    let notification = f.last("notification").await;
    assert_eq!(notification["event"]["topic"], "alerts");
    assert_eq!(notification["event"]["subject"], "Greetings");
    assert_eq!(notification["event"]["body"], "Hello\r\nworld!");
    assert_eq!(notification["event"]["attributes"], serde_json::json!([["priority", "high"]]));
    assert_eq!(notification["id"], "82833b5c-8d5d-56d0-b0e1-7511f8253eb8");

    let answer = f.invoke("eventbridge-schedule.json").unwrap();
    assert_eq!(answer["delivered"], 1, "{answer}");
    let tick = f.last("schedule").await;
    assert_eq!(
        (tick["event"]["name"].as_str(), tick["event"]["time"].as_u64()),
        (Some("nightly"), Some(1_444_323_186))
    );
    assert_eq!(tick["id"], "schedule/counter/nightly@1444323186");

    let answer = f.invoke("eventbridge-bus-event.json").unwrap();
    assert_eq!(answer["delivered"], 1, "{answer}");
    let custom = f.last("custom").await;
    assert_eq!((custom["event"]["bus"].as_str(), custom["event"]["source"].as_str()), (Some("app"), Some("shop")));
    assert_eq!(custom["event"]["detail_type"], "OrderPlaced");
    assert_eq!(serde_json::from_str::<Value>(custom["event"]["detail"].as_str().unwrap()).unwrap()["total"], 120);
}

#[tokio::test]
async fn unmatched_and_failing_events_fail_the_invocation_naming_why_and_the_function_keeps_serving() {
    let f = Function::start();
    // A bus event the pattern does not match goes nowhere, successfully.
    let cheap = r#"{"plughost_bus":"app","event":{"id":"e1","source":"shop","detail-type":"OrderPlaced","detail":{"total":5}}}"#;
    assert_eq!(f.lambda.invoke(&["--data-ascii", cheap]).unwrap()["delivered"], 0);
    // A failing bus event fails the invocation (Lambda retries it).
    let failing = r#"{"plughost_bus":"app","event":{"id":"e2","source":"shop","detail-type":"X","detail":{"total":500,"body":"fail"}}}"#;
    let error = one_line(&f.lambda.invoke(&["--data-ascii", failing]).unwrap_err());
    assert!(error.contains("plughost.PluginFailed × bus event failed") && error.contains("asked to fail"), "{error}");
    // A plugin's failure reason is its own text: cut to 1 KiB before it reaches the log.
    let long = r#"{"plughost_bus":"app","event":{"id":"e3","source":"shop","detail-type":"X","detail":{"total":500,"body":"fail-long"}}}"#;
    let error = one_line(&f.lambda.invoke(&["--data-ascii", long]).unwrap_err());
    assert!(error.contains("asked to fail at length") && error.len() < 2_000, "{} bytes", error.len());
    // A bus this deployment does not declare; a schedule it does not have.
    let error = one_line(&f.lambda.invoke(&["--data-ascii", r#"{"plughost_bus":"nope","event":{}}"#]).unwrap_err());
    assert!(error.contains("plughost.UnboundSource × no bus `nope` is declared"), "{error}");
    let missing = r#"{"plughost_schedule":{"plugin":"counter","name":"hourly","time":"2026-12-01T00:00:00Z"}}"#;
    let error = one_line(&f.lambda.invoke(&["--data-ascii", missing]).unwrap_err());
    assert!(error.contains("plughost.UnboundSource × no schedule `hourly` of plugin `counter`"), "{error}");
    // A raw EventBridge event (no envelope) says how to set it up.
    let raw = r#"{"id":"x","source":"aws.events","detail-type":"Scheduled Event","detail":{}}"#;
    let error = one_line(&f.lambda.invoke(&["--data-ascii", raw]).unwrap_err());
    assert!(error.contains("plughost.UnsupportedEvent") && error.contains("input transformer"), "{error}");
    // Records of an unknown source, and an S3 object of no container.
    let kinesis = r#"{"Records":[{"eventSource":"aws:kinesis"}]}"#;
    let error = one_line(&f.lambda.invoke(&["--data-ascii", kinesis]).unwrap_err());
    assert!(
        error.contains("plughost.UnsupportedEvent × records from `aws:kinesis` are not an event source"),
        "{error}"
    );
    let error = one_line(&f.invoke("s3-put-other-object.json").unwrap_err());
    assert!(
        error
            .contains("plughost.UnboundSource × s3://plughost-uploads/uploads/photo 1.png: no blob container is bound"),
        "{error}"
    );
    // An SQS batch with a record without its messageId: malformed, refused whole.
    let anonymous = r#"{"Records":[{"body":"x","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:plughost-jobs","attributes":{},"messageAttributes":{}}]}"#;
    let error = one_line(&f.lambda.invoke(&["--data-ascii", anonymous]).unwrap_err());
    assert!(error.contains("plughost.InvalidEvent × malformed SQS event: record 0 has no messageId"), "{error}");
    assert_eq!(f.read("count/message").await, None, "nothing of it ran");
    // An SQS message of a queue no label is bound to is returned, not dropped.
    let stray = r#"{"Records":[{"messageId":"m9","body":"x","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:1:other","attributes":{},"messageAttributes":{}}]}"#;
    assert_eq!(
        f.lambda.invoke(&["--data-ascii", stray]).unwrap(),
        serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": "m9" }] })
    );
    // Still serving.
    assert_eq!(f.invoke("eventbridge-schedule.json").unwrap()["delivered"], 1);
    // Each failure was logged once, by plughost, named, with its source and request id;
    // none echoed by the runtime.
    let lines = f.lambda.logs_until("\"kind\":\"schedule\"");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    assert!(!text.iter().any(|l| l.contains("lambda_runtime::layers::panic")), "{text:#?}");
    let failed: Vec<&String> = text.iter().filter(|l| l.contains("invocation failed")).collect();
    assert_eq!(failed.len(), 8, "one line per failed invocation: {failed:#?}");
    for line in &failed {
        assert!(line.contains("\"error_type\":\"plughost.") && line.contains("\"request_id\":"), "{line}");
    }
    let plugin_failures = failed.iter().filter(|l| l.contains("plughost.PluginFailed")).count();
    let warned = failed.iter().filter(|l| l.contains("\"level\":\"WARN\"")).count();
    assert_eq!(
        (plugin_failures, warned),
        (2, 2),
        "a plugin's failure is retried (warn), the others need the operator (error)"
    );
}

/// At-least-once delivery meets the SDK's idempotency guard: the example `activity`
/// plugin claims each event id before recording it, so SQS delivering the same batch twice
/// records each message once — and the message it refused (not JSON) is reported both times.
#[tokio::test]
async fn a_redelivered_batch_is_recorded_once_by_a_plugin_using_the_idempotency_guard() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[kv.activity]\n[queue.jobs]\n[plugins.activity]\nsource = \"{}\"\nroutes = [\"GET /v1/activity\"]\n\
         events = [{{ queue = \"jobs\" }}]\nkv = {{ activity = \"read-write\" }}\n",
        guest_wasm("activity").display()
    );
    std::fs::write(dir.path().join("plughost.toml"), manifest).unwrap();
    let env = [
        ("PLUGHOST_MANIFEST", dir.path().join("plughost.toml").display().to_string()),
        ("PLUGHOST_DATA_DIR", dir.path().join("data").display().to_string()),
        (
            "PLUGHOST_STORAGE",
            r#"{"queue":{"jobs":{"sqs":{"arn":"arn:aws:sqs:us-east-1:123456789012:plughost-jobs"}}}}"#.to_owned(),
        ),
        ("PLUGHOST_ALLOW_EMBEDDED_STORAGE", "1".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    let lambda = Lambda::start(&env, dir);
    let fixture = support::lambda::repo().join("tests/fixtures/lambda/sqs-batch-one-failing.json");
    let refused = serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": "msg-2" }] });
    for _ in 0..2 {
        assert_eq!(lambda.invoke(&["--data-file", fixture.to_str().unwrap()]).unwrap(), refused);
        // activity keys records by the second they were recorded in: a second delivery
        // in a later second would be a second record without the guard.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let activity: Value = reqwest::get(lambda.url("/v1/activity")).await.unwrap().json().await.unwrap();
    let mut ids: Vec<&str> = activity["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["msg-1", "msg-3"], "{activity}");
}
