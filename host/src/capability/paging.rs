//! The paging rules every listing call shares (`list-keys`, `list-objects`): a page size
//! within bounds, a cursor no longer than a key, and a cursor (the last key of the
//! previous page) that belongs to the prefix being listed.

use super::error::StorageError;

/// Checks a listing's `cursor` and `limit` against `prefix`; `max_limit` is the largest
/// page, `max_key` the longest key.
pub fn check_page(
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
    max_limit: u32,
    max_key: usize,
) -> Result<(), StorageError> {
    if cursor.is_some_and(|cursor| cursor.len() > max_key) {
        return Err(StorageError::LimitExceeded(format!("cursor is longer than a key ({max_key} bytes)")));
    }
    if limit == 0 || limit > max_limit {
        return Err(StorageError::InvalidInput(format!("limit must be 1..={max_limit}, got {limit}")));
    }
    if cursor.is_some_and(|cursor| !cursor.starts_with(prefix)) {
        return Err(StorageError::InvalidInput("cursor does not belong to this prefix".into()));
    }
    Ok(())
}
