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

use crate::capability::event::{ChangeKind, Event};
use crate::capability::message_store::LocalEvents;
use crate::spec::manifest::Manifest;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The largest body or detail accepted: SQS's, SNS's and EventBridge's limit.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// An event to fire: a JSON object naming one trigger kind (the manifest's table,
/// `spec::triggers::KINDS`) and that kind's fields, read by [`Fire::accept`].
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Fire(serde_json::Map<String, serde_json::Value>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct QueueFire {
    queue: String,
    body: Option<String>,
    group: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TopicFire {
    topic: String,
    subject: Option<String>,
    body: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    time: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct BusFire {
    bus: String,
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ScheduleFire {
    schedule: String,
    plugin: Option<String>,
    time: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ObjectFire {
    object: String,
    key: Option<String>,
    change: Option<String>,
    size: Option<u64>,
    etag: Option<String>,
    time: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ChangesFire {
    changes: String,
    key: Option<String>,
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
        let source = crate::spec::triggers::kind_named(self.0.keys().map(String::as_str)).map_err(Refused::Invalid)?;
        let fields = serde_json::Value::Object(self.0);
        let unknown = |what: &str, label: &str| Refused::Unknown(format!("the manifest declares no {what} `{label}`"));
        let body_within = |body: &str| {
            if body.len() > MAX_EVENT_BYTES {
                Err(Refused::Invalid(format!("body is over {MAX_EVENT_BYTES} bytes (the SQS/SNS limit)")))
            } else {
                Ok(())
            }
        };
        let id = uuid::Uuid::new_v4().to_string();
        let stored = |e: anyhow::Error| Refused::Invalid(format!("cannot accept the event: {e:#}"));
        let event = match source {
            "queue" => {
                let QueueFire { queue, body, group, attributes } = fields_of(fields, source)?;
                let body = body.unwrap_or_default();
                body_within(&body)?;
                let attributes: Vec<(String, String)> = attributes.into_iter().collect();
                let Some(spec) = manifest.sources.queues.get(&queue) else {
                    return Err(unknown("queue", &queue));
                };
                if spec.fifo != group.is_some() {
                    return Err(Refused::Invalid(if spec.fifo {
                        format!("queue `{queue}` is a FIFO queue: give the message a `group`")
                    } else {
                        format!("queue `{queue}` is not a FIFO queue: `group` does not apply")
                    }));
                }
                let id = match crate::routing::addresses::queue_url(app.capabilities(), &queue) {
                    Some(url) if crate::serve::sources::pump::polled_from_sqs(app, &queue) => {
                        crate::serve::sources::sqs_poller::send(app, url, body, attributes, group)
                            .await
                            .map_err(stored)?
                    }
                    _ => {
                        let outgoing = crate::capability::message_store::sqlite::Outgoing {
                            body: body.into_bytes(),
                            attributes,
                            group,
                            ..Default::default()
                        };
                        let mut ids = events.send_all(&queue, vec![outgoing]).await.map_err(stored)?;
                        ids.pop().unwrap_or_default()
                    }
                };
                return Ok(Accepted { id, kind: "message" });
            }
            "topic" => {
                let TopicFire { topic, subject, body, attributes, time } = fields_of(fields, source)?;
                let body = body.unwrap_or_default();
                body_within(&body)?;
                if !manifest.sources.topics.contains(&topic) {
                    return Err(unknown("topic", &topic));
                }
                Event::Notification {
                    topic,
                    message_id: id,
                    subject,
                    body,
                    attributes: attributes.into_iter().collect(),
                    time: time.unwrap_or_else(crate::capability::clock::unix_seconds),
                    forwarded: false,
                }
            }
            "bus" => {
                let BusFire { bus, source, detail_type, detail } = fields_of(fields, source)?;
                if !manifest.sources.buses.contains(&bus) {
                    return Err(unknown("bus", &bus));
                }
                let (Some(source), Some(detail_type)) = (source, detail_type) else {
                    return Err(Refused::Invalid("a bus event needs `source` and `detail-type`".into()));
                };
                let detail = detail.unwrap_or_else(|| serde_json::json!({}));
                if !detail.is_object() || detail.to_string().len() > MAX_EVENT_BYTES {
                    return Err(Refused::Invalid(format!(
                        "`detail` must be a JSON object of at most {MAX_EVENT_BYTES} bytes"
                    )));
                }
                crate::capability::event::bus_event(&bus, &source, &detail_type, detail)
            }
            "schedule" => {
                let ScheduleFire { schedule: name, plugin, time } = fields_of(fields, source)?;
                let plugin = plugin.ok_or_else(|| Refused::Invalid("a schedule needs its `plugin`".into()))?;
                let exists = manifest.plugins.iter().any(|p| {
                    p.id.as_str() == plugin
                        && p.triggers.iter().any(
                            |t| matches!(t, crate::spec::triggers::Trigger::Schedule { name: n, .. } if *n == name),
                        )
                });
                if !exists {
                    return Err(Refused::Unknown(format!("plugin `{plugin}` has no schedule `{name}`")));
                }
                Event::Schedule { plugin, name, time: time.unwrap_or_else(crate::capability::clock::unix_seconds) }
            }
            "object" => {
                let ObjectFire { object: container, key, change, size, etag, time } = fields_of(fields, source)?;
                declared_emitter(manifest, "object", &container)?;
                let key = key.ok_or_else(|| Refused::Invalid("an object event needs its `key`".into()))?;
                let created = match change.as_deref().unwrap_or("created") {
                    "created" => true,
                    "removed" => false,
                    other => return Err(Refused::Invalid(format!("change `{other}`: use `created` or `removed`"))),
                };
                Event::Object {
                    id,
                    container,
                    key,
                    created,
                    size: size.unwrap_or(0),
                    etag: etag.unwrap_or_default(),
                    time: time.unwrap_or_else(crate::capability::clock::unix_seconds),
                }
            }
            _ => {
                let ChangesFire { changes: store, key, kind, old, new, time } = fields_of(fields, source)?;
                declared_emitter(manifest, "changes", &store)?;
                let key = key.ok_or_else(|| Refused::Invalid("a change needs its `key`".into()))?;
                let kind = match kind.as_deref().unwrap_or("modified") {
                    "inserted" => ChangeKind::Inserted,
                    "modified" => ChangeKind::Modified,
                    "removed" => ChangeKind::Removed,
                    other => {
                        return Err(Refused::Invalid(format!(
                            "kind `{other}`: use `inserted`, `modified` or `removed`"
                        )));
                    }
                };
                let (old, new) = (old.map(String::into_bytes), new.map(String::into_bytes));
                let time = time.unwrap_or_else(crate::capability::clock::unix_seconds);
                Event::Change { id, store, key, kind, old, new, time }
            }
        };
        let accepted = Accepted { id: event.id(), kind: event.kind() };
        events.enqueue(&event).await.map_err(stored)?;
        Ok(accepted)
    }
}

/// `fields` as one kind's event; a field of another kind is named as not applying.
fn fields_of<T: serde::de::DeserializeOwned>(fields: serde_json::Value, kind: &str) -> Result<T, Refused> {
    crate::spec::triggers::fields_of(fields, kind, "event").map_err(Refused::Invalid)
}

/// `label` must be declared for the capability emitting `trigger` events.
fn declared_emitter(manifest: &Manifest, trigger: &str, label: &str) -> Result<(), Refused> {
    let sections = crate::capability::sections();
    let emitter = crate::spec::section::emitting(&sections, trigger)
        .ok_or_else(|| Refused::Invalid(format!("no capability emits {trigger} events")))?;
    if manifest.declared.get(emitter.name).is_some_and(|labels| labels.contains_key(label)) {
        Ok(())
    } else {
        Err(Refused::Unknown(format!("the manifest declares no {} `{label}`", emitter.noun)))
    }
}
