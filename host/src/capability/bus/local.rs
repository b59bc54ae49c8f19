//! [`EmbeddedBus`]: the bus backend of `plughost serve` — each event is accepted into the
//! durable outbox (`capability/message_store/sqlite.rs`) in EventBridge's shape, and the local pump
//! delivers it to every plugin whose bus trigger's pattern matches (`spec/pattern.rs`,
//! the same matching as in AWS).

use super::BusBackend;
use crate::bindings::plughost::plugin::bus::Entry;
use crate::capability::error::StorageError;
use crate::capability::message_store::sqlite::SharedLocalEvents;

pub struct EmbeddedBus {
    events: SharedLocalEvents,
}

impl EmbeddedBus {
    pub fn new(events: SharedLocalEvents) -> Self {
        Self { events }
    }
}

#[async_trait::async_trait]
impl BusBackend for EmbeddedBus {
    async fn put(
        &self,
        namespace: &str,
        entries: Vec<Entry>,
    ) -> Result<Vec<Result<String, StorageError>>, StorageError> {
        let events = self.events.get().await.map_err(unavailable)?;
        let (mut ids, mut accepted) = (Vec::with_capacity(entries.len()), Vec::with_capacity(entries.len()));
        for entry in entries {
            // `limits.rs` checked that the detail is a JSON object.
            let detail = serde_json::from_str(&entry.detail).unwrap_or_default();
            let event = crate::capability::event::bus_event(namespace, &entry.source, &entry.detail_type, detail);
            ids.push(event.id());
            accepted.push(event);
        }
        // One transaction: every entry is accepted, or none.
        events.enqueue_all(&accepted).await.map_err(unavailable)?;
        Ok(ids.into_iter().map(Ok).collect())
    }
}

fn unavailable(error: anyhow::Error) -> StorageError {
    tracing::error!("embedded bus: {error:#}");
    StorageError::Unavailable("the local bus cannot be written".into())
}
