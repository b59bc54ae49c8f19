//! `plughost:plugin/queue` over a [`QueueView`]: every call checks the grant and each
//! message (`limits.rs`, the request's I/O budget), gives a FIFO message its default
//! deduplication id, then hands the batch to the backend, cut off at the request's
//! storage deadline.

use super::limits::{check_batch, check_message};
use super::{OpenQueue, QueueView};
use crate::bindings::plughost::plugin::queue::{Host, HostQueue, Message};
use crate::bindings::plughost::plugin::types::Error as WitError;
use crate::capability::error::StorageError;
use sha2::{Digest, Sha256};
use wasmtime::component::Resource;

impl Host for QueueView<'_> {}

impl QueueView<'_> {
    /// Checks `messages` and sends them; the outer error means nothing was sent.
    async fn send_checked(
        &mut self,
        queue: &Resource<OpenQueue>,
        mut messages: Vec<Message>,
    ) -> Result<Vec<Result<String, StorageError>>, StorageError> {
        let queue = self.writable(queue)?;
        let sizes = messages.iter().map(|m| check_message(m, queue.quota.fifo)).collect::<Result<Vec<_>, _>>()?;
        check_batch(&sizes)?;
        self.io.take(sizes.iter().sum())?;
        if queue.quota.fifo {
            // Content-based deduplication, as SQS does for a queue that enables it.
            for message in messages.iter_mut().filter(|m| m.deduplication_id.is_none()) {
                message.deduplication_id = Some(hex::encode(Sha256::digest(message.body.as_bytes())));
            }
        }
        self.request
            .host_call(super::KIND.name, "send", &queue.label, queue.backend.send(&queue.namespace, messages))
            .await
    }
}

impl HostQueue for QueueView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<OpenQueue>, StorageError> {
        self.open_label(&label)
    }

    async fn send(&mut self, queue: Resource<OpenQueue>, message: Message) -> Result<String, StorageError> {
        let mut results = self.send_checked(&queue, vec![message]).await?;
        results.pop().unwrap_or_else(|| Err(StorageError::Unavailable("the queue answered nothing".into())))
    }

    async fn send_batch(
        &mut self,
        queue: Resource<OpenQueue>,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String, WitError>>, StorageError> {
        StorageError::per_item(self.send_checked(&queue, messages).await?)
    }

    async fn drop(&mut self, queue: Resource<OpenQueue>) -> wasmtime::Result<()> {
        self.close(queue)
    }
}
