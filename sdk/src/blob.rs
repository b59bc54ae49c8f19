//! Blob containers (objects: bytes with a content type and metadata), opened by the label
//! the manifest grants (`blob = { images = "read-write" }`).
//!
//! ```ignore
//! let images = blob::Container::open("images")?;
//! let info = images.put(&format!("{product}/{id}"), &bytes, "image/png")?;
//! let url = images.presign_get(&info.key, 3600)?;          // hand it to the client
//! let page = images.list(&format!("{product}/"), None, 100)?;
//! ```
//!
//! Failures are [`StorageError`] values (see [`crate::kv`]); `?` turns them into HTTP
//! errors. Presigned URLs work the same under `plughost serve` (the host serves them) and
//! in AWS (S3 serves them).

use crate::bindings::plughost::plugin::blob as wit;

pub use crate::bindings::plughost::plugin::types::Error as StorageError;
pub use wit::{Listing, Object, ObjectInfo, ObjectSummary, PresignMethod, PutCondition, PutOptions};

/// An open blob container.
pub struct Container {
    inner: wit::Container,
}

impl Container {
    /// Opens the container granted under `label`.
    pub fn open(label: &str) -> Result<Self, StorageError> {
        wit::Container::open(label).map(|inner| Self { inner })
    }

    /// Stores `body` under `key` (overwriting), with a content type such as `image/png`.
    pub fn put(&self, key: &str, body: &[u8], content_type: &str) -> Result<ObjectInfo, StorageError> {
        let options =
            PutOptions { content_type: content_type.into(), metadata: Vec::new(), condition: PutCondition::Always };
        self.inner.put(key, body, &options)
    }

    /// Stores `body` with metadata and a condition (`Absent`: create-only; `Etag`: only if
    /// unchanged since read). A failed condition is `StorageError::Conflict`.
    pub fn put_with(&self, key: &str, body: &[u8], options: &PutOptions) -> Result<ObjectInfo, StorageError> {
        self.inner.put(key, body, options)
    }

    /// The whole object (at most 16 MiB), or `None`.
    pub fn get(&self, key: &str) -> Result<Option<Object>, StorageError> {
        self.inner.get(key)
    }

    /// `length` bytes from `offset` (fewer at the end), or `None`.
    pub fn get_range(&self, key: &str, offset: u64, length: u64) -> Result<Option<Object>, StorageError> {
        self.inner.get_range(key, offset, length)
    }

    pub fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        self.inner.head(key)
    }

    /// Removes `key`; removing an absent key succeeds.
    pub fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key)
    }

    /// One page of objects under `prefix` (`limit` 1..=1000); pass the returned cursor
    /// to get the next.
    pub fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<Listing, StorageError> {
        self.inner.list_objects(prefix, cursor, limit)
    }

    /// A URL that downloads `key` without credentials for `expires_in_seconds`.
    pub fn presign_get(&self, key: &str, expires_in_seconds: u32) -> Result<String, StorageError> {
        self.inner.presign(key, PresignMethod::Get, expires_in_seconds, None)
    }

    /// A URL that uploads `key` (with exactly this `content-type` header) without
    /// credentials for `expires_in_seconds`.
    pub fn presign_put(&self, key: &str, content_type: &str, expires_in_seconds: u32) -> Result<String, StorageError> {
        self.inner.presign(key, PresignMethod::Put, expires_in_seconds, Some(content_type))
    }

    /// A URL that uploads `key` with whatever `content-type` the uploader sends — still a
    /// media type (`type/subtype`), as `put` requires — for `expires_in_seconds`.
    pub fn presign_put_any_type(&self, key: &str, expires_in_seconds: u32) -> Result<String, StorageError> {
        self.inner.presign(key, PresignMethod::Put, expires_in_seconds, None)
    }
}
