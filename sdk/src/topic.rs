//! Topics, opened by the label the manifest grants (`topic = { alerts = "publish" }`).
//!
//! ```ignore
//! let alerts = topic::Topic::open("alerts")?;
//! alerts.publish(topic::Notification::text("disk 90% full").subject("disk"))?;
//! ```
//!
//! Every subscriber receives each notification at least once: plugins with
//! `events = [{ topic = "alerts" }]` and queues declared with `topics = ["alerts"]`.
//! Failures are [`StorageError`] values; `?` turns them into an HTTP [`crate::Error`].

use crate::bindings::plughost::plugin::topic as wit;
use crate::error::Error;
use serde::Serialize;

pub use crate::bindings::plughost::plugin::types::Error as StorageError;

/// A notification to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification(wit::Notification);

impl Notification {
    /// A notification with this body.
    pub fn text(body: impl Into<String>) -> Self {
        Self(wit::Notification { subject: None, body: body.into(), attributes: Vec::new() })
    }

    /// A notification whose body is `value` as JSON.
    pub fn json<T: Serialize>(value: &T) -> Result<Self, Error> {
        serde_json::to_string(value)
            .map(Self::text)
            .map_err(|e| Error::internal(format!("notification could not be serialised: {e}")))
    }

    /// Sets the subject (at most 100 printable ASCII characters).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.0.subject = Some(subject.into());
        self
    }

    /// Adds a string attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.attributes.push((name.into(), value.into()));
        self
    }
}

/// An open topic.
pub struct Topic {
    inner: wit::Topic,
}

impl Topic {
    /// Opens the topic granted under `label`.
    pub fn open(label: &str) -> Result<Self, StorageError> {
        wit::Topic::open(label).map(|inner| Self { inner })
    }

    /// Publishes `notification`; returns its message id.
    pub fn publish(&self, notification: Notification) -> Result<String, StorageError> {
        self.inner.publish(&notification.0)
    }
}
