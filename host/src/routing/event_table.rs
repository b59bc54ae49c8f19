//! Which plugins an event goes to, over one routing table's plugins: a queue's one
//! consumer, a topic's subscribers, the object and change triggers whose filters match,
//! the bus triggers whose pattern matches, a plugin's named schedule. The table is tens of
//! plugins with a few triggers each, so a scan per event is cheaper than an index.

use crate::bindings::wit_events::{ChangeKind, Event, ObjectChange, Payload};
use crate::runtime::plugin::LoadedPlugin;
use crate::spec::triggers::Trigger;
use std::sync::Arc;

/// Keys the SDK's idempotency guard writes (`plughost_sdk::events::claim`): their changes
/// are bookkeeping, not data, and are never delivered — a change consumer that guards
/// with the same store would otherwise trigger itself forever.
pub const GUARD_PREFIX: &str = "plughost-event/";

/// The plugins `event` goes to (for a `Custom` event, `bus_event` is the whole
/// EventBridge event the patterns match against). A schedule goes to the plugin named
/// in `schedule_of`.
pub fn targets<'t>(
    plugins: &'t [Arc<LoadedPlugin>],
    event: &Event,
    bus_event: Option<&serde_json::Value>,
    schedule_of: Option<&str>,
) -> Vec<&'t Arc<LoadedPlugin>> {
    plugins
        .iter()
        .filter(|plugin| {
            plugin.triggers.iter().any(|trigger| match (trigger, &event.payload) {
                (Trigger::Schedule { name, .. }, Payload::Schedule(fired)) => {
                    schedule_of == Some(plugin.id.as_str()) && *name == fired.name
                }
                (Trigger::Object { container, created, removed, prefix, suffix }, Payload::Object(object)) => {
                    *container == object.container
                        && match object.change {
                            ObjectChange::Created => *created,
                            ObjectChange::Removed => *removed,
                        }
                        && object.key.starts_with(prefix.as_str())
                        && object.key.ends_with(suffix.as_str())
                }
                (Trigger::Queue { queue, .. }, Payload::Message(message)) => *queue == message.queue,
                (Trigger::Topic { topic }, Payload::Notification(notification)) => *topic == notification.topic,
                (Trigger::Changes { store, prefix }, Payload::Change(change)) => {
                    *store == change.store
                        && change.key.starts_with(prefix.as_str())
                        && !change.key.starts_with(GUARD_PREFIX)
                }
                (Trigger::Bus { bus, pattern }, Payload::Custom(custom)) => {
                    *bus == custom.bus && bus_event.is_some_and(|event| pattern.matches(event))
                }
                _ => false,
            })
        })
        .collect()
}

/// `schedule`, `object`, ...: the event's source, for logs and metrics.
pub fn kind(event: &Event) -> &'static str {
    match event.payload {
        Payload::Schedule(_) => "schedule",
        Payload::Object(_) => "object",
        Payload::Message(_) => "message",
        Payload::Notification(_) => "notification",
        Payload::Change(_) => "change",
        Payload::Custom(_) => "custom",
    }
}

/// Where the event came from, for logs: `queue orders`, `object images/uploads/a.png`.
/// Labels and keys come from sources plugins write to: escaped by the log layer.
pub fn origin(event: &Event) -> String {
    match &event.payload {
        Payload::Schedule(s) => format!("schedule {}", s.name),
        Payload::Object(o) => format!("object {}/{}", o.container, o.key),
        Payload::Message(m) => format!("queue {}", m.queue),
        Payload::Notification(n) => format!("topic {}", n.topic),
        Payload::Change(c) => format!(
            "changes {}/{} ({})",
            c.store,
            c.key,
            match c.kind {
                ChangeKind::Inserted => "inserted",
                ChangeKind::Modified => "modified",
                ChangeKind::Removed => "removed",
            }
        ),
        Payload::Custom(c) => format!("bus {} {}/{}", c.bus, c.source, c.detail_type),
    }
}
