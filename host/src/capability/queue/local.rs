//! [`EmbeddedQueue`]: the queue backend of `plughost serve` — the durable local queue of
//! `capability/message_store/sqlite.rs` (`<data-dir>/events.sqlite3`), the same one the queue's
//! consumer reads, so a message sent here reaches the consuming plugin.

use super::QueueBackend;
use crate::bindings::plughost::plugin::queue::Message;
use crate::capability::error::StorageError;
use crate::capability::message_store::sqlite::{Outgoing, SharedLocalEvents};

pub struct EmbeddedQueue {
    events: SharedLocalEvents,
}

impl EmbeddedQueue {
    pub fn new(events: SharedLocalEvents) -> Self {
        Self { events }
    }
}

#[async_trait::async_trait]
impl QueueBackend for EmbeddedQueue {
    async fn send(
        &self,
        namespace: &str,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String, StorageError>>, StorageError> {
        let events = self.events.get().await.map_err(unavailable)?;
        let outgoing = messages
            .into_iter()
            .map(|m| Outgoing {
                body: m.body.into_bytes(),
                attributes: m.attributes,
                delay: std::time::Duration::from_secs(m.delay_seconds.into()),
                group: m.group_id,
                deduplication: m.deduplication_id,
            })
            .collect();
        // One transaction: the batch is sent whole or not at all.
        let ids = events.send_all(namespace, outgoing).await.map_err(unavailable)?;
        Ok(ids.into_iter().map(Ok).collect())
    }
}

fn unavailable(error: anyhow::Error) -> StorageError {
    tracing::error!("embedded queue: {error:#}");
    StorageError::Unavailable("the local queue cannot be written".into())
}
