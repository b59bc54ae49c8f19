//! The one event model: [`Event`] is what every source produces on its way to plugins —
//! Lambda records (`lambda/records.rs`; a capability's own records in its `events.rs`),
//! the embedded backends' event logs (`event_log.rs`), the embedded queues and outbox
//! (`message_store/`), `POST /_plughost/events` and `plughost trigger`
//! (`serve/sources/fire.rs`), the scheduler — and what `App::deliver` takes. Routing reads
//! it (`routing/event_table.rs`); a plugin receives [`Event::to_wit`], built in one place
//! so every source agrees on ids and fields.
//!
//! The outbox keeps events as this enum's JSON (`{"type": "object", ...}`): a change here
//! must read what an earlier version wrote.

use crate::bindings::wit_events::{self, Payload};
use serde::{Deserialize, Serialize};

/// An event on its way to the plugins whose triggers want it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A plugin's schedule fired at `time` (Unix seconds); only that plugin gets it.
    Schedule { plugin: String, name: String, time: u64 },
    /// A message from a queue (SQS, or an embedded queue) for its one consumer.
    Message {
        queue: String,
        message_id: String,
        body: Vec<u8>,
        attributes: Vec<(String, String)>,
        /// Receives so far, this one included (1 the first time).
        receive_count: u32,
    },
    /// A notification published on a topic.
    Notification {
        topic: String,
        message_id: String,
        subject: Option<String>,
        body: String,
        attributes: Vec<(String, String)>,
        time: u64,
        /// Outbox bookkeeping: whether the queues subscribed to the topic have it (the pump
        /// forwards it once, before the plugins' deliveries, and records that it did).
        #[serde(default)]
        forwarded: bool,
    },
    /// An event put on a bus, EventBridge-shaped (`id`, `source`, `detail-type`, `detail`,
    /// `time`): what the triggers' patterns match.
    Bus { bus: String, event: serde_json::Value },
    /// An object of a container was written (`created`) or removed.
    Object { id: String, container: String, key: String, created: bool, size: u64, etag: String, time: u64 },
    /// A store's value changed.
    Change {
        id: String,
        store: String,
        key: String,
        kind: ChangeKind,
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        time: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Inserted,
    Modified,
    Removed,
}

impl ChangeKind {
    /// `inserted`, `modified`, `removed`: as event logs and stream records name them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inserted => "inserted",
            Self::Modified => "modified",
            Self::Removed => "removed",
        }
    }
}

impl Event {
    /// `schedule`, `object`, ...: the event's source, for logs, spans and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Schedule { .. } => "schedule",
            Self::Message { .. } => "message",
            Self::Notification { .. } => "notification",
            Self::Bus { .. } => "custom",
            Self::Object { .. } => "object",
            Self::Change { .. } => "change",
        }
    }

    /// The id plugins see: stable across redeliveries of one event (the key of an
    /// idempotency guard). A schedule's is the same for every delivery of one firing.
    pub fn id(&self) -> String {
        match self {
            Self::Schedule { plugin, name, time } => format!("schedule/{plugin}/{name}@{time}"),
            Self::Message { message_id, .. } | Self::Notification { message_id, .. } => message_id.clone(),
            Self::Bus { event, .. } => {
                event.get("id").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned()
            }
            Self::Object { id, .. } | Self::Change { id, .. } => id.clone(),
        }
    }

    /// Where the event came from, for logs: `queue orders`, `object images/uploads/a.png`.
    /// Labels and keys come from sources plugins write to: escape before logging.
    pub fn origin(&self) -> String {
        match self {
            Self::Schedule { name, .. } => format!("schedule {name}"),
            Self::Message { queue, .. } => format!("queue {queue}"),
            Self::Notification { topic, .. } => format!("topic {topic}"),
            Self::Bus { bus, event } => {
                let text = |field: &str| event.get(field).and_then(serde_json::Value::as_str).unwrap_or_default();
                format!("bus {bus} {}/{}", text("source"), text("detail-type"))
            }
            Self::Object { container, key, .. } => format!("object {container}/{key}"),
            Self::Change { store, key, kind, .. } => format!("changes {store}/{key} ({})", kind.as_str()),
        }
    }

    /// The WIT event the plugin receives. Fails only for a bus event without the fields
    /// EventBridge always sends (the error names the missing one).
    pub fn to_wit(&self) -> Result<wit_events::Event, String> {
        let payload = match self.clone() {
            Self::Schedule { name, time, .. } => Payload::Schedule(wit_events::Schedule { name, time }),
            Self::Message { queue, message_id, body, attributes, receive_count } => {
                Payload::Message(wit_events::Message { queue, message_id, body, attributes, receive_count })
            }
            Self::Notification { topic, message_id, subject, body, attributes, time, .. } => {
                Payload::Notification(wit_events::Notification { topic, message_id, subject, body, attributes, time })
            }
            Self::Bus { bus, event } => {
                let text = |field: &str| {
                    event
                        .get(field)
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| format!("the event has no `{field}` string"))
                };
                text("id")?;
                let detail = event.get("detail").cloned().unwrap_or_else(|| serde_json::json!({}));
                Payload::Custom(wit_events::Custom {
                    bus,
                    source: text("source")?,
                    detail_type: text("detail-type")?,
                    detail: detail.to_string(),
                    time: event.get("time").and_then(serde_json::Value::as_str).map_or(0, unix_seconds),
                })
            }
            Self::Object { container, key, created, size, etag, time, .. } => Payload::Object(wit_events::Object {
                container,
                key,
                change: if created { wit_events::ObjectChange::Created } else { wit_events::ObjectChange::Removed },
                size,
                etag,
                time,
            }),
            Self::Change { store, key, kind, old, new, time, .. } => Payload::Change(wit_events::Change {
                store,
                key,
                kind: match kind {
                    ChangeKind::Inserted => wit_events::ChangeKind::Inserted,
                    ChangeKind::Modified => wit_events::ChangeKind::Modified,
                    ChangeKind::Removed => wit_events::ChangeKind::Removed,
                },
                old_value: old,
                new_value: new,
                time,
            }),
        };
        Ok(wit_events::Event { id: self.id(), payload })
    }
}

/// A bus event in EventBridge's shape (what rules match and a plugin's custom event is
/// built from), with a fresh id. For events put locally (`plughost trigger`, the embedded bus).
pub fn bus_event(bus: &str, source: &str, detail_type: &str, detail: serde_json::Value) -> Event {
    let event = serde_json::json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "source": source, "detail-type": detail_type,
        "account": "000000000000", "region": "local", "resources": [],
        "time": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "detail": detail,
    });
    Event::Bus { bus: bus.to_owned(), event }
}

/// Unix seconds of an RFC 3339 time (`2026-12-01T10:00:00Z`, with or without fractions);
/// 0 when it is not one.
pub fn unix_seconds(text: &str) -> u64 {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(text))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_and_without_fractions() {
        assert_eq!(unix_seconds("1970-01-01T00:01:00Z"), 60);
        assert_eq!(unix_seconds("2015-10-08T16:53:06.123Z"), 1_444_323_186);
        assert_eq!(unix_seconds("not a time"), 0);
    }

    #[test]
    fn the_outbox_reads_what_earlier_versions_wrote() {
        let stored =
            r#"{"type":"change","id":"c-1","store":"users","key":"k","kind":"inserted","old":null,"new":[1],"time":5}"#;
        let event: Event = serde_json::from_str(stored).unwrap();
        assert_eq!(event.kind(), "change");
        assert_eq!(event.origin(), "changes users/k (inserted)");
        let stored = r#"{"type":"notification","topic":"t","message_id":"m","subject":null,"body":"b","attributes":[],"time":1}"#;
        assert!(matches!(serde_json::from_str(stored).unwrap(), Event::Notification { forwarded: false, .. }));
    }

    #[test]
    fn a_bus_event_without_its_fields_is_refused_by_name_and_a_schedule_id_is_per_firing() {
        let event = Event::Bus { bus: "b".into(), event: serde_json::json!({ "id": "1", "source": "s" }) };
        assert_eq!(event.to_wit().unwrap_err(), "the event has no `detail-type` string");
        let fired = Event::Schedule { plugin: "p".into(), name: "sweep".into(), time: 60 };
        assert_eq!(fired.to_wit().unwrap().id, "schedule/p/sweep@60");
    }
}
