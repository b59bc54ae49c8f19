//! Every non-HTTP event source of the one function: SQS batches, SNS notifications,
//! EventBridge schedules and bus events (which Terraform's rule targets wrap in a small
//! envelope naming the trigger), and the records of labelled capabilities' events — S3
//! object notifications, DynamoDB stream records — which each capability maps to its
//! labels (`capability/<name>/events.rs`). Each record becomes a WIT event for the plugins
//! whose triggers want it (`App::deliver`), by label — found from the ARN, bucket or table
//! the record names through the storage map's bindings.
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

use super::failure::{Failure, Kind};
use crate::app::App;
use crate::capability::event::Event;
use crate::capability::labelled::RecordError;
use crate::observability::escape::escape_controls;
use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};
use std::time::Instant;

/// An invocation that is not HTTP, recognised by its shape.
pub enum AwsEvent {
    /// Records from `event_source` (`aws:s3`, `aws:dynamodb`): a labelled capability's
    /// events (and, for S3, maybe the deployment's manifest).
    Records {
        event_source: String,
        records: Vec<Value>,
    },
    Sqs(SqsEvent),
    Sns(SnsEvent),
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

impl AwsEvent {
    /// The source's name in log lines: the records' `eventSource`, `schedule` or `bus`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Records { event_source, .. } if event_source == "aws:s3" => "aws:s3",
            Self::Records { event_source, .. } if event_source == "aws:dynamodb" => "aws:dynamodb",
            Self::Records { .. } => "records",
            Self::Sqs(_) => "aws:sqs",
            Self::Sns(_) => "aws:sns",
            Self::Schedule { .. } => "schedule",
            Self::Bus { .. } => "bus",
        }
    }
}

/// What an event source sends, told from HTTP events: `None` for anything that is not
/// one of the sources above (the caller tries HTTP); `Some(Err)` for one that is, but
/// malformed or not handled — the error names the source and the problem.
pub fn recognise(payload: &Value) -> Option<Result<AwsEvent, Failure>> {
    if let Some(envelope) = payload.get("plughost_schedule") {
        let text = |field: &str| envelope.get(field).and_then(Value::as_str).map(str::to_owned);
        return Some(match (text("plugin"), text("name"), text("time")) {
            (Some(plugin), Some(name), Some(time)) => {
                Ok(AwsEvent::Schedule { plugin, name, time: crate::capability::event::unix_seconds(&time) })
            }
            _ => Err(Failure::invalid("a plughost_schedule envelope needs `plugin`, `name` and `time` strings")),
        });
    }
    if let Some(bus) = payload.get("plughost_bus") {
        return Some(match (bus.as_str(), payload.get("event")) {
            (Some(bus), Some(event)) if event.is_object() => {
                Ok(AwsEvent::Bus { bus: bus.to_owned(), event: event.clone() })
            }
            _ => Err(Failure::invalid("a plughost_bus envelope needs the bus label and the EventBridge `event`")),
        });
    }
    if payload.get("detail-type").is_some() && payload.get("source").is_some() {
        return Some(Err(Failure::new(
            Kind::UnsupportedEvent,
            "an EventBridge event reaches plughost through its rule target's input transformer \
             (`plughost_schedule` / `plughost_bus`, as Terraform's module sets up); this one came \
             without it, so plughost cannot tell which trigger it is for",
        )));
    }
    let records = payload.get("Records")?.as_array()?;
    let source_of = |record: &Value| {
        record.get("eventSource").or_else(|| record.get("EventSource")).and_then(Value::as_str).map(str::to_owned)
    };
    let first = source_of(records.first()?)?;
    if records.iter().any(|record| source_of(record).as_deref() != Some(&first)) {
        return Some(Err(Failure::invalid("the records of one invocation come from different sources")));
    }
    let malformed = |what: &str, e: serde_json::Error| Failure::invalid(format!("malformed {what} event: {e}"));
    Some(match first.as_str() {
        "aws:sqs" => {
            serde_json::from_value(payload.clone()).map_err(|e| malformed("SQS", e)).and_then(|event: SqsEvent| {
                // A record without its id cannot be reported back (`batchItemFailures`) nor
                // told from another: refused whole, before anything runs, so the batch is
                // retried (then dead-lettered) rather than some of it lost as "duplicates".
                match event.records.iter().position(|r| r.message_id.as_deref().is_none_or(str::is_empty)) {
                    Some(index) => {
                        Err(Failure::invalid(format!("malformed SQS event: record {index} has no messageId")))
                    }
                    None => Ok(AwsEvent::Sqs(event)),
                }
            })
        }
        "aws:sns" => serde_json::from_value(payload.clone()).map(AwsEvent::Sns).map_err(|e| malformed("SNS", e)),
        // S3 also notifies the deployment's manifest (`lambda/mod.rs`).
        source if source == "aws:s3" || crate::capability::emitting_records(source).is_some() => {
            Ok(AwsEvent::Records { event_source: first.clone(), records: records.clone() })
        }
        other => Err(Failure::new(
            Kind::UnsupportedEvent,
            format!(
                "records from `{}` are not an event source plughost handles (aws:s3, aws:sqs, aws:sns, aws:dynamodb)",
                escape_controls(other)
            ),
        )),
    })
}

/// Records of a labelled capability's events (`event_source`: `aws:s3`, `aws:dynamodb`),
/// each mapped to its label by the capability (`capability/<name>/events.rs`). Ordered
/// sources (streams) run record by record and report `batchItemFailures` from the first
/// failure on; the others run concurrently and fail the invocation (to be retried) when
/// any record is unusable or any plugin failed.
pub async fn capability_records(
    app: &App,
    event_source: &str,
    records: &[Value],
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<Value, Failure> {
    let Some((kind, events)) = crate::capability::emitting_records(event_source).and_then(|k| k.events.map(|e| (k, e)))
    else {
        return Err(Failure::new(
            Kind::UnsupportedEvent,
            format!("no capability of this deployment emits `{}` records", escape_controls(event_source)),
        ));
    };
    let addresses = app.capabilities().addresses(kind.name);
    if events.ordered {
        let mut failed: Vec<String> = Vec::new();
        for record in records {
            let id = (events.item_identifier)(record);
            if !failed.is_empty() {
                failed.push(id);
                continue;
            }
            match (events.from_record)(record, addresses) {
                Ok(Some(event)) => {
                    if !app.deliver(&event, request_id, deadline).await.succeeded() {
                        failed.push(id);
                    }
                }
                Ok(None) => {}
                Err(why) => {
                    tracing::warn!(request_id, "{event_source} record not delivered: {why}");
                    failed.push(id);
                }
            }
        }
        return Ok(batch_response(failed));
    }
    let mut converted = Vec::with_capacity(records.len());
    for record in records {
        converted.extend((events.from_record)(record, addresses).map_err(|error| match error {
            RecordError::Malformed(why) => Failure::invalid(why),
            RecordError::Unbound(why) => Failure::unbound(why),
        })?);
    }
    let deliveries =
        futures::future::join_all(converted.iter().map(|event| app.deliver(event, request_id, deadline))).await;
    let failures: Vec<String> = deliveries.iter().filter(|d| !d.succeeded()).map(|d| d.describe_failures()).collect();
    if !failures.is_empty() {
        return Err(Failure::plugin_failed(format!("{event_source} events failed: {}", failures.join("; "))));
    }
    Ok(json!({ "delivered": deliveries.iter().map(|d| d.targets).sum::<usize>() }))
}

/// An SQS batch: each message to its queue's consumer. Failed messages are reported
/// (`batchItemFailures`) and return to the queue; a message of a queue the deployment
/// does not consume fails too, so it is redelivered (and dead-lettered) rather than lost.
pub async fn sqs(app: &App, event: SqsEvent, request_id: &str, deadline: Option<Instant>) -> Value {
    let capabilities = app.capabilities();
    let mut failed: Vec<String> = Vec::new();
    let fifo = event.records.first().and_then(|r| r.event_source_arn.as_deref()).is_some_and(|a| a.ends_with(".fifo"));
    let messages: Vec<(String, Result<Event, String>)> = event
        .records
        .into_iter()
        .map(|record| {
            // Every record has one (`recognise` refuses a batch with a record without).
            let id = record.message_id.clone().unwrap_or_default();
            let arn = record.event_source_arn.clone().unwrap_or_default();
            let message = match crate::routing::addresses::queue_by_arn(capabilities, &arn) {
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
    Event::Message {
        queue: queue.to_owned(),
        message_id: record.message_id.unwrap_or_default(),
        body: record.body.unwrap_or_default().into_bytes(),
        attributes,
        receive_count,
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
    let delivery = app.deliver(event, request_id, deadline).await;
    if delivery.targets == 0 {
        tracing::warn!(
            request_id,
            message_id = %escape_controls(&event.id()),
            "no plugin consumes this queue in the current manifest; the message stays on the queue"
        );
        return false;
    }
    delivery.succeeded()
}

/// SNS: the notification to every plugin subscribed to its topic.
pub async fn sns(app: &App, event: SnsEvent, request_id: &str, deadline: Option<Instant>) -> Result<Value, Failure> {
    let capabilities = app.capabilities();
    let mut delivered = 0;
    let mut failures = Vec::new();
    for record in event.records {
        let message = record.sns;
        let topic = crate::routing::addresses::topic_by_arn(capabilities, &message.topic_arn)
            .ok_or_else(|| Failure::unbound(format!("no topic is bound to {}", escape_controls(&message.topic_arn))))?;
        let mut attributes: Vec<(String, String)> = message
            .message_attributes
            .iter()
            .filter(|(_, a)| a.data_type != "Binary")
            .map(|(name, a)| (name.clone(), a.value.clone()))
            .collect();
        attributes.sort();
        let event = Event::Notification {
            topic: topic.to_owned(),
            message_id: message.message_id,
            subject: message.subject,
            body: message.message,
            attributes,
            time: message.timestamp.timestamp().max(0) as u64,
            forwarded: false,
        };
        let delivery = app.deliver(&event, request_id, deadline).await;
        delivered += delivery.targets;
        if !delivery.succeeded() {
            failures.push(delivery.describe_failures());
        }
    }
    if failures.is_empty() {
        Ok(json!({ "delivered": delivered }))
    } else {
        Err(Failure::plugin_failed(format!("notification failed: {}", failures.join("; "))))
    }
}

/// A schedule trigger fired: `plugin`'s schedule `name`.
pub async fn schedule(
    app: &App,
    plugin: &str,
    name: &str,
    time: u64,
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<Value, Failure> {
    let event = Event::Schedule { plugin: plugin.to_owned(), name: name.to_owned(), time };
    let delivery = app.deliver(&event, request_id, deadline).await;
    if delivery.targets == 0 {
        return Err(Failure::unbound(format!(
            "no schedule `{}` of plugin `{}` in the current manifest",
            escape_controls(name),
            escape_controls(plugin)
        )));
    }
    if !delivery.succeeded() {
        return Err(Failure::plugin_failed(format!("schedule failed: {}", delivery.describe_failures())));
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
) -> Result<Value, Failure> {
    if !app.table().manifest.sources.buses.contains(bus) {
        return Err(Failure::unbound(format!("no bus `{}` is declared in the current manifest", escape_controls(bus))));
    }
    let event = Event::Bus { bus: bus.to_owned(), event: event.clone() };
    // Refused before any plugin runs: a malformed event is the sender's to fix, not a retry.
    event.to_wit().map_err(|m| Failure::invalid(format!("bus `{}`: {m}", escape_controls(bus))))?;
    let delivery = app.deliver(&event, request_id, deadline).await;
    if !delivery.succeeded() {
        return Err(Failure::plugin_failed(format!("bus event failed: {}", delivery.describe_failures())));
    }
    Ok(json!({ "delivered": delivery.targets }))
}

fn batch_response(failed: Vec<String>) -> Value {
    json!({ "batchItemFailures": failed.into_iter().map(|id| json!({ "itemIdentifier": id })).collect::<Vec<_>>() })
}
