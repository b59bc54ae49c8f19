//! [`KvBackend`]: what every key-value backend implements, and the semantics they share
//! (versions, conditions, counters, expiry).
//!
//! A backend stores keys in *namespaces*: the host gives each granted label its own
//! namespace (the operator's key prefix), so two labels sharing one table never see
//! each other's keys. Backends assume valid input: `host.rs` checks every argument
//! against `limits.rs` before a backend sees it.

use crate::bindings::plughost::plugin::kv::{Condition, Entry, Page, Write};
use crate::capability::error::StorageError;
use std::time::Duration;

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

/// Whether a write with `condition` may proceed, given the current version (None: absent).
pub fn condition_holds(condition: &Condition, current: Option<u64>) -> bool {
    match (condition, current) {
        (Condition::Always, _) => true,
        (Condition::Absent, current) => current.is_none(),
        (Condition::Version(expected), Some(current)) => *expected == current,
        (Condition::Version(_), None) => false,
    }
}
