//! [`BusBackend`]: what every bus backend implements. Backends assume valid input:
//! `host.rs` checks every entry against `limits.rs` first.

use crate::bindings::plughost::plugin::bus::Entry;
use crate::capability::error::StorageError;

#[async_trait::async_trait]
pub trait BusBackend: Send + Sync + 'static {
    /// Puts `entries` (1..=10, checked) on the bus at `namespace` (the label for the
    /// embedded bus, the bus name for EventBridge). The outer error: nothing was put;
    /// otherwise each entry's event id or why it was not put, in order.
    async fn put(
        &self,
        namespace: &str,
        entries: Vec<Entry>,
    ) -> Result<Vec<Result<String, StorageError>>, StorageError>;
}
