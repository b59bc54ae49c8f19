//! The embedded messaging store of `plughost serve` (no AWS): the durable queues, the
//! outbox of accepted events and the dead letters, in one SQLite database — what the
//! embedded backends of the queue, topic and bus capabilities write to
//! (`capability/{queue,topic,bus}/local.rs`), and what `serve`'s event sources
//! (`serve/sources/`) deliver from.
//!
//! - `sqlite.rs` — [`LocalEvents`]: the store itself;
//! - here        — [`LocalEvent`], an accepted event as the outbox keeps it.

pub mod sqlite;

pub use sqlite::LocalEvents;

use crate::bindings::wit_events::{Change, ChangeKind, Event, Notification, Object, ObjectChange, Payload};
use serde::{Deserialize, Serialize};

/// An event accepted for delivery, as the outbox stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LocalEvent {
    Schedule {
        plugin: String,
        name: String,
        time: u64,
    },
    Notification {
        topic: String,
        message_id: String,
        subject: Option<String>,
        body: String,
        attributes: Vec<(String, String)>,
        time: u64,
        /// Whether the queues subscribed to the topic have it (the pump forwards it once,
        /// before the plugins' deliveries, and records that it did).
        #[serde(default)]
        forwarded: bool,
    },
    /// `event` is EventBridge-shaped (`id`, `source`, `detail-type`, `detail`, `time`).
    Bus {
        bus: String,
        event: serde_json::Value,
    },
    Object {
        id: String,
        container: String,
        key: String,
        created: bool,
        size: u64,
        etag: String,
        time: u64,
    },
    Change {
        id: String,
        store: String,
        key: String,
        kind: StoredChange,
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        time: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredChange {
    Inserted,
    Modified,
    Removed,
}

/// What [`App::deliver`](crate::App::deliver) takes for one event.
pub struct Deliverable {
    pub event: Event,
    pub bus_event: Option<serde_json::Value>,
    pub schedule_of: Option<String>,
}

impl LocalEvent {
    /// An object or change event an embedded backend recorded (`capability/event_log.rs`),
    /// as the outbox keeps it; `None` for other payloads (they do not come from backends).
    pub fn from_event(event: &Event) -> Option<Self> {
        match &event.payload {
            Payload::Object(o) => Some(Self::Object {
                id: event.id.clone(),
                container: o.container.clone(),
                key: o.key.clone(),
                created: o.change == ObjectChange::Created,
                size: o.size,
                etag: o.etag.clone(),
                time: o.time,
            }),
            Payload::Change(c) => Some(Self::Change {
                id: event.id.clone(),
                store: c.store.clone(),
                key: c.key.clone(),
                kind: match c.kind {
                    ChangeKind::Inserted => StoredChange::Inserted,
                    ChangeKind::Modified => StoredChange::Modified,
                    ChangeKind::Removed => StoredChange::Removed,
                },
                old: c.old_value.clone(),
                new: c.new_value.clone(),
                time: c.time,
            }),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Schedule { .. } => "schedule",
            Self::Notification { .. } => "notification",
            Self::Bus { .. } => "custom",
            Self::Object { .. } => "object",
            Self::Change { .. } => "change",
        }
    }

    /// The id plugins see (stable across redeliveries).
    pub fn id(&self) -> String {
        self.deliverable().map(|d| d.event.id).unwrap_or_default()
    }

    /// The WIT event and what routing it needs.
    pub fn deliverable(&self) -> Result<Deliverable, String> {
        let plain = |event| Ok(Deliverable { event, bus_event: None, schedule_of: None });
        match self {
            Self::Schedule { plugin, name, time } => Ok(Deliverable {
                event: crate::capability::wit_event::schedule(plugin, name, *time),
                bus_event: None,
                schedule_of: Some(plugin.clone()),
            }),
            Self::Notification { topic, message_id, subject, body, attributes, time, .. } => plain(Event {
                id: message_id.clone(),
                payload: Payload::Notification(Notification {
                    topic: topic.clone(),
                    message_id: message_id.clone(),
                    subject: subject.clone(),
                    body: body.clone(),
                    attributes: attributes.clone(),
                    time: *time,
                }),
            }),
            Self::Bus { bus, event } => Ok(Deliverable {
                event: crate::capability::wit_event::custom(bus, event)?,
                bus_event: Some(event.clone()),
                schedule_of: None,
            }),
            Self::Object { id, container, key, created, size, etag, time } => plain(Event {
                id: id.clone(),
                payload: Payload::Object(Object {
                    container: container.clone(),
                    key: key.clone(),
                    change: if *created { ObjectChange::Created } else { ObjectChange::Removed },
                    size: *size,
                    etag: etag.clone(),
                    time: *time,
                }),
            }),
            Self::Change { id, store, key, kind, old, new, time } => plain(Event {
                id: id.clone(),
                payload: Payload::Change(Change {
                    store: store.clone(),
                    key: key.clone(),
                    kind: match kind {
                        StoredChange::Inserted => ChangeKind::Inserted,
                        StoredChange::Modified => ChangeKind::Modified,
                        StoredChange::Removed => ChangeKind::Removed,
                    },
                    old_value: old.clone(),
                    new_value: new.clone(),
                    time: *time,
                }),
            }),
        }
    }
}

/// A bus event in EventBridge's shape (what rules match and `events.custom` is built
/// from), with a fresh id: `(id, event)`. For events put locally (`plughost trigger`, the
/// embedded bus).
pub fn bus_event(source: &str, detail_type: &str, detail: serde_json::Value) -> (String, serde_json::Value) {
    let id = uuid::Uuid::new_v4().to_string();
    let event = serde_json::json!({
        "version": "0", "id": id, "source": source, "detail-type": detail_type,
        "account": "000000000000", "region": "local", "resources": [],
        "time": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "detail": detail,
    });
    (id, event)
}

/// Unix seconds now.
pub fn now() -> u64 {
    crate::capability::clock::unix_seconds()
}
