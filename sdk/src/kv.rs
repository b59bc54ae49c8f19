//! Key-value stores, opened by the label the manifest grants (`kv = { users = "read-write" }`).
//!
//! ```ignore
//! let users = kv::Store::open("users")?;
//! users.create_json(&format!("user/{id}"), &user)?;          // 409 if it exists
//! let (user, version) = users.get_json::<User>(&key)?.ok_or_else(|| Error::not_found("no such user"))?;
//! users.replace_json(&key, &updated, version)?;               // 409 if someone wrote in between
//! ```
//!
//! Every failure is a [`StorageError`] value, never a trap; `?` turns it into an HTTP
//! [`crate::Error`]: not-found 404, conflict 409, invalid-input 400, limit-exceeded 413,
//! access-denied 500 (a deployment mistake, logged), unavailable 503.
//!
//! Compiled natively (a plugin's unit tests) a store lives in memory, per thread, with the
//! host's rules — conditions, versions, TTLs on the testing clock, transactions
//! (`crate::testing`).

use crate::bindings::plughost::plugin::kv as wit;
use crate::error::Error;
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::bindings::plughost::plugin::types::Error as StorageError;
pub use wit::{Condition, Entry, Page, Write, WriteOptions};

/// What a store talks to: the host's `kv` import, or natively the testing module's memory.
#[cfg(target_arch = "wasm32")]
type Inner = wit::Store;
#[cfg(not(target_arch = "wasm32"))]
type Inner = crate::testing::MemoryStore;

/// An open key-value store.
pub struct Store {
    inner: Inner,
}

impl Store {
    /// Opens the store granted under `label`.
    pub fn open(label: &str) -> Result<Self, StorageError> {
        Inner::open(label).map(|inner| Self { inner })
    }

    pub fn get(&self, key: &str) -> Result<Option<Entry>, StorageError> {
        self.inner.get(key)
    }

    /// The value at `key` parsed as JSON, with its version.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, u64)>, Error> {
        match self.inner.get(key)? {
            None => Ok(None),
            Some(entry) => {
                let value = serde_json::from_slice(&entry.value)
                    .map_err(|e| Error::internal(format!("stored value at `{key}` is not valid JSON: {e}")))?;
                Ok(Some((value, entry.version)))
            }
        }
    }

    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, StorageError> {
        self.inner.get_many(keys)
    }

    pub fn exists(&self, key: &str) -> Result<bool, StorageError> {
        self.inner.exists(key)
    }

    /// Writes unconditionally; returns the new version.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<u64, StorageError> {
        self.inner.set(key, value, WriteOptions { condition: Condition::Always, ttl_seconds: None })
    }

    /// Writes with a condition and optional TTL; returns the new version.
    pub fn set_with(&self, key: &str, value: &[u8], options: WriteOptions) -> Result<u64, StorageError> {
        self.inner.set(key, value, options)
    }

    /// Writes `value` as JSON only if `key` does not exist (409 if it does).
    pub fn create_json<T: Serialize>(&self, key: &str, value: &T) -> Result<u64, Error> {
        let bytes = to_json(value)?;
        Ok(self.inner.set(key, &bytes, WriteOptions { condition: Condition::Absent, ttl_seconds: None })?)
    }

    /// Writes `value` as JSON only if `key` still has `version` (409 otherwise).
    pub fn replace_json<T: Serialize>(&self, key: &str, value: &T, version: u64) -> Result<u64, Error> {
        let bytes = to_json(value)?;
        Ok(self.inner.set(key, &bytes, WriteOptions { condition: Condition::Version(version), ttl_seconds: None })?)
    }

    pub fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.inner.delete(key, Condition::Always)
    }

    pub fn delete_if(&self, key: &str, condition: Condition) -> Result<bool, StorageError> {
        self.inner.delete(key, condition)
    }

    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, StorageError> {
        self.inner.increment(key, delta)
    }

    pub fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<Page, StorageError> {
        self.inner.list_keys(prefix, cursor, limit)
    }

    /// Applies `writes` all-or-nothing (409 if any condition fails).
    pub fn transact(&self, writes: &[Write]) -> Result<Vec<u64>, StorageError> {
        self.inner.transact(writes)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::internal(format!("value could not be serialised: {e}")))
}

impl From<StorageError> for Error {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound => Error::not_found("not found"),
            StorageError::Conflict => Error::conflict("the item was changed or already exists"),
            StorageError::InvalidInput(reason) => Error::bad_request(reason),
            StorageError::LimitExceeded(what) => Error::new(StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded", what),
            StorageError::AccessDenied => {
                crate::log::error("storage access denied: the manifest does not grant this store or this access");
                Error::internal("storage is not available to this service")
            }
            StorageError::Unavailable(_) => {
                Error::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage is unavailable; retry later")
            }
        }
    }
}
