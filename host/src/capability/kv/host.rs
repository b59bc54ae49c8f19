//! `plughost:plugin/kv` over a [`KvView`]: every call checks the grant, then hands
//! validated input to the backend.

use super::{KvStore, KvView};
use crate::bindings::plughost::plugin::kv::{Condition, Entry, Host, HostStore, Page, Write, WriteOptions};
use crate::bindings::plughost::plugin::types::{Error as WitError, Host as TypesHost};
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
        store.grant.backend.get(&store.grant.namespace, &key).await
    }

    async fn get_many(
        &mut self,
        store: Resource<KvStore>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Entry>>, StorageError> {
        let store = self.store(&store)?;
        store.grant.backend.get_many(&store.grant.namespace, &keys).await
    }

    async fn exists(&mut self, store: Resource<KvStore>, key: String) -> Result<bool, StorageError> {
        let store = self.store(&store)?;
        Ok(store.grant.backend.get(&store.grant.namespace, &key).await?.is_some())
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
        options: WriteOptions,
    ) -> Result<u64, StorageError> {
        let store = self.writable(&store)?;
        let ttl = options.ttl_seconds.map(|s| Duration::from_secs(s.into()));
        store.grant.backend.set(&store.grant.namespace, &key, value, options.condition, ttl).await
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        condition: Condition,
    ) -> Result<bool, StorageError> {
        let store = self.writable(&store)?;
        store.grant.backend.delete(&store.grant.namespace, &key, condition).await
    }

    async fn increment(&mut self, store: Resource<KvStore>, key: String, delta: i64) -> Result<i64, StorageError> {
        let store = self.writable(&store)?;
        store.grant.backend.increment(&store.grant.namespace, &key, delta).await
    }

    async fn list_keys(
        &mut self,
        store: Resource<KvStore>,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StorageError> {
        let store = self.store(&store)?;
        store.grant.backend.list(&store.grant.namespace, &prefix, cursor, limit).await
    }

    async fn transact(&mut self, store: Resource<KvStore>, writes: Vec<Write>) -> Result<Vec<u64>, StorageError> {
        let store = self.writable(&store)?;
        store.grant.backend.transact(&store.grant.namespace, writes).await
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        let store = self.table.delete(store)?;
        tracing::trace!(label = store.label, "kv store closed");
        Ok(())
    }
}
