//! The blob capability's input rules: what a guest may pass to a blob call. `host.rs`
//! checks every call's arguments here before any backend sees them, so every backend —
//! and any backend added later — gets the same protection: a namespace plus a key never
//! names anything outside the namespace, on a file system or in a URL; sizes and
//! metadata follow S3's rules everywhere, so a plugin that works locally works in AWS.

use super::backend::{ByteRange, PutRequest};
use crate::bindings::plughost::plugin::blob::PutCondition;
use crate::capability::error::StorageError;
use crate::capability::paging::check_page;
use std::time::Duration;

pub const MAX_KEY_BYTES: usize = 1024;
/// The largest body one `put` or `get` moves through guest memory.
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_LIST_LIMIT: u32 = 1000;
pub const MAX_METADATA_BYTES: usize = 2048;
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Checks an object key: non-empty, bounded, no control characters or backslashes, not
/// absolute, and no empty, `.` or `..` segments — so `<namespace>/<key>` always stays
/// under the namespace, whether it becomes a file path, an S3 key or a URL path (where
/// clients normalise `..`).
pub fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::InvalidInput("key is empty".into()));
    }
    check_key_text(key, "key")?;
    if key.starts_with('/') {
        return Err(StorageError::InvalidInput("key must not start with `/`".into()));
    }
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(StorageError::InvalidInput("key must not contain empty, `.` or `..` segments".into()));
    }
    Ok(())
}

/// Checks a listing prefix: like a key, but it may be empty and end with `/`.
pub fn check_prefix(prefix: &str) -> Result<(), StorageError> {
    if prefix.is_empty() {
        return Ok(());
    }
    check_key_text(prefix, "prefix")?;
    if prefix.starts_with('/') {
        return Err(StorageError::InvalidInput("prefix must not start with `/`".into()));
    }
    let complete_segments = prefix.strip_suffix('/').unwrap_or(prefix);
    if complete_segments.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(StorageError::InvalidInput("prefix must not contain empty, `.` or `..` segments".into()));
    }
    Ok(())
}

fn check_key_text(text: &str, what: &str) -> Result<(), StorageError> {
    if text.len() > MAX_KEY_BYTES {
        return Err(StorageError::LimitExceeded(format!(
            "{what} is {} bytes; the limit is {MAX_KEY_BYTES}",
            text.len()
        )));
    }
    if text.chars().any(|c| c.is_control() || c == '\\') {
        return Err(StorageError::InvalidInput(format!("{what} contains control characters or `\\`")));
    }
    Ok(())
}

/// Checks `list-objects` arguments: the prefix, the page size, and that a cursor (the
/// last key of the previous page) belongs to the prefix being listed.
pub fn check_list(prefix: &str, cursor: Option<&str>, limit: u32) -> Result<(), StorageError> {
    check_prefix(prefix)?;
    check_page(prefix, cursor, limit, MAX_LIST_LIMIT, MAX_KEY_BYTES)
}

pub fn check_body(len: usize) -> Result<(), StorageError> {
    if len as u64 > MAX_BODY_BYTES {
        return Err(StorageError::LimitExceeded(format!(
            "body is {len} bytes; the limit through `put` is {MAX_BODY_BYTES} (use a presigned PUT URL)"
        )));
    }
    Ok(())
}

/// A whole-object read larger than the limit is refused, not truncated (backends check
/// it: only they know an object's size).
pub fn check_object_size(key: &str, size: u64) -> Result<(), StorageError> {
    if size > super::limits::MAX_BODY_BYTES {
        return Err(StorageError::LimitExceeded(format!(
            "`{key}` is {size} bytes; `get` returns at most {MAX_BODY_BYTES} (use `get-range` or a presigned URL)"
        )));
    }
    Ok(())
}

pub fn check_range(range: ByteRange) -> Result<(), StorageError> {
    if range.length == 0 || range.length > MAX_BODY_BYTES {
        return Err(StorageError::InvalidInput(format!("range length must be 1..={MAX_BODY_BYTES}")));
    }
    Ok(())
}

/// Checks everything a `put` was given; returns the request with its metadata sorted by
/// name (the order every backend reports it in).
pub fn validate_put(key: &str, body: &[u8], mut request: PutRequest) -> Result<PutRequest, StorageError> {
    check_key(key)?;
    check_body(body.len())?;
    check_put(&request)?;
    request.metadata.sort();
    Ok(request)
}

/// Checks what a `put` stores besides the body (S3's rules, applied everywhere so a
/// plugin that works locally works in AWS).
pub fn check_put(request: &PutRequest) -> Result<(), StorageError> {
    check_content_type(&request.content_type)?;
    let mut total = 0;
    for (name, value) in &request.metadata {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            return Err(StorageError::InvalidInput(format!(
                "metadata name `{name}` must be 1..=64 of `a-z`, `0-9`, `-`"
            )));
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(StorageError::InvalidInput(format!("metadata `{name}` must be printable ASCII")));
        }
        total += name.len() + value.len();
    }
    if total > MAX_METADATA_BYTES {
        return Err(StorageError::LimitExceeded(format!(
            "metadata is {total} bytes; the limit is {MAX_METADATA_BYTES}"
        )));
    }
    let names: std::collections::HashSet<_> = request.metadata.iter().map(|(name, _)| name).collect();
    if names.len() != request.metadata.len() {
        return Err(StorageError::InvalidInput("a metadata name appears twice".into()));
    }
    if let PutCondition::Etag(etag) = &request.condition
        && (etag.is_empty() || etag.len() > 256 || !etag.bytes().all(|b| (0x21..0x7f).contains(&b)))
    {
        return Err(StorageError::InvalidInput("etag condition must be an etag read from this container".into()));
    }
    Ok(())
}

pub fn check_content_type(content_type: &str) -> Result<(), StorageError> {
    let valid = !content_type.is_empty()
        && content_type.len() <= 255
        && content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
        && content_type.contains('/');
    if valid {
        Ok(())
    } else {
        Err(StorageError::InvalidInput(format!(
            "content type `{content_type}` must be a media type (`type/subtype`) of 1..=255 printable ASCII characters"
        )))
    }
}

pub fn check_presign(expires_in: Duration, content_type: Option<&str>) -> Result<(), StorageError> {
    if expires_in.is_zero() || expires_in > MAX_PRESIGN_EXPIRY {
        return Err(StorageError::InvalidInput(format!("expiry must be 1..={} seconds", MAX_PRESIGN_EXPIRY.as_secs())));
    }
    content_type.map_or(Ok(()), check_content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_escape_their_namespace_are_refused() {
        for key in ["", "/abs", "a/../b", "..", ".", "a/./b", "a//b", "a/", "a\\b", "a\u{0}b", "a\nb"] {
            assert!(check_key(key).is_err(), "{key:?} must be refused");
        }
        for key in ["a", "a/b.png", "images/2024/x..y", "ü/ñ", "..a", "a.."] {
            assert!(check_key(key).is_ok(), "{key:?} must be accepted");
        }
        assert!(matches!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)), Err(StorageError::LimitExceeded(_))));
    }

    #[test]
    fn prefixes_may_be_empty_or_end_with_a_slash_but_never_escape() {
        for prefix in ["", "a", "a/", "a/b", "a/b/"] {
            assert!(check_prefix(prefix).is_ok(), "{prefix:?}");
        }
        for prefix in ["/", "/a", "../", "a//", "a/../"] {
            assert!(check_prefix(prefix).is_err(), "{prefix:?}");
        }
    }

    #[test]
    fn metadata_and_content_type_follow_s3_rules() {
        let request = |metadata: Vec<(&str, &str)>| PutRequest {
            content_type: "image/png".into(),
            metadata: metadata.into_iter().map(|(n, v)| (n.into(), v.into())).collect(),
            condition: PutCondition::Always,
        };
        assert!(check_put(&request(vec![("owner", "42"), ("x-y", "a b")])).is_ok());
        assert!(check_put(&request(vec![("Owner", "42")])).is_err());
        assert!(check_put(&request(vec![("owner", "é")])).is_err());
        assert!(check_put(&request(vec![("a", "1"), ("a", "2")])).is_err());
        assert!(check_put(&request(vec![("big", &"x".repeat(MAX_METADATA_BYTES))])).is_err());
        assert!(check_content_type("png").is_err());
        assert!(check_content_type("text/plain\r\nx: y").is_err());
    }
}
