//! Queues, opened by the label the manifest grants (`queue = { orders = "send" }`).
//!
//! ```ignore
//! let orders = queue::Queue::open("orders")?;
//! let id = orders.send_json(&order)?;                       // the message id the consumer sees
//! orders.send(queue::Message::text("ping").attribute("kind", "health").delay(30))?;
//! ```
//!
//! A message sent here reaches the plugin consuming the queue
//! (`events = [{ queue = "orders" }]`) at least once. Every failure is a [`StorageError`]
//! value; `?` turns it into an HTTP [`crate::Error`] (invalid-input 400, limit-exceeded
//! 413, unavailable 503, access-denied 500).

use crate::bindings::plughost::plugin::queue as wit;
use crate::error::Error;
use serde::Serialize;

pub use crate::bindings::plughost::plugin::types::Error as StorageError;

/// A message to send: its body, and optionally attributes, a delay and (FIFO queues) a
/// group and deduplication id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(wit::Message);

impl Message {
    /// A message with this body (text; send binary data as base64).
    pub fn text(body: impl Into<String>) -> Self {
        Self(wit::Message {
            body: body.into(),
            attributes: Vec::new(),
            delay_seconds: 0,
            group_id: None,
            deduplication_id: None,
        })
    }

    /// A message whose body is `value` as JSON.
    pub fn json<T: Serialize>(value: &T) -> Result<Self, Error> {
        serde_json::to_string(value)
            .map(Self::text)
            .map_err(|e| Error::internal(format!("message could not be serialised: {e}")))
    }

    /// Adds a string attribute (the consumer's `message.attributes`).
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.attributes.push((name.into(), value.into()));
        self
    }

    /// Keeps the message invisible to consumers for `seconds` (at most 900).
    pub fn delay(mut self, seconds: u32) -> Self {
        self.0.delay_seconds = seconds;
        self
    }

    /// FIFO queues: the message group (messages of one group are handled in order).
    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.0.group_id = Some(group_id.into());
        self
    }

    /// FIFO queues: sent twice within five minutes, delivered once (default: the body's hash).
    pub fn deduplication_id(mut self, id: impl Into<String>) -> Self {
        self.0.deduplication_id = Some(id.into());
        self
    }
}

/// An open queue.
pub struct Queue {
    inner: wit::Queue,
}

impl Queue {
    /// Opens the queue granted under `label`.
    pub fn open(label: &str) -> Result<Self, StorageError> {
        wit::Queue::open(label).map(|inner| Self { inner })
    }

    /// Sends one message; returns its message id.
    pub fn send(&self, message: Message) -> Result<String, StorageError> {
        self.inner.send(&message.0)
    }

    /// Sends `value` as a JSON message; returns its message id.
    pub fn send_json<T: Serialize>(&self, value: &T) -> Result<String, Error> {
        Ok(self.send(Message::json(value)?)?)
    }

    /// Sends up to 10 messages in one call: the outer error means none was sent;
    /// otherwise each message's id or why it was not sent, in order.
    pub fn send_batch(&self, messages: Vec<Message>) -> Result<Vec<Result<String, StorageError>>, StorageError> {
        let messages: Vec<wit::Message> = messages.into_iter().map(|m| m.0).collect();
        self.inner.send_batch(&messages)
    }
}
