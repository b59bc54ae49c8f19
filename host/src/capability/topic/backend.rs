//! [`TopicBackend`]: what every topic backend implements. Backends assume valid input:
//! `host.rs` checks every notification against `limits.rs` first.

use crate::bindings::plughost::plugin::topic::Notification;
use crate::capability::error::StorageError;

#[async_trait::async_trait]
pub trait TopicBackend: Send + Sync + 'static {
    /// Publishes `notification` on the topic at `namespace` (the label for the embedded
    /// topic, the topic ARN for SNS); returns its message id.
    async fn publish(&self, namespace: &str, notification: Notification) -> Result<String, StorageError>;
}
