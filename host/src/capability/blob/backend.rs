//! [`BlobBackend`]: what every blob backend implements.
//!
//! A backend stores objects in *namespaces*: the host gives each granted label its own
//! namespace (the operator's key prefix), so two labels sharing one bucket never see
//! each other's objects. Backends assume valid input: `host.rs` checks every argument
//! against `limits.rs` (keys that cannot leave their namespace, sizes, metadata) before
//! a backend sees it.

use crate::bindings::plughost::plugin::blob::{Listing, Object, ObjectInfo, PresignMethod, PutCondition};
use crate::capability::error::StorageError;
use std::time::Duration;

/// What a `put` stores besides the body.
#[derive(Debug, Clone)]
pub struct PutRequest {
    pub content_type: String,
    pub metadata: Vec<(String, String)>,
    pub condition: PutCondition,
}

/// A byte range of an object: `length` bytes from `offset` (fewer at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

#[async_trait::async_trait]
pub trait BlobBackend: Send + Sync + 'static {
    /// Stores `body` if the condition holds (else `Conflict`, nothing changed).
    async fn put(
        &self,
        namespace: &str,
        key: &str,
        body: Vec<u8>,
        request: PutRequest,
    ) -> Result<ObjectInfo, StorageError>;

    /// The object (or `range` of it); `None` if absent.
    async fn get(&self, namespace: &str, key: &str, range: Option<ByteRange>) -> Result<Option<Object>, StorageError>;

    async fn head(&self, namespace: &str, key: &str) -> Result<Option<ObjectInfo>, StorageError>;

    /// Removes the object; absent is not an error.
    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StorageError>;

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Listing, StorageError>;

    /// A URL that lets anyone holding it GET or PUT the object until it expires. A PUT
    /// through it may store at most `max_upload` bytes where the backend can enforce that
    /// (embedded: yes; S3 cannot bound a presigned PUT's size, its own 5 GiB limit applies).
    async fn presign(
        &self,
        namespace: &str,
        key: &str,
        method: PresignMethod,
        expires_in: Duration,
        content_type: Option<&str>,
        max_upload: u64,
    ) -> Result<String, StorageError>;
}
