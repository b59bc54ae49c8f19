//! [`EmbeddedTopic`]: the topic backend of `plughost serve` — a published notification
//! is accepted into the durable outbox (`capability/message_store/sqlite.rs`), from which the local
//! pump delivers it to every subscriber: the plugins with a trigger on the topic, and the
//! queues declared with `topics = [...]`.

use super::TopicBackend;
use crate::bindings::plughost::plugin::topic::Notification;
use crate::capability::error::StorageError;
use crate::capability::event::Event;
use crate::capability::message_store::sqlite::SharedLocalEvents;

pub struct EmbeddedTopic {
    events: SharedLocalEvents,
}

impl EmbeddedTopic {
    pub fn new(events: SharedLocalEvents) -> Self {
        Self { events }
    }
}

#[async_trait::async_trait]
impl TopicBackend for EmbeddedTopic {
    async fn publish(&self, namespace: &str, notification: Notification) -> Result<String, StorageError> {
        let events = self.events.get().await.map_err(unavailable)?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let event = Event::Notification {
            topic: namespace.to_owned(),
            message_id: message_id.clone(),
            subject: notification.subject,
            body: notification.body,
            attributes: notification.attributes,
            time: crate::capability::clock::unix_seconds(),
            forwarded: false,
        };
        events.enqueue(&event).await.map_err(unavailable)?;
        Ok(message_id)
    }
}

fn unavailable(error: anyhow::Error) -> StorageError {
    tracing::error!("embedded topic: {error:#}");
    StorageError::Unavailable("the local topic cannot be written".into())
}
