//! An event to fire now, as `POST /_plughost/events` (and `plughost trigger`, which posts
//! there) accepts it — the manifest's trigger syntax plus the event's content:
//!
//! ```json
//! {"queue": "jobs", "body": "{\"n\": 1}", "attributes": {"kind": "test"}}   (+ "group" for a FIFO queue)
//! {"topic": "alerts", "subject": "disk", "body": "90% full"}
//! {"bus": "app", "source": "shop", "detail-type": "OrderPlaced", "detail": {"total": 120}}
//! {"schedule": "heartbeat", "plugin": "activity"}
//! {"object": "images", "key": "a.png", "change": "created", "size": 3}
//! {"changes": "products", "key": "p1", "kind": "modified", "old": "v1", "new": "v2"}
//! ```
//!
//! A schedule, notification, object or change event may carry `"time"` (Unix seconds; now
//! when absent): a schedule fired as if ten days had passed tests an expiry job without
//! waiting ten days. Queue messages and bus events have no such field to set.
//!
//! Checked against the current manifest (the label or schedule must exist) and SQS/SNS/
//! EventBridge's size limits; the error names what is wrong. A queue message is sent to the
//! embedded queue; everything else goes through the outbox.

use crate::capability::message_store::{LocalEvent, LocalEvents, StoredChange};
use crate::spec::manifest::Manifest;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The largest body or detail accepted: SQS's, SNS's and EventBridge's limit.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fire {
    queue: Option<String>,
    topic: Option<String>,
    bus: Option<String>,
    schedule: Option<String>,
    object: Option<String>,
    changes: Option<String>,
    plugin: Option<String>,
    body: Option<String>,
    group: Option<String>,
    subject: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<serde_json::Value>,
    key: Option<String>,
    change: Option<String>,
    size: Option<u64>,
    etag: Option<String>,
    kind: Option<String>,
    old: Option<String>,
    new: Option<String>,
    time: Option<u64>,
}

/// What was accepted: the message or event id plugins will see.
#[derive(Debug, serde::Serialize)]
pub struct Accepted {
    pub id: String,
    pub kind: &'static str,
}

/// Why an event was not accepted: a 400 (malformed) or a 404 (no such label).
#[derive(Debug)]
pub enum Refused {
    Invalid(String),
    Unknown(String),
}

impl Fire {
    /// Checks the event against the current manifest and accepts it into `events` (a
    /// message for a queue bound to SQS goes to SQS).
    pub async fn accept(self, app: &crate::app::App, events: &LocalEvents) -> Result<Accepted, Refused> {
        let table = app.table();
        let manifest = &table.manifest;
        let named: Vec<&str> = [
            ("queue", self.queue.is_some()),
            ("topic", self.topic.is_some()),
            ("bus", self.bus.is_some()),
            ("schedule", self.schedule.is_some()),
            ("object", self.object.is_some()),
            ("changes", self.changes.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
        let [source] = named[..] else {
            return Err(Refused::Invalid(
                "name exactly one of `queue`, `topic`, `bus`, `schedule`, `object`, `changes`".into(),
            ));
        };
        let body = self.body.clone().unwrap_or_default();
        if body.len() > MAX_EVENT_BYTES {
            return Err(Refused::Invalid(format!("body is over {MAX_EVENT_BYTES} bytes (the SQS/SNS limit)")));
        }
        let attributes: Vec<(String, String)> = self.attributes.clone().into_iter().collect();
        let unknown = |what: &str, label: &str| Refused::Unknown(format!("the manifest declares no {what} `{label}`"));
        let id = uuid::Uuid::new_v4().to_string();
        if self.time.is_some() && matches!(source, "queue" | "bus") {
            return Err(Refused::Invalid(format!("`time` does not apply to a {source} event")));
        }
        let now = self.time.unwrap_or_else(crate::capability::message_store::now);
        let stored = |e: anyhow::Error| Refused::Invalid(format!("cannot accept the event: {e:#}"));
        let event = match source {
            "queue" => {
                let queue = self.queue.unwrap_or_default();
                let Some(spec) = manifest.sources.queues.get(&queue) else {
                    return Err(unknown("queue", &queue));
                };
                if spec.fifo != self.group.is_some() {
                    return Err(Refused::Invalid(if spec.fifo {
                        format!("queue `{queue}` is a FIFO queue: give the message a `group`")
                    } else {
                        format!("queue `{queue}` is not a FIFO queue: `group` does not apply")
                    }));
                }
                let id = match crate::routing::addresses::queue_url(app.capabilities(), &queue) {
                    Some(url) if crate::serve::sources::pump::polled_from_sqs(app, &queue) => {
                        crate::serve::sources::sqs_poller::send(app, url, body, attributes, self.group)
                            .await
                            .map_err(stored)?
                    }
                    _ => {
                        let outgoing = crate::capability::message_store::sqlite::Outgoing {
                            body: body.into_bytes(),
                            attributes,
                            group: self.group,
                            ..Default::default()
                        };
                        let mut ids = events.send_all(&queue, vec![outgoing]).await.map_err(stored)?;
                        ids.pop().unwrap_or_default()
                    }
                };
                return Ok(Accepted { id, kind: "message" });
            }
            "topic" => {
                let topic = self.topic.unwrap_or_default();
                if !manifest.sources.topics.contains(&topic) {
                    return Err(unknown("topic", &topic));
                }
                LocalEvent::Notification {
                    topic,
                    message_id: id,
                    subject: self.subject,
                    body,
                    attributes,
                    time: now,
                    forwarded: false,
                }
            }
            "bus" => {
                let bus = self.bus.unwrap_or_default();
                if !manifest.sources.buses.contains(&bus) {
                    return Err(unknown("bus", &bus));
                }
                let (Some(source), Some(detail_type)) = (self.source, self.detail_type) else {
                    return Err(Refused::Invalid("a bus event needs `source` and `detail-type`".into()));
                };
                let detail = self.detail.unwrap_or_else(|| serde_json::json!({}));
                if !detail.is_object() || detail.to_string().len() > MAX_EVENT_BYTES {
                    return Err(Refused::Invalid(format!(
                        "`detail` must be a JSON object of at most {MAX_EVENT_BYTES} bytes"
                    )));
                }
                let (_, event) = crate::capability::message_store::bus_event(&source, &detail_type, detail);
                LocalEvent::Bus { bus, event }
            }
            "schedule" => {
                let name = self.schedule.unwrap_or_default();
                let plugin = self.plugin.ok_or_else(|| Refused::Invalid("a schedule needs its `plugin`".into()))?;
                let exists = manifest.plugins.iter().any(|p| {
                    p.id.as_str() == plugin
                        && p.triggers.iter().any(
                            |t| matches!(t, crate::spec::triggers::Trigger::Schedule { name: n, .. } if *n == name),
                        )
                });
                if !exists {
                    return Err(Refused::Unknown(format!("plugin `{plugin}` has no schedule `{name}`")));
                }
                LocalEvent::Schedule { plugin, name, time: now }
            }
            "object" => {
                let container = self.object.unwrap_or_default();
                declared_emitter(manifest, "object", &container)?;
                let key = self.key.ok_or_else(|| Refused::Invalid("an object event needs its `key`".into()))?;
                let created = match self.change.as_deref().unwrap_or("created") {
                    "created" => true,
                    "removed" => false,
                    other => return Err(Refused::Invalid(format!("change `{other}`: use `created` or `removed`"))),
                };
                LocalEvent::Object {
                    id,
                    container,
                    key,
                    created,
                    size: self.size.unwrap_or(0),
                    etag: self.etag.unwrap_or_default(),
                    time: now,
                }
            }
            _ => {
                let store = self.changes.unwrap_or_default();
                declared_emitter(manifest, "changes", &store)?;
                let key = self.key.ok_or_else(|| Refused::Invalid("a change needs its `key`".into()))?;
                let kind = match self.kind.as_deref().unwrap_or("modified") {
                    "inserted" => StoredChange::Inserted,
                    "modified" => StoredChange::Modified,
                    "removed" => StoredChange::Removed,
                    other => {
                        return Err(Refused::Invalid(format!(
                            "kind `{other}`: use `inserted`, `modified` or `removed`"
                        )));
                    }
                };
                let (old, new) = (self.old.map(String::into_bytes), self.new.map(String::into_bytes));
                LocalEvent::Change { id, store, key, kind, old, new, time: now }
            }
        };
        let accepted = Accepted { id: event.id(), kind: event.kind() };
        events.enqueue(&event).await.map_err(stored)?;
        Ok(accepted)
    }
}

/// `label` must be declared for the capability emitting `trigger` events.
fn declared_emitter(manifest: &Manifest, trigger: &str, label: &str) -> Result<(), Refused> {
    let emitter = crate::capability::emitting(trigger)
        .ok_or_else(|| Refused::Invalid(format!("no capability emits {trigger} events")))?;
    if manifest.declared.get(emitter.name).is_some_and(|labels| labels.contains_key(label)) {
        Ok(())
    } else {
        Err(Refused::Unknown(format!("the manifest declares no {} `{label}`", emitter.noun)))
    }
}
