//! Every non-HTTP event source of the one function: S3 notifications, SQS batches, SNS
//! notifications, DynamoDB stream batches, and EventBridge schedules and bus events (which
//! Terraform's rule targets wrap in a small envelope naming the trigger). Each record
//! becomes a WIT event (`trigger/event.rs` for the shared shapes) for the plugins whose
//! triggers want it (`App::deliver`), by label — found from the ARN, bucket or table the
//! record names through the storage map's bindings.
//!
//! What each source gets back:
//!
//! | source      | a plugin fails                                           |
//! |-------------|----------------------------------------------------------|
//! | SQS         | `batchItemFailures`: only failed messages return to the queue (FIFO: the failed one and every later one) |
//! | DynamoDB    | `batchItemFailures` from the first failed record on (stream order is kept) |
//! | S3, SNS, EventBridge | the invocation fails: Lambda retries it, then its failure destination keeps it |
//!
//! Records of a batch run concurrently (SQS standard queues, S3, SNS) or in order (FIFO
//! queues, streams), each on a fresh instance; the invocation's deadline caps them all.

use crate::app::App;
use crate::bindings::wit_events::{Change, ChangeKind, Event, Message, Notification, Object, ObjectChange, Payload};
use crate::capability::log::escape_controls;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};
use std::time::Instant;

/// An invocation that is not HTTP, recognised by its shape.
pub enum Source {
    S3(S3Event),
    Sqs(SqsEvent),
    Sns(SnsEvent),
    Stream(StreamEvent),
    /// `{"plughost_schedule": {"plugin", "name", "time"}}` (an EventBridge schedule rule's
    /// input transformer).
    Schedule {
        plugin: String,
        name: String,
        time: u64,
    },
    /// `{"plughost_bus": "<label>", "event": <the EventBridge event>}` (a bus rule's input
    /// transformer).
    Bus {
        bus: String,
        event: Value,
    },
}

/// What an event source sends, told from HTTP events: `None` for anything that is not
/// one of the sources above (the caller tries HTTP); `Some(Err)` for one that is, but
/// malformed — the error names the source and the problem.
pub fn recognise(payload: &Value) -> Option<Result<Source, String>> {
    if let Some(envelope) = payload.get("plughost_schedule") {
        let text = |field: &str| envelope.get(field).and_then(Value::as_str).map(str::to_owned);
        return Some(match (text("plugin"), text("name"), text("time")) {
            (Some(plugin), Some(name), Some(time)) => {
                Ok(Source::Schedule { plugin, name, time: crate::trigger::event::unix_seconds(&time) })
            }
            _ => Err("a plughost_schedule envelope needs `plugin`, `name` and `time` strings".into()),
        });
    }
    if let Some(bus) = payload.get("plughost_bus") {
        return Some(match (bus.as_str(), payload.get("event")) {
            (Some(bus), Some(event)) if event.is_object() => {
                Ok(Source::Bus { bus: bus.to_owned(), event: event.clone() })
            }
            _ => Err("a plughost_bus envelope needs the bus label and the EventBridge `event`".into()),
        });
    }
    if payload.get("detail-type").is_some() && payload.get("source").is_some() {
        return Some(Err("an EventBridge event reaches plughost through its rule target's input transformer \
                         (`plughost_schedule` / `plughost_bus`, as Terraform's module sets up); this one came \
                         without it, so plughost cannot tell which trigger it is for"
            .into()));
    }
    let records = payload.get("Records")?.as_array()?;
    let source_of = |record: &Value| {
        record.get("eventSource").or_else(|| record.get("EventSource")).and_then(Value::as_str).map(str::to_owned)
    };
    let first = source_of(records.first()?)?;
    if records.iter().any(|record| source_of(record).as_deref() != Some(&first)) {
        return Some(Err("the records of one invocation come from different sources".into()));
    }
    let parse = |what: &str| format!("malformed {what} event: ");
    Some(match first.as_str() {
        "aws:s3" => serde_json::from_value(payload.clone()).map(Source::S3).map_err(|e| parse("S3") + &e.to_string()),
        "aws:sqs" => {
            serde_json::from_value(payload.clone()).map(Source::Sqs).map_err(|e| parse("SQS") + &e.to_string())
        }
        "aws:sns" => {
            serde_json::from_value(payload.clone()).map(Source::Sns).map_err(|e| parse("SNS") + &e.to_string())
        }
        "aws:dynamodb" => serde_json::from_value(payload.clone())
            .map(Source::Stream)
            .map_err(|e| parse("DynamoDB stream") + &e.to_string()),
        other => Err(format!(
            "records from `{}` are not an event source plughost handles (aws:s3, aws:sqs, aws:sns, aws:dynamodb)",
            escape_controls(other)
        )),
    })
}

/// An S3 object event for a container, or why the record is not one. `manifest` is the
/// deployment's manifest object (handled by the caller).
pub fn object_event(
    app: &App,
    bucket: &str,
    key: &str,
    record: &aws_lambda_events::event::s3::S3EventRecord,
) -> Result<Event, String> {
    let (namespace, inner_key) = key.split_once('/').unwrap_or((key, ""));
    let address = app
        .capabilities()
        .addresses("blob")
        .iter()
        .find(|a| a.resource == bucket && a.namespace == namespace)
        .ok_or_else(|| {
            format!("s3://{bucket}/{}: no blob container is bound to this bucket and prefix", escape_controls(key))
        })?;
    let name = record.event_name.as_deref().unwrap_or_default();
    let change = if name.starts_with("ObjectCreated") {
        ObjectChange::Created
    } else if name.starts_with("ObjectRemoved") {
        ObjectChange::Removed
    } else {
        return Err(format!("S3 event `{}` is neither ObjectCreated nor ObjectRemoved", escape_controls(name)));
    };
    let object = &record.s3.object;
    // S3's notification etag is the bare hash; the blob capability's are quoted.
    let etag = object.e_tag.as_deref().filter(|e| !e.is_empty()).map(|e| format!("\"{}\"", e.trim_matches('"')));
    let sequencer = object.sequencer.as_deref().unwrap_or_default();
    Ok(Event {
        id: format!("s3/{bucket}/{key}/{sequencer}"),
        payload: Payload::Object(Object {
            container: address.label.clone(),
            key: inner_key.to_owned(),
            change,
            size: object.size.unwrap_or(0).max(0) as u64,
            etag: etag.unwrap_or_default(),
            time: record.event_time.timestamp().max(0) as u64,
        }),
    })
}

/// The S3 records that are not the deployment's manifest: delivered as object events.
/// `Err` (the invocation fails, so Lambda retries it) when a record is for no container or
/// a plugin failed.
pub async fn s3_objects(
    app: &App,
    records: &[(&aws_lambda_events::event::s3::S3EventRecord, String, String)],
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<usize, String> {
    let mut events = Vec::with_capacity(records.len());
    for (record, bucket, key) in records {
        events.push(object_event(app, bucket, key, record)?);
    }
    let deliveries =
        futures::future::join_all(events.iter().map(|event| app.deliver(event, None, None, request_id, deadline)))
            .await;
    let failures: Vec<String> = deliveries.iter().filter(|d| !d.succeeded()).map(|d| d.describe_failures()).collect();
    if failures.is_empty() {
        Ok(deliveries.iter().map(|d| d.targets).sum())
    } else {
        Err(format!("object events failed, to be retried: {}", failures.join("; ")))
    }
}

/// An SQS batch: each message to its queue's consumer. Failed messages are reported
/// (`batchItemFailures`) and return to the queue; a message of a queue the deployment
/// does not consume fails too, so it is redelivered (and dead-lettered) rather than lost.
pub async fn sqs(app: &App, event: SqsEvent, request_id: &str, deadline: Option<Instant>) -> Value {
    let sources = app.capabilities().sources();
    let mut failed: Vec<String> = Vec::new();
    let fifo = event.records.first().and_then(|r| r.event_source_arn.as_deref()).is_some_and(|a| a.ends_with(".fifo"));
    let messages: Vec<(String, Result<Event, String>)> = event
        .records
        .into_iter()
        .map(|record| {
            let id = record.message_id.clone().unwrap_or_default();
            let arn = record.event_source_arn.clone().unwrap_or_default();
            let message = match sources.queue_by_arn(&arn) {
                Some(queue) => Ok(message_event(queue, record)),
                None => Err(format!("no queue is bound to {}", escape_controls(&arn))),
            };
            (id, message)
        })
        .collect();
    if fifo {
        // FIFO: a failure stops the batch; it and every later message are returned, so
        // the queue's order holds.
        for (id, message) in &messages {
            let ok = failed.is_empty() && deliver_message(app, message, request_id, deadline).await;
            if !ok {
                failed.push(id.clone());
            }
        }
    } else {
        let outcomes = futures::future::join_all(
            messages.iter().map(|(_, message)| deliver_message(app, message, request_id, deadline)),
        )
        .await;
        failed = messages.iter().zip(outcomes).filter(|(_, ok)| !ok).map(|((id, _), _)| id.clone()).collect();
    }
    batch_response(failed)
}

fn message_event(queue: &str, record: aws_lambda_events::event::sqs::SqsMessage) -> Event {
    let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut attributes: Vec<(String, String)> = record
        .message_attributes
        .iter()
        .filter_map(|(name, value)| value.string_value.clone().map(|v| (name.clone(), v)))
        .collect();
    attributes.sort();
    let message_id = record.message_id.unwrap_or_default();
    Event {
        id: message_id.clone(),
        payload: Payload::Message(Message {
            queue: queue.to_owned(),
            message_id,
            body: record.body.unwrap_or_default().into_bytes(),
            attributes,
            receive_count,
        }),
    }
}

/// Delivers one message to its queue's consumer; false when it must come back.
async fn deliver_message(
    app: &App,
    message: &Result<Event, String>,
    request_id: &str,
    deadline: Option<Instant>,
) -> bool {
    let event = match message {
        Ok(event) => event,
        Err(why) => {
            tracing::warn!(request_id, "SQS message not delivered, left on its queue: {why}");
            return false;
        }
    };
    let delivery = app.deliver(event, None, None, request_id, deadline).await;
    if delivery.targets == 0 {
        tracing::warn!(
            request_id,
            message_id = %escape_controls(&event.id),
            "no plugin consumes this queue in the current manifest; the message stays on the queue"
        );
        return false;
    }
    delivery.succeeded()
}

/// SNS: the notification to every plugin subscribed to its topic.
pub async fn sns(app: &App, event: SnsEvent, request_id: &str, deadline: Option<Instant>) -> Result<Value, String> {
    let sources = app.capabilities().sources();
    let mut delivered = 0;
    let mut failures = Vec::new();
    for record in event.records {
        let message = record.sns;
        let topic = sources
            .topic_by_arn(&message.topic_arn)
            .ok_or_else(|| format!("no topic is bound to {}", escape_controls(&message.topic_arn)))?;
        let mut attributes: Vec<(String, String)> = message
            .message_attributes
            .iter()
            .filter(|(_, a)| a.data_type != "Binary")
            .map(|(name, a)| (name.clone(), a.value.clone()))
            .collect();
        attributes.sort();
        let event = Event {
            id: message.message_id.clone(),
            payload: Payload::Notification(Notification {
                topic: topic.to_owned(),
                message_id: message.message_id,
                subject: message.subject,
                body: message.message,
                attributes,
                time: message.timestamp.timestamp().max(0) as u64,
            }),
        };
        let delivery = app.deliver(&event, None, None, request_id, deadline).await;
        delivered += delivery.targets;
        if !delivery.succeeded() {
            failures.push(delivery.describe_failures());
        }
    }
    if failures.is_empty() {
        Ok(json!({ "delivered": delivered }))
    } else {
        Err(format!("notification failed, to be retried: {}", failures.join("; ")))
    }
}

/// A DynamoDB stream batch, in order: each record of a bound kv store to the plugins
/// consuming its changes. The first failure and every record after it are reported, so
/// Lambda retries from there and order holds. Records of namespaces no store of this
/// deployment is bound to are not ours (the table is shared) and are skipped.
pub async fn stream(app: &App, event: StreamEvent, request_id: &str, deadline: Option<Instant>) -> Value {
    let mut failed: Vec<String> = Vec::new();
    for record in event.records {
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        if !failed.is_empty() {
            failed.push(sequence);
            continue;
        }
        let event = match change_event(app, &record) {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            Err(why) => {
                tracing::warn!(request_id, "stream record not delivered: {why}");
                failed.push(sequence);
                continue;
            }
        };
        if !app.deliver(&event, None, None, request_id, deadline).await.succeeded() {
            failed.push(sequence);
        }
    }
    batch_response(failed)
}

fn change_event(app: &App, record: &aws_lambda_events::event::dynamodb::EventRecord) -> Result<Option<Event>, String> {
    use serde_dynamo::AttributeValue;
    let arn = record.event_source_arn.as_deref().unwrap_or_default();
    let table = arn.split_once(":table/").and_then(|(_, rest)| rest.split('/').next()).unwrap_or_default();
    let Some(AttributeValue::S(pk)) = record.change.keys.get("pk") else {
        return Err(format!("record {} has no `pk` string key", escape_controls(&record.event_id)));
    };
    let Some((namespace, key)) = pk.split_once('#') else {
        return Err(format!("record {}: `pk` is not `<namespace>#<key>`", escape_controls(&record.event_id)));
    };
    let Some(address) =
        app.capabilities().addresses("kv").iter().find(|a| a.resource == table && a.namespace == namespace)
    else {
        return Ok(None);
    };
    let value = |image: &serde_dynamo::Item| -> Option<Vec<u8>> {
        match (image.get("v"), image.get("n")) {
            (Some(AttributeValue::B(bytes)), _) => Some(bytes.clone()),
            (_, Some(AttributeValue::N(number))) => Some(number.clone().into_bytes()),
            _ => None,
        }
    };
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Inserted,
        "MODIFY" => ChangeKind::Modified,
        "REMOVE" => ChangeKind::Removed,
        other => return Err(format!("unknown stream event `{}`", escape_controls(other))),
    };
    Ok(Some(Event {
        id: format!("dynamodb/{}", record.event_id),
        payload: Payload::Change(Change {
            store: address.label.clone(),
            key: key.to_owned(),
            kind,
            old_value: value(&record.change.old_image),
            new_value: value(&record.change.new_image),
            time: record.change.approximate_creation_date_time.timestamp().max(0) as u64,
        }),
    }))
}

/// A schedule trigger fired: `plugin`'s schedule `name`.
pub async fn schedule(
    app: &App,
    plugin: &str,
    name: &str,
    time: u64,
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<Value, String> {
    let event = crate::trigger::event::schedule(plugin, name, time);
    let delivery = app.deliver(&event, None, Some(plugin), request_id, deadline).await;
    if delivery.targets == 0 {
        return Err(format!(
            "no schedule `{}` of plugin `{}` in the current manifest",
            escape_controls(name),
            escape_controls(plugin)
        ));
    }
    if !delivery.succeeded() {
        return Err(format!("schedule failed, to be retried: {}", delivery.describe_failures()));
    }
    Ok(json!({ "delivered": delivery.targets }))
}

/// A bus event: to every plugin whose trigger on `bus` has a matching pattern.
pub async fn bus(
    app: &App,
    bus: &str,
    event: &Value,
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<Value, String> {
    if !app.table().manifest.sources.buses.contains(bus) {
        return Err(format!("no bus `{}` is declared in the current manifest", escape_controls(bus)));
    }
    let custom = crate::trigger::event::custom(bus, event).map_err(|m| format!("bus `{bus}`: {m}"))?;
    let delivery = app.deliver(&custom, Some(event), None, request_id, deadline).await;
    if !delivery.succeeded() {
        return Err(format!("bus event failed, to be retried: {}", delivery.describe_failures()));
    }
    Ok(json!({ "delivered": delivery.targets }))
}

fn batch_response(failed: Vec<String>) -> Value {
    json!({ "batchItemFailures": failed.into_iter().map(|id| json!({ "itemIdentifier": id })).collect::<Vec<_>>() })
}
