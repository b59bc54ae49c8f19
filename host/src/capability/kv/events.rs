//! A store's change events as Lambda receives them: DynamoDB Streams records
//! (`aws:dynamodb`, NEW_AND_OLD_IMAGES) of the table a label is bound to (`storage_map.rs`),
//! each as the `change` event of the label whose namespace the item's key carries
//! (`dynamo.rs`'s layout: `pk` = `<namespace>#<key>`, the value in `v`, counters in `n`).
//! Records of other namespaces of a shared table are not this deployment's.
//! (`plughost serve`'s embedded store records the same events itself, see `sqlite.rs`.)

use crate::capability::event::{ChangeKind, Event};
use crate::capability::grants::Address;
use crate::capability::labelled::{EventSource, RecordError};
use crate::observability::escape::escape_controls;
use aws_lambda_events::event::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

pub const EVENTS: EventSource = EventSource {
    trigger: "changes",
    aws_records: "aws:dynamodb",
    service: "DynamoDB Streams",
    from_record,
    // A stream keeps each item's changes in order.
    ordered: |_| true,
    partial_failures: true,
    must_be_taken: false,
    item_identifier: |record| {
        record.pointer("/dynamodb/SequenceNumber").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned()
    },
    item_field: "dynamodb.SequenceNumber",
};

fn from_record(record: &serde_json::Value, addresses: &[Address]) -> Result<Option<Event>, RecordError> {
    let record: EventRecord = serde_json::from_value(record.clone())
        .map_err(|e| RecordError::Malformed(format!("malformed DynamoDB stream record: {e}")))?;
    let arn = record.event_source_arn.as_deref().unwrap_or_default();
    let table = arn.split_once(":table/").and_then(|(_, rest)| rest.split('/').next()).unwrap_or_default();
    let Some(AttributeValue::S(pk)) = record.change.keys.get("pk") else {
        return Err(RecordError::Malformed(format!(
            "record {} has no `pk` string key",
            escape_controls(&record.event_id)
        )));
    };
    let Some((namespace, key)) = pk.split_once('#') else {
        return Err(RecordError::Malformed(format!(
            "record {}: `pk` is not `<namespace>#<key>`",
            escape_controls(&record.event_id)
        )));
    };
    let Some(address) = addresses.iter().find(|a| a.resource == table && a.namespace == namespace) else {
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
        other => return Err(RecordError::Malformed(format!("unknown stream event `{}`", escape_controls(other)))),
    };
    Ok(Some(Event::Change {
        id: format!("dynamodb/{}", record.event_id),
        store: address.label.clone(),
        key: key.to_owned(),
        kind,
        old: value(&record.change.old_image),
        new: value(&record.change.new_image),
        time: record.change.approximate_creation_date_time.timestamp().max(0) as u64,
    }))
}
