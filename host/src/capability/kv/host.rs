//! `plughost:plugin/kv` over a [`KvView`]: every call checks the grant and its input
//! (`limits.rs`, the store's quota, the request's I/O budget), then hands valid input to
//! the backend, cut off at the request's storage deadline.

use super::limits::{check_batch, check_key, check_list, check_value, check_writes};
use super::{KvStore, KvView};
use crate::bindings::plughost::plugin::kv::{Condition, Entry, Host, HostStore, Page, Write, WriteOptions};
use crate::capability::error::StorageError;
use std::time::Duration;
use wasmtime::component::Resource;

impl Host for KvView<'_> {}

/// Refuses a value over the store's `max_value` (smaller than the backends' own limit,
/// which `limits.rs` checks).
fn check_quota(store: &KvStore, values: impl Iterator<Item = usize>) -> Result<(), StorageError> {
    let max = store.quota.max_value;
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

impl HostStore for KvView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<KvStore>, StorageError> {
        self.open_label(&label)
    }

    async fn get(&mut self, store: Resource<KvStore>, key: String) -> Result<Option<Entry>, StorageError> {
        let store = self.grant(&store)?;
        check_key(&key)?;
        let entry = self
            .request
            .host_call(super::KIND.name, "get", &store.label, store.backend.get(&store.namespace, &key))
            .await?;
        self.io.take(entry.as_ref().map_or(0, |e| e.value.len()))?;
        Ok(entry)
    }

    async fn get_many(
        &mut self,
        store: Resource<KvStore>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Entry>>, StorageError> {
        let store = self.grant(&store)?;
        check_batch(keys.len(), "get-many")?;
        keys.iter().try_for_each(|key| check_key(key))?;
        let entries = self
            .request
            .host_call(super::KIND.name, "get_many", &store.label, store.backend.get_many(&store.namespace, &keys))
            .await?;
        self.io.take(entries.iter().flatten().map(|e| e.value.len()).sum())?;
        Ok(entries)
    }

    async fn exists(&mut self, store: Resource<KvStore>, key: String) -> Result<bool, StorageError> {
        let store = self.grant(&store)?;
        check_key(&key)?;
        Ok(self
            .request
            .host_call(super::KIND.name, "exists", &store.label, store.backend.get(&store.namespace, &key))
            .await?
            .is_some())
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
        options: WriteOptions,
    ) -> Result<u64, StorageError> {
        let store = self.writable(&store)?;
        check_key(&key)?;
        check_value(&value)?;
        check_quota(store, std::iter::once(value.len()))?;
        self.io.take_written(
            super::KIND.name,
            &store.label,
            store.quota.max_written_per_request,
            key.len() + value.len(),
        )?;
        self.io.take(key.len() + value.len())?;
        let ttl = options.ttl_seconds.map(|s| Duration::from_secs(s.into()));
        self.request
            .host_call(
                super::KIND.name,
                "set",
                &store.label,
                store.backend.set(&store.namespace, &key, value, options.condition, ttl),
            )
            .await
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        condition: Condition,
    ) -> Result<bool, StorageError> {
        let store = self.writable(&store)?;
        check_key(&key)?;
        self.request
            .host_call(
                super::KIND.name,
                "delete",
                &store.label,
                store.backend.delete(&store.namespace, &key, condition),
            )
            .await
    }

    async fn increment(&mut self, store: Resource<KvStore>, key: String, delta: i64) -> Result<i64, StorageError> {
        let store = self.writable(&store)?;
        check_key(&key)?;
        self.request
            .host_call(
                super::KIND.name,
                "increment",
                &store.label,
                store.backend.increment(&store.namespace, &key, delta),
            )
            .await
    }

    async fn list_keys(
        &mut self,
        store: Resource<KvStore>,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StorageError> {
        let store = self.grant(&store)?;
        check_list(&prefix, cursor.as_deref(), limit)?;
        self.request
            .host_call(
                super::KIND.name,
                "list_keys",
                &store.label,
                store.backend.list(&store.namespace, &prefix, cursor, limit),
            )
            .await
    }

    async fn transact(&mut self, store: Resource<KvStore>, writes: Vec<Write>) -> Result<Vec<u64>, StorageError> {
        let store = self.writable(&store)?;
        check_writes(&writes)?;
        check_quota(store, writes.iter().map(|w| if let Write::Set((_, value, _)) = w { value.len() } else { 0 }))?;
        let size = writes.iter().map(write_size).sum();
        self.io.take_written(super::KIND.name, &store.label, store.quota.max_written_per_request, size)?;
        self.io.take(size)?;
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        self.request
            .host_call(super::KIND.name, "transact", &store.label, store.backend.transact(&store.namespace, writes))
            .await
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.close(store)
    }
}
