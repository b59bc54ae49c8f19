//! Every non-HTTP event source of the one function: records — S3 object notifications,
//! DynamoDB stream records, SQS messages, SNS notifications — which the capability whose
//! labels they concern maps to its events (`capability/<name>/events.rs`, its
//! `EventSource` says how a batch is delivered and answered), and EventBridge schedules
//! and bus events (which Terraform's rule targets wrap in a small envelope naming the
//! trigger). This file only recognises the shapes and hands the records over. Each record becomes a WIT event for the plugins
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
use serde_json::{Value, json};
use std::time::Instant;

/// An invocation that is not HTTP, recognised by its shape.
pub enum AwsEvent {
    /// Records from `event_source` (`aws:s3`, `aws:dynamodb`, `aws:sqs`, `aws:sns`): a
    /// labelled capability's events (and, for S3, maybe the deployment's manifest).
    Records { event_source: String, records: Vec<Value> },
    /// `{"plughost_schedule": {"plugin", "name", "time"}}` (an EventBridge schedule rule's
    /// input transformer).
    Schedule { plugin: String, name: String, time: u64 },
    /// `{"plughost_bus": "<label>", "event": <the EventBridge event>}` (a bus rule's input
    /// transformer).
    Bus { bus: String, event: Value },
}

impl AwsEvent {
    /// The source's name in log lines: the records' `eventSource`, `schedule` or `bus`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Records { event_source, .. } => crate::capability::emitting_records(event_source)
                .and_then(|kind| kind.events)
                .map_or(if event_source == "aws:s3" { "aws:s3" } else { "records" }, |events| events.aws_records),
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
    Some(match crate::capability::emitting_records(&first).and_then(|kind| kind.events) {
        Some(events) => {
            // A record that cannot be named in `batchItemFailures` cannot be told from
            // another either: the batch is refused whole, before anything runs, so it is
            // retried (then dead-lettered) rather than some of it lost as "duplicates".
            match records
                .iter()
                .position(|record| events.partial_failures && (events.item_identifier)(record).is_empty())
            {
                Some(index) => Err(Failure::invalid(format!(
                    "malformed {} event: record {index} has no {}",
                    events.service, events.item_field
                ))),
                None => Ok(AwsEvent::Records { event_source: first.clone(), records: records.clone() }),
            }
        }
        // S3 also notifies the deployment's manifest (`lambda/mod.rs`).
        None if first == "aws:s3" => Ok(AwsEvent::Records { event_source: first.clone(), records: records.clone() }),
        None => Err(Failure::new(
            Kind::UnsupportedEvent,
            format!(
                "records from `{}` are not an event source plughost handles (aws:s3, aws:sqs, aws:sns, aws:dynamodb)",
                escape_controls(&first)
            ),
        )),
    })
}

/// Records of a labelled capability's events (`event_source`: `aws:s3`, `aws:dynamodb`,
/// `aws:sqs`, `aws:sns`), each mapped to its label by the capability
/// (`capability/<name>/events.rs`), delivered and answered as its `EventSource` says:
/// ordered batches record by record (after a failure, every later record fails too),
/// others concurrently; failures per record (`batchItemFailures`) or of the whole
/// invocation (which Lambda retries).
pub async fn records(
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
    // Each record read once.
    let converted: Vec<Result<Option<Event>, RecordError>> =
        records.iter().map(|record| (events.from_record)(record, addresses)).collect();
    if !events.partial_failures {
        // The whole invocation fails on any unusable record, before anything runs.
        if let Some(Err(error)) = converted.iter().find(|c| c.is_err()) {
            return Err(match error.clone() {
                RecordError::Malformed(why) => Failure::invalid(why),
                RecordError::Unbound(why) => Failure::unbound(why),
            });
        }
    }
    let one = |event| deliver_record(app, events, event, request_id, deadline);
    let outcomes = if (events.ordered)(records) {
        let mut outcomes: Vec<Result<usize, String>> = Vec::with_capacity(records.len());
        for event in &converted {
            // Answered per record, an ordered batch stops at its first failure: every later
            // record comes again after it.
            let stopped = events.partial_failures && outcomes.iter().any(Result::is_err);
            outcomes.push(if stopped { Err("an earlier record failed".to_owned()) } else { one(event).await });
        }
        outcomes
    } else {
        futures::future::join_all(converted.iter().map(one)).await
    };
    if events.partial_failures {
        let mut failed = Vec::new();
        for (record, outcome) in records.iter().zip(&outcomes) {
            if let Err(why) = outcome {
                tracing::warn!(request_id, "{event_source} record not delivered, returned: {}", escape_controls(why));
                failed.push((events.item_identifier)(record));
            }
        }
        return Ok(batch_response(failed));
    }
    let failures: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().err().cloned()).collect();
    if !failures.is_empty() {
        return Err(Failure::plugin_failed(format!("{} events failed: {}", events.service, failures.join("; "))));
    }
    Ok(json!({ "delivered": outcomes.iter().flatten().sum::<usize>() }))
}

/// One record's event to the plugins that want it: `Ok(targets)` when handled (0: none
/// wants it, or the record is another deployment's), `Err(why)` when it must come again.
async fn deliver_record(
    app: &App,
    events: &crate::capability::labelled::EventSource,
    converted: &Result<Option<Event>, RecordError>,
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<usize, String> {
    let event = match converted {
        Ok(Some(event)) => event,
        Ok(None) => return Ok(0),
        Err(why) => return Err(why.to_string()),
    };
    let delivery = app.deliver(event, request_id, deadline).await;
    if delivery.targets == 0 && events.must_be_taken {
        return Err(format!("no plugin takes {} in the current manifest; it stays", escape_controls(&event.origin())));
    }
    if delivery.succeeded() { Ok(delivery.targets) } else { Err(delivery.describe_failures()) }
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
