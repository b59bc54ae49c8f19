//! A container's object events as Lambda receives them: S3 event notification records
//! (`aws:s3`) for the bucket and prefix a label is bound to (`storage_map.rs`), each as the
//! `object` event of that label. (`plughost serve`'s embedded container emits the same
//! events itself, see `fs.rs`.)

use crate::capability::event::{Event, unix_seconds};
use crate::capability::grants::Address;
use crate::capability::labelled::{EventSource, RecordError};
use crate::observability::escape::escape_controls;
use serde::Deserialize;

/// The fields of an S3 event record this capability reads, and only those: a record that
/// lacks one S3 always sends but plughost does not need (`userIdentity`, say) still
/// delivers its event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_name: Option<String>,
    event_time: Option<String>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: Option<String>,
    size: Option<i64>,
    e_tag: Option<String>,
    sequencer: Option<String>,
}

pub const EVENTS: EventSource = EventSource {
    trigger: "object",
    aws_records: "aws:s3",
    service: "S3",
    from_record,
    ordered: |_| false,
    // S3 retries a failed invocation, then its failure destination keeps it.
    partial_failures: false,
    must_be_taken: false,
    item_identifier: |_| String::new(),
    item_field: "",
};

/// The bucket and key of an S3 record, the key decoded (S3 form-encodes it).
fn bucket_and_key(record: &S3Record) -> (String, String) {
    let key = record.s3.object.key.as_deref().unwrap_or_default().replace('+', " ");
    let key = percent_encoding::percent_decode_str(&key).decode_utf8_lossy().into_owned();
    (record.s3.bucket.name.clone().unwrap_or_default(), key)
}

/// An S3 record as the object event of the container bound to its bucket and prefix.
/// An object of a bucket and prefix no container is bound to is an error: S3 notifies
/// only what Terraform configured, so it is a deployment mistake, never dropped silently.
fn from_record(record: &serde_json::Value, addresses: &[Address]) -> Result<Option<Event>, RecordError> {
    let record: S3Record = serde_json::from_value(record.clone())
        .map_err(|e| RecordError::Malformed(format!("malformed S3 record: {e}")))?;
    let (bucket, key) = bucket_and_key(&record);
    let (namespace, inner_key) = key.split_once('/').unwrap_or((&key, ""));
    let address = addresses.iter().find(|a| a.resource == bucket && a.namespace == namespace).ok_or_else(|| {
        RecordError::Unbound(format!(
            "s3://{}/{}: no blob container is bound to this bucket and prefix",
            escape_controls(&bucket),
            escape_controls(&key)
        ))
    })?;
    let name = record.event_name.as_deref().unwrap_or_default();
    let created = if name.starts_with("ObjectCreated") {
        true
    } else if name.starts_with("ObjectRemoved") {
        false
    } else {
        return Err(RecordError::Malformed(format!(
            "S3 event `{}` is neither ObjectCreated nor ObjectRemoved",
            escape_controls(name)
        )));
    };
    let object = &record.s3.object;
    // S3's notification etag is the bare hash; this capability's etags are quoted.
    let etag = object.e_tag.as_deref().filter(|e| !e.is_empty()).map(|e| format!("\"{}\"", e.trim_matches('"')));
    // The sequencer orders events of one key and is the same for a redelivered event.
    let sequencer = object.sequencer.as_deref().unwrap_or_default();
    Ok(Some(Event::Object {
        id: format!("s3/{bucket}/{key}/{sequencer}"),
        container: address.label.clone(),
        key: inner_key.to_owned(),
        created,
        size: object.size.unwrap_or(0).max(0) as u64,
        etag: etag.unwrap_or_default(),
        time: record.event_time.as_deref().map_or(0, unix_seconds),
    }))
}
