//! `plughost:plugin/kv` over a [`KvView`]: every call checks the grant, then hands
//! validated input to the backend.

use super::{KvStore, KvView};
use crate::bindings::plughost::plugin::kv::{Condition, Entry, Host, HostStore, Page, Write, WriteOptions};
use crate::bindings::plughost::plugin::types::{Error as WitError, Host as TypesHost};
use crate::capability::deadline::bounded;
use crate::capability::error::StorageError;
use std::time::Duration;
use wasmtime::component::Resource;

impl KvView<'_> {
    fn store(&self, store: &Resource<KvStore>) -> Result<&KvStore, StorageError> {
        // A handle the guest could not have received from `open` is a broken guest.
        self.table.get(store).map_err(|_| StorageError::InvalidInput("unknown store handle".into()))
    }

    fn writable(&self, store: &Resource<KvStore>) -> Result<&KvStore, StorageError> {
        let store = self.store(store)?;
        if store.grant.writable { Ok(store) } else { Err(StorageError::AccessDenied) }
    }
}

impl Host for KvView<'_> {}

/// Refuses a value over the store's `max_value` (smaller than the backends' own limit,
/// which the backend layer checks).
fn check_quota(store: &KvStore, values: impl Iterator<Item = usize>) -> Result<(), StorageError> {
    let max = store.grant.quota.max_value;
    match values.max() {
        Some(len) if len as u64 > max => Err(StorageError::LimitExceeded(format!(
            "value is {len} bytes; store `{}` allows at most {max}",
            store.label
        ))),
        _ => Ok(()),
    }
}

/// The bytes one transaction write moves (key and value).
fn write_size(write: &Write) -> usize {
    match write {
        Write::Set((key, value, _)) => key.len() + value.len(),
        Write::Delete((key, _)) => key.len(),
    }
}

impl TypesHost for KvView<'_> {
    fn convert_error(&mut self, error: StorageError) -> wasmtime::Result<WitError> {
        Ok(error.into())
    }
}

impl HostStore for KvView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<KvStore>, StorageError> {
        let grant = self.ctx.grants.get(&label).cloned().ok_or(StorageError::AccessDenied)?;
        self.table
            .push(KvStore { label, grant })
            .map_err(|_| StorageError::LimitExceeded("too many open stores".into()))
    }

    async fn get(&mut self, store: Resource<KvStore>, key: String) -> Result<Option<Entry>, StorageError> {
        let store = self.store(&store)?;
        let entry = bounded(store.grant.backend.get(&store.grant.namespace, &key)).await?;
        self.io.take(entry.as_ref().map_or(0, |e| e.value.len()))?;
        Ok(entry)
    }

    async fn get_many(
        &mut self,
        store: Resource<KvStore>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Entry>>, StorageError> {
        let store = self.store(&store)?;
        let entries = bounded(store.grant.backend.get_many(&store.grant.namespace, &keys)).await?;
        self.io.take(entries.iter().flatten().map(|e| e.value.len()).sum())?;
        Ok(entries)
    }

    async fn exists(&mut self, store: Resource<KvStore>, key: String) -> Result<bool, StorageError> {
        let store = self.store(&store)?;
        Ok(bounded(store.grant.backend.get(&store.grant.namespace, &key)).await?.is_some())
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
        options: WriteOptions,
    ) -> Result<u64, StorageError> {
        let store = self.writable(&store)?;
        check_quota(store, std::iter::once(value.len()))?;
        self.io.take_written("kv", &store.label, store.grant.quota.max_written_per_request, key.len() + value.len())?;
        self.io.take(key.len() + value.len())?;
        let ttl = options.ttl_seconds.map(|s| Duration::from_secs(s.into()));
        bounded(store.grant.backend.set(&store.grant.namespace, &key, value, options.condition, ttl)).await
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        condition: Condition,
    ) -> Result<bool, StorageError> {
        let store = self.writable(&store)?;
        bounded(store.grant.backend.delete(&store.grant.namespace, &key, condition)).await
    }

    async fn increment(&mut self, store: Resource<KvStore>, key: String, delta: i64) -> Result<i64, StorageError> {
        let store = self.writable(&store)?;
        bounded(store.grant.backend.increment(&store.grant.namespace, &key, delta)).await
    }

    async fn list_keys(
        &mut self,
        store: Resource<KvStore>,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StorageError> {
        let store = self.store(&store)?;
        bounded(store.grant.backend.list(&store.grant.namespace, &prefix, cursor, limit)).await
    }

    async fn transact(&mut self, store: Resource<KvStore>, writes: Vec<Write>) -> Result<Vec<u64>, StorageError> {
        let store = self.writable(&store)?;
        check_quota(store, writes.iter().map(|w| if let Write::Set((_, value, _)) = w { value.len() } else { 0 }))?;
        let size = writes.iter().map(write_size).sum();
        self.io.take_written("kv", &store.label, store.grant.quota.max_written_per_request, size)?;
        self.io.take(size)?;
        bounded(store.grant.backend.transact(&store.grant.namespace, writes)).await
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        let store = self.table.delete(store)?;
        tracing::trace!(label = store.label, "kv store closed");
        Ok(())
    }
}
