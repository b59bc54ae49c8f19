//! The rules SQS and SNS share for what a plugin sends (the `queue` and `topic`
//! capabilities check every message here before any backend sees it): text a message may
//! carry, and its attributes.

use super::error::StorageError;

/// The largest message: body, attribute names and values together (SQS's and SNS's limit).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Attributes per message (SQS's limit; SNS passes them on to SQS subscribers).
pub const MAX_ATTRIBUTES: usize = 10;
const MAX_ATTRIBUTE_NAME: usize = 256;

/// Checks a body: non-empty, and only the characters SQS and SNS accept (#x9, #xA, #xD,
/// #x20 and above except surrogates and #xFFFE/#xFFFF — Rust strings hold no surrogates).
pub fn check_body(body: &str) -> Result<(), StorageError> {
    if body.is_empty() {
        return Err(StorageError::InvalidInput("the body is empty (send at least one character)".into()));
    }
    if let Some(c) = body.chars().find(|c| {
        let c = *c as u32;
        (c < 0x20 && c != 0x9 && c != 0xA && c != 0xD) || c == 0xFFFE || c == 0xFFFF
    }) {
        return Err(StorageError::InvalidInput(format!(
            "the body contains U+{:04X}, which queues and topics do not carry (send binary data as base64)",
            c as u32
        )));
    }
    Ok(())
}

/// Checks a message's attributes (names as SQS allows them, non-empty values, no name
/// twice, at most [`MAX_ATTRIBUTES`]); returns their size in bytes (names and values).
pub fn check_attributes(attributes: &[(String, String)]) -> Result<usize, StorageError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(StorageError::LimitExceeded(format!(
            "{} attributes; the limit is {MAX_ATTRIBUTES}",
            attributes.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0;
    for (name, value) in attributes {
        let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || name.len() > MAX_ATTRIBUTE_NAME
            || !valid_chars
            || name.starts_with('.')
            || name.ends_with('.')
            || name.contains("..")
            || lower.starts_with("aws.")
            || lower.starts_with("amazon.")
        {
            return Err(StorageError::InvalidInput(format!(
                "attribute name `{}` is invalid: use 1-256 of A-Z a-z 0-9 _ - . (not starting with `AWS.` or \
                 `Amazon.`, no `..`, no leading or trailing `.`)",
                crate::observability::escape::truncate(&crate::observability::escape::escape_controls(name), 64)
            )));
        }
        if value.is_empty() {
            return Err(StorageError::InvalidInput(format!("attribute `{name}` has an empty value")));
        }
        check_body(value).map_err(|_| {
            StorageError::InvalidInput(format!("attribute `{name}` contains characters queues and topics do not carry"))
        })?;
        if !seen.insert(name.as_str()) {
            return Err(StorageError::InvalidInput(format!("attribute `{name}` appears twice")));
        }
        bytes += name.len() + value.len();
    }
    Ok(bytes)
}

/// Checks that a message (`bytes` of body and attributes) fits [`MAX_MESSAGE_BYTES`].
pub fn check_size(bytes: usize) -> Result<(), StorageError> {
    if bytes > MAX_MESSAGE_BYTES {
        return Err(StorageError::LimitExceeded(format!(
            "the message is {bytes} bytes with its attributes; the limit is {MAX_MESSAGE_BYTES}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn bodies_are_non_empty_text_that_sqs_carries() {
        assert!(check_body("{\"id\": 1}\n\ttab").is_ok());
        assert!(matches!(check_body(""), Err(StorageError::InvalidInput(m)) if m.contains("empty")));
        assert!(matches!(check_body("a\u{0}b"), Err(StorageError::InvalidInput(m)) if m.contains("U+0000")));
        assert!(check_body("\u{FFFF}").is_err());
    }

    #[test]
    fn attributes_follow_sqs_naming_and_count_towards_the_size() {
        assert_eq!(check_attributes(&attrs(&[("kind", "order"), ("x-id", "42")])).unwrap(), 4 + 5 + 4 + 2);
        for bad in ["", "AWS.trace", "amazon.x", ".a", "a.", "a..b", "a b", "ä"] {
            assert!(
                matches!(check_attributes(&attrs(&[(bad, "v")])), Err(StorageError::InvalidInput(_))),
                "`{bad}` should be refused"
            );
        }
        assert!(check_attributes(&attrs(&[("a", "")])).is_err(), "empty values are refused");
        assert!(check_attributes(&attrs(&[("a", "1"), ("a", "2")])).is_err(), "a name twice is refused");
        let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("a{i}"), "v".to_owned())).collect();
        assert!(matches!(check_attributes(&eleven), Err(StorageError::LimitExceeded(_))));
        assert!(check_size(MAX_MESSAGE_BYTES).is_ok());
        assert!(matches!(check_size(MAX_MESSAGE_BYTES + 1), Err(StorageError::LimitExceeded(_))));
    }
}
