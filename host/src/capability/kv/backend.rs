//! [`KvBackend`]: what every key-value backend implements, and the limits every
//! backend shares (checked here once, before any backend sees the input).
//!
//! A backend stores keys in *namespaces*: the host gives each granted label its own
//! namespace (the operator's key prefix), so two labels sharing one table never see
//! each other's keys.

use super::super::error::StorageError;
use crate::bindings::plughost::plugin::kv::{Condition, Entry, Page, Write};
use std::time::Duration;

pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 350 * 1024;
pub const MAX_BATCH: usize = 100;
pub const MAX_LIST_LIMIT: u32 = 1000;

#[async_trait::async_trait]
pub trait KvBackend: Send + Sync + 'static {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>, StorageError>;

    async fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Entry>>, StorageError>;

    /// Writes `value` if `condition` holds; returns the new version.
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError>;

    /// Removes `key` if `condition` holds; returns whether it existed.
    async fn delete(&self, namespace: &str, key: &str, condition: Condition) -> Result<bool, StorageError>;

    async fn increment(&self, namespace: &str, key: &str, delta: i64) -> Result<i64, StorageError>;

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StorageError>;

    /// All-or-nothing; `Conflict` (and nothing written) if any condition fails.
    async fn transact(&self, namespace: &str, writes: Vec<Write>) -> Result<Vec<u64>, StorageError>;
}

/// The epoch second after which a value written at `now` with `ttl` is gone. Clocks
/// here count whole seconds, so this rounds up: a value lives at least `ttl` (at most one
/// second more), never less.
pub fn expires_at(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(ttl.as_secs().min(i64::MAX as u64) as i64).saturating_add(1)
}

/// Checks a key against the limits every backend shares.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::InvalidInput("key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::LimitExceeded(format!("key is {} bytes; the limit is {MAX_KEY_BYTES}", key.len())));
    }
    if key.chars().any(char::is_control) {
        return Err(StorageError::InvalidInput("key contains control characters".into()));
    }
    Ok(())
}

pub fn check_value(value: &[u8]) -> Result<(), StorageError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StorageError::LimitExceeded(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

pub fn check_batch(len: usize, what: &str) -> Result<(), StorageError> {
    if len > MAX_BATCH {
        return Err(StorageError::LimitExceeded(format!("{what} holds {len} items; the limit is {MAX_BATCH}")));
    }
    Ok(())
}

/// Checks `list-keys` arguments: the page size, and that a cursor (the last key of the
/// previous page) belongs to the prefix being listed.
pub fn check_list(prefix: &str, cursor: Option<&str>, limit: u32) -> Result<(), StorageError> {
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(StorageError::InvalidInput(format!("limit must be 1..={MAX_LIST_LIMIT}, got {limit}")));
    }
    if cursor.is_some_and(|cursor| !cursor.starts_with(prefix)) {
        return Err(StorageError::InvalidInput("cursor does not belong to this prefix".into()));
    }
    Ok(())
}

/// The next value of the counter at `key`: its current value (a decimal integer, or 0
/// when absent) plus `delta`, refusing non-integers and 64-bit overflow.
pub fn next_counter_value(key: &str, current: Option<&[u8]>, delta: i64) -> Result<i64, StorageError> {
    let base = match current {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| StorageError::InvalidInput(format!("the value of `{key}` is not an integer")))?,
    };
    base.checked_add(delta)
        .ok_or_else(|| StorageError::InvalidInput(format!("incrementing `{key}` overflows a 64-bit integer")))
}

/// Validates every key and value of a transaction. A key may appear once: DynamoDB
/// refuses two writes to one item in a transaction, and so do we, everywhere.
pub fn check_writes(writes: &[Write]) -> Result<(), StorageError> {
    check_batch(writes.len(), "transaction")?;
    let mut seen = std::collections::HashSet::new();
    for write in writes {
        let key = match write {
            Write::Set((key, value, _)) => {
                check_value(value)?;
                key
            }
            Write::Delete((key, _)) => key,
        };
        check_key(key)?;
        if !seen.insert(key.as_str()) {
            return Err(StorageError::InvalidInput(format!("key `{key}` appears twice in one transaction")));
        }
    }
    Ok(())
}

/// Whether a write with `condition` may proceed, given the current version (None: absent).
pub fn condition_holds(condition: &Condition, current: Option<u64>) -> bool {
    match (condition, current) {
        (Condition::Always, _) => true,
        (Condition::Absent, current) => current.is_none(),
        (Condition::Version(expected), Some(current)) => *expected == current,
        (Condition::Version(_), None) => false,
    }
}
