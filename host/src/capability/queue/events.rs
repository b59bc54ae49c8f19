//! A queue's messages as Lambda receives them: SQS records (`aws:sqs`) of the queue a
//! label is bound to (`storage_map.rs`: its ARN), each as the `message` event of that
//! label for the queue's one consumer. Failures are answered per message
//! (`batchItemFailures`: only they return to the queue); a FIFO queue's batch keeps its
//! order, so after a failed message every later one returns too; a message no plugin
//! consumes returns as well (redelivered, then dead-lettered — never dropped).
//! (`plughost serve`'s embedded queue is consumed by `serve/sources/pump.rs`.)

use crate::capability::event::Event;
use crate::capability::grants::Address;
use crate::capability::labelled::{EventSource, RecordError};
use crate::observability::escape::escape_controls;
use aws_lambda_events::event::sqs::SqsMessage;

pub const EVENTS: EventSource = EventSource {
    trigger: "queue",
    aws_records: "aws:sqs",
    service: "SQS",
    from_record,
    ordered: |records| {
        records
            .first()
            .and_then(|r| r.get("eventSourceARN"))
            .and_then(serde_json::Value::as_str)
            .is_some_and(|arn| arn.ends_with(".fifo"))
    },
    partial_failures: true,
    must_be_taken: true,
    item_identifier: |record| {
        record.get("messageId").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned()
    },
    item_field: "messageId",
};

fn from_record(record: &serde_json::Value, addresses: &[Address]) -> Result<Option<Event>, RecordError> {
    let record: SqsMessage = serde_json::from_value(record.clone())
        .map_err(|e| RecordError::Malformed(format!("malformed SQS record: {e}")))?;
    let arn = record.event_source_arn.as_deref().unwrap_or_default();
    let Some(address) = addresses.iter().find(|a| a.resource == arn) else {
        return Err(RecordError::Unbound(format!("no queue is bound to {}", escape_controls(arn))));
    };
    let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    // String and number attributes; binary ones are left out (the WIT carries text).
    let mut attributes: Vec<(String, String)> = record
        .message_attributes
        .iter()
        .filter_map(|(name, value)| value.string_value.clone().map(|v| (name.clone(), v)))
        .collect();
    attributes.sort();
    Ok(Some(Event::Message {
        queue: address.label.clone(),
        message_id: record.message_id.unwrap_or_default(),
        body: record.body.unwrap_or_default().into_bytes(),
        attributes,
        receive_count,
    }))
}
