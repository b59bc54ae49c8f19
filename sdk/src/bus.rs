//! Event buses, opened by the label the manifest grants (`bus = { app = "put" }`).
//!
//! ```ignore
//! let app = bus::Bus::open("app")?;
//! app.put_json("shop.orders", "OrderProcessed", &serde_json::json!({ "id": id }))?;
//! ```
//!
//! Each event reaches every plugin whose `events = [{ bus = "app", pattern = {...} }]`
//! pattern matches it (EventBridge's rules, locally too), at least once. Failures are
//! [`StorageError`] values; `?` turns them into an HTTP [`crate::Error`].

use crate::bindings::plughost::plugin::bus as wit;
use crate::error::Error;
use serde::Serialize;

pub use crate::bindings::plughost::plugin::types::Error as StorageError;
pub use wit::Entry;

/// An open bus.
pub struct Bus {
    inner: wit::Bus,
}

impl Bus {
    /// Opens the bus granted under `label`.
    pub fn open(label: &str) -> Result<Self, StorageError> {
        wit::Bus::open(label).map(|inner| Self { inner })
    }

    /// Puts one event whose detail is `detail` as JSON (it must serialise to an object);
    /// returns its event id.
    pub fn put_json<T: Serialize>(&self, source: &str, detail_type: &str, detail: &T) -> Result<String, Error> {
        let detail = serde_json::to_string(detail)
            .map_err(|e| Error::internal(format!("detail could not be serialised: {e}")))?;
        let entry = Entry { source: source.into(), detail_type: detail_type.into(), detail };
        let mut results = self.inner.put(&[entry])?;
        Ok(results.pop().unwrap_or(Err(StorageError::Unavailable("the bus answered nothing".into())))?)
    }

    /// Puts up to 10 events: the outer error means none was put; otherwise each entry's
    /// event id or why it was not put, in order.
    pub fn put(&self, entries: &[Entry]) -> Result<Vec<Result<String, StorageError>>, StorageError> {
        self.inner.put(entries)
    }
}
