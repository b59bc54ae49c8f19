//! [`QueueBackend`]: what every queue backend implements. Backends assume valid input:
//! `host.rs` checks every message against `limits.rs` first and fills in what the
//! capability defines (a FIFO message's default deduplication id).

use crate::bindings::plughost::plugin::queue::Message;
use crate::capability::error::StorageError;

#[async_trait::async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// Sends `messages` (1..=10, checked) to the queue at `namespace` (the label for the
    /// embedded queue, the queue URL or ARN for SQS). The outer error: nothing was sent;
    /// otherwise each message's id or why it was not sent, in order.
    async fn send(
        &self,
        namespace: &str,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String, StorageError>>, StorageError>;
}
