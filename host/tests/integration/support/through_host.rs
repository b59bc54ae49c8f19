//! A backend as a guest reaches it: through the capability's host layer (`host.rs`: grant,
//! input and quota checks, I/O budget), then the backend. The conformance suites run every
//! case through these, so they assert what a plugin gets from each backend — including the
//! input rules, which the host layer applies once for every backend.
//!
//! Each wraps a backend and implements the backend trait itself: a call on namespace `ns`
//! opens label `ns`, granted read-write and placed in namespace `ns` of the backend, in a
//! fresh request (resource table, unlimited I/O budget), and calls the generated host
//! method.

use plughost::bindings::plughost::plugin::blob::{
    HostContainer, Listing, Object, ObjectInfo, PresignMethod, PutOptions,
};
use plughost::bindings::plughost::plugin::kv::{Condition, Entry, HostStore, Page, Write, WriteOptions};
use plughost::capability::blob::{BlobBackend, BlobQuota, ByteRange, PutRequest};
use plughost::capability::error::StorageError;
use plughost::capability::grants::{Grant, Granted, LabelView};
use plughost::capability::io_budget::IoBudget;
use plughost::capability::kv::{KvBackend, KvQuota};
use plughost::capability::request_context::RequestContext;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;

/// One request's worth of host state over `granted`.
struct Request<B: ?Sized, Q> {
    granted: Granted<B, Q>,
    table: ResourceTable,
    io: IoBudget,
    /// Outside a request: nothing cut off, nothing counted.
    request: RequestContext,
}

impl<B: ?Sized + Send + Sync + 'static, Q: Clone + Send + Sync + 'static> Request<B, Q> {
    fn new(backend: Arc<B>, namespace: &str, quota: Q) -> Self {
        let grant = Grant { label: namespace.into(), backend, namespace: namespace.into(), writable: true, quota };
        Self {
            granted: Granted::new([grant]),
            table: ResourceTable::new(),
            io: IoBudget::new(u64::MAX),
            request: RequestContext::default(),
        }
    }

    fn view(&mut self) -> LabelView<'_, B, Q> {
        LabelView::new(Some(&self.granted), &mut self.table, &self.io, &self.request)
    }
}

/// A kv backend behind the kv capability's host layer.
pub struct KvThroughHost(pub Arc<dyn KvBackend>);

impl KvThroughHost {
    fn request(&self, namespace: &str) -> Request<dyn KvBackend, KvQuota> {
        Request::new(self.0.clone(), namespace, KvQuota::default())
    }
}

#[async_trait::async_trait]
impl KvBackend for KvThroughHost {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>, StorageError> {
        let mut request = self.request(namespace);
        let mut view = request.view();
        let store = view.open_label(namespace)?;
        HostStore::get(&mut view, store, key.into()).await
    }

    async fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Entry>>, StorageError> {
        let mut request = self.request(namespace);
        let mut view = request.view();
        let store = view.open_label(namespace)?;
        HostStore::get_many(&mut view, store, keys.to_vec()).await
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        let mut request = self.request(namespace);
        let mut view = request.view();
        let store = view.open_label(namespace)?;
        let ttl_seconds = ttl.map(|ttl| u32::try_from(ttl.as_secs()).expect("test TTLs fit in u32"));
        HostStore::set(&mut view, store, key.into(), value, WriteOptions { condition, ttl_seconds }).await
    }

    async fn delete(&self, namespace: &str, key: &str, condition: Condition) -> Result<bool, StorageError> {
        let mut request = self.request(namespace);
        let mut view = request.view();
        let store = view.open_label(namespace)?;
        HostStore::delete(&mut view, store, key.into(), condition).await
    }

    async fn increment(&self, namespace: &str, key: &str, delta: i64) -> Result<i64, StorageError> {
        let mut request = self.request(namespace);
        let mut view = request.view();
        let store = view.open_label(namespace)?;
        HostStore::increment(&mut view, store, key.into(), delta).await
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StorageError> {
        let mut request = self.request(namespace);
        let mut view = request.view();
        let store = view.open_label(namespace)?;
        HostStore::list_keys(&mut view, store, prefix.into(), cursor, limit).await
    }

    async fn transact(&self, namespace: &str, writes: Vec<Write>) -> Result<Vec<u64>, StorageError> {
        let mut request = self.request(namespace);
        let mut view = request.view();
        let store = view.open_label(namespace)?;
        HostStore::transact(&mut view, store, writes).await
    }
}

/// A blob backend behind the blob capability's host layer.
pub struct BlobThroughHost(pub Arc<dyn BlobBackend>);

impl BlobThroughHost {
    fn request(&self, namespace: &str, quota: BlobQuota) -> Request<dyn BlobBackend, BlobQuota> {
        Request::new(self.0.clone(), namespace, quota)
    }
}

#[async_trait::async_trait]
impl BlobBackend for BlobThroughHost {
    async fn put(
        &self,
        namespace: &str,
        key: &str,
        body: Vec<u8>,
        request: PutRequest,
    ) -> Result<ObjectInfo, StorageError> {
        let mut host = self.request(namespace, BlobQuota::default());
        let mut view = host.view();
        let container = view.open_label(namespace)?;
        let options =
            PutOptions { content_type: request.content_type, metadata: request.metadata, condition: request.condition };
        HostContainer::put(&mut view, container, key.into(), body, options).await
    }

    async fn get(&self, namespace: &str, key: &str, range: Option<ByteRange>) -> Result<Option<Object>, StorageError> {
        let mut host = self.request(namespace, BlobQuota::default());
        let mut view = host.view();
        let container = view.open_label(namespace)?;
        match range {
            None => HostContainer::get(&mut view, container, key.into()).await,
            Some(range) => HostContainer::get_range(&mut view, container, key.into(), range.offset, range.length).await,
        }
    }

    async fn head(&self, namespace: &str, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        let mut host = self.request(namespace, BlobQuota::default());
        let mut view = host.view();
        let container = view.open_label(namespace)?;
        HostContainer::head(&mut view, container, key.into()).await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StorageError> {
        let mut host = self.request(namespace, BlobQuota::default());
        let mut view = host.view();
        let container = view.open_label(namespace)?;
        HostContainer::delete(&mut view, container, key.into()).await
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Listing, StorageError> {
        let mut host = self.request(namespace, BlobQuota::default());
        let mut view = host.view();
        let container = view.open_label(namespace)?;
        HostContainer::list_objects(&mut view, container, prefix.into(), cursor, limit).await
    }

    async fn presign(
        &self,
        namespace: &str,
        key: &str,
        method: PresignMethod,
        expires_in: Duration,
        content_type: Option<&str>,
        max_upload: u64,
    ) -> Result<String, StorageError> {
        let quota = BlobQuota { max_presigned_upload: max_upload, ..BlobQuota::default() };
        let mut host = self.request(namespace, quota);
        let mut view = host.view();
        let container = view.open_label(namespace)?;
        let seconds = u32::try_from(expires_in.as_secs()).expect("test expiries fit in u32");
        HostContainer::presign(&mut view, container, key.into(), method, seconds, content_type.map(str::to_owned)).await
    }
}
