//! The bus capability's input rules (EventBridge's `PutEvents` limits), checked by
//! `host.rs` before any backend sees a call, so the embedded bus refuses exactly what
//! EventBridge would.

use crate::bindings::plughost::plugin::bus::Entry;
use crate::capability::error::StorageError;

/// Entries per call.
pub const MAX_ENTRIES: usize = 10;
/// One entry's source, detail type and detail together (and a whole call's).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;
const MAX_SOURCE: usize = 256;
const MAX_DETAIL_TYPE: usize = 128;

/// Checks one entry; returns its size.
pub fn check_entry(entry: &Entry) -> Result<usize, StorageError> {
    let invalid = |m: String| Err(StorageError::InvalidInput(m));
    if entry.source.is_empty() || entry.source.len() > MAX_SOURCE || entry.source.chars().any(char::is_control) {
        return invalid(format!("source must be 1-{MAX_SOURCE} characters without control characters"));
    }
    if entry.source.to_ascii_lowercase().starts_with("aws.") {
        return invalid("sources starting with `aws.` are reserved for AWS services".into());
    }
    if entry.detail_type.is_empty()
        || entry.detail_type.len() > MAX_DETAIL_TYPE
        || entry.detail_type.chars().any(char::is_control)
    {
        return invalid(format!("detail-type must be 1-{MAX_DETAIL_TYPE} characters without control characters"));
    }
    let size = entry.source.len() + entry.detail_type.len() + entry.detail.len();
    if size > MAX_ENTRY_BYTES {
        return Err(StorageError::LimitExceeded(format!("the entry is {size} bytes; the limit is {MAX_ENTRY_BYTES}")));
    }
    // Checked after the size, so a huge detail is refused before it is parsed.
    match serde_json::from_str::<serde_json::Value>(&entry.detail) {
        Ok(serde_json::Value::Object(_)) => Ok(size),
        Ok(_) => invalid("detail must be a JSON object".into()),
        Err(e) => invalid(format!("detail is not valid JSON: {e}")),
    }
}

/// Checks a call's size: 1..=[`MAX_ENTRIES`] entries of at most 256 KiB together.
pub fn check_entries(sizes: &[usize]) -> Result<(), StorageError> {
    if sizes.is_empty() || sizes.len() > MAX_ENTRIES {
        return Err(StorageError::LimitExceeded(format!("a call puts 1 to {MAX_ENTRIES} events, not {}", sizes.len())));
    }
    let total: usize = sizes.iter().sum();
    if total > MAX_ENTRY_BYTES {
        return Err(StorageError::LimitExceeded(format!("the call is {total} bytes; the limit is {MAX_ENTRY_BYTES}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(source: &str, detail_type: &str, detail: &str) -> Entry {
        Entry { source: source.into(), detail_type: detail_type.into(), detail: detail.into() }
    }

    #[test]
    fn entries_are_checked_against_eventbridge_limits() {
        assert!(check_entry(&entry("shop.orders", "OrderProcessed", r#"{"id":"o1"}"#)).is_ok());
        assert!(check_entry(&entry("", "T", "{}")).is_err());
        assert!(check_entry(&entry("aws.s3", "T", "{}")).unwrap_err().to_string().contains("reserved"));
        assert!(check_entry(&entry("s", "", "{}")).is_err());
        assert!(check_entry(&entry("s", "T", "[1]")).unwrap_err().to_string().contains("JSON object"));
        assert!(check_entry(&entry("s", "T", "{")).unwrap_err().to_string().contains("not valid JSON"));
        let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_ENTRY_BYTES));
        assert!(matches!(check_entry(&entry("s", "T", &huge)), Err(StorageError::LimitExceeded(_))));
        assert!(check_entries(&[]).is_err() && check_entries(&[1; 11]).is_err() && check_entries(&[1; 10]).is_ok());
    }
}
