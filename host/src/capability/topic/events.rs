//! A topic's notifications as Lambda receives them: SNS records (`aws:sns`) of the topic a
//! label is bound to (`storage_map.rs`: its ARN), each as the `notification` event of that
//! label for every plugin subscribed to it. A failure fails the invocation: SNS retries
//! it, then the subscription's dead-letter queue keeps it. (`plughost serve`'s embedded
//! topic goes through the outbox, `serve/sources/pump.rs`.)

use crate::capability::event::Event;
use crate::capability::grants::Address;
use crate::capability::labelled::{EventSource, RecordError};
use crate::observability::escape::escape_controls;
use aws_lambda_events::event::sns::SnsRecord;

pub const EVENTS: EventSource = EventSource {
    trigger: "topic",
    aws_records: "aws:sns",
    service: "SNS",
    from_record,
    ordered: |_| true,
    partial_failures: false,
    must_be_taken: false,
    item_identifier: |_| String::new(),
    item_field: "",
};

fn from_record(record: &serde_json::Value, addresses: &[Address]) -> Result<Option<Event>, RecordError> {
    let record: SnsRecord = serde_json::from_value(record.clone())
        .map_err(|e| RecordError::Malformed(format!("malformed SNS event: {e}")))?;
    let message = record.sns;
    let Some(address) = addresses.iter().find(|a| a.resource == message.topic_arn) else {
        return Err(RecordError::Unbound(format!("no topic is bound to {}", escape_controls(&message.topic_arn))));
    };
    let mut attributes: Vec<(String, String)> = message
        .message_attributes
        .iter()
        .filter(|(_, a)| a.data_type != "Binary")
        .map(|(name, a)| (name.clone(), a.value.clone()))
        .collect();
    attributes.sort();
    Ok(Some(Event::Notification {
        topic: address.label.clone(),
        message_id: message.message_id,
        subject: message.subject,
        body: message.message,
        attributes,
        time: message.timestamp.timestamp().max(0) as u64,
        forwarded: false,
    }))
}
