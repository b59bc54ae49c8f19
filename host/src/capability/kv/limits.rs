//! The kv capability's input rules: what a guest may pass to a kv call. `host.rs` checks
//! every call's arguments here before any backend sees them, so every backend — and any
//! backend added later — gets the same protection (a key never leaves its namespace, no
//! call is larger than the backends allow).

use crate::bindings::plughost::plugin::kv::Write;
use crate::capability::error::StorageError;
use crate::capability::paging::check_page;

pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 350 * 1024;
pub const MAX_BATCH: usize = 100;
pub const MAX_LIST_LIMIT: u32 = 1000;

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

/// Checks `list-keys` arguments: the page size, a prefix and cursor no longer than a key,
/// and that the cursor (the last key of the previous page) belongs to the prefix.
pub fn check_list(prefix: &str, cursor: Option<&str>, limit: u32) -> Result<(), StorageError> {
    if prefix.len() > MAX_KEY_BYTES {
        return Err(StorageError::LimitExceeded(format!("prefix is longer than a key ({MAX_KEY_BYTES} bytes)")));
    }
    check_page(prefix, cursor, limit, MAX_LIST_LIMIT, MAX_KEY_BYTES)
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
