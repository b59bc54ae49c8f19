//! Which plugins an event goes to, over one routing table's plugins: a queue's one
//! consumer, a topic's subscribers, the object and change triggers whose filters match,
//! the bus triggers whose pattern matches, a plugin's named schedule. The table is tens of
//! plugins with a few triggers each, so a scan per event is cheaper than an index.

use crate::capability::event::Event;
use crate::runtime::plugin::LoadedPlugin;
use crate::spec::triggers::Trigger;
use std::sync::Arc;

/// Keys the SDK's idempotency guard writes (`plughost_sdk::events::claim`): their changes
/// are bookkeeping, not data, and are never delivered — a change consumer that guards
/// with the same store would otherwise trigger itself forever.
pub const GUARD_PREFIX: &str = "plughost-event/";

/// The plugins `event` goes to: a schedule to the plugin it belongs to, a bus event to the
/// bus triggers whose pattern matches its whole EventBridge-shaped JSON.
pub fn targets<'t>(plugins: &'t [Arc<LoadedPlugin>], event: &Event) -> Vec<&'t Arc<LoadedPlugin>> {
    plugins
        .iter()
        .filter(|plugin| {
            plugin.triggers.iter().any(|trigger| match (trigger, event) {
                (Trigger::Schedule { name, .. }, Event::Schedule { plugin: of, name: fired, .. }) => {
                    of == plugin.id.as_str() && name == fired
                }
                (
                    Trigger::Object { container, created, removed, prefix, suffix },
                    Event::Object { container: c, key, created: was_created, .. },
                ) => {
                    container == c
                        && if *was_created { *created } else { *removed }
                        && key.starts_with(prefix.as_str())
                        && key.ends_with(suffix.as_str())
                }
                (Trigger::Queue { queue, .. }, Event::Message { queue: q, .. }) => queue == q,
                (Trigger::Topic { topic }, Event::Notification { topic: t, .. }) => topic == t,
                (Trigger::Changes { store, prefix }, Event::Change { store: s, key, .. }) => {
                    store == s && key.starts_with(prefix.as_str()) && !key.starts_with(GUARD_PREFIX)
                }
                (Trigger::Bus { bus, pattern }, Event::Bus { bus: b, event }) => bus == b && pattern.matches(event),
                _ => false,
            })
        })
        .collect()
}
