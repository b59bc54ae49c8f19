//! The topic capability's input rules (SNS's limits), checked by `host.rs` before any
//! backend sees a call.

use crate::bindings::plughost::plugin::topic::Notification;
use crate::capability::error::StorageError;
use crate::capability::message::{check_attributes, check_body, check_size};

/// The longest subject (SNS: printable ASCII, at most 100 characters).
pub const MAX_SUBJECT: usize = 100;

/// Checks a notification; returns its size (subject, body and attributes).
pub fn check_notification(notification: &Notification) -> Result<usize, StorageError> {
    check_body(&notification.body)?;
    let subject = notification.subject.as_deref().unwrap_or_default();
    if notification.subject.is_some()
        && (subject.is_empty()
            || subject.len() > MAX_SUBJECT
            || !subject.chars().all(|c| c == ' ' || c.is_ascii_graphic()))
    {
        return Err(StorageError::InvalidInput(format!(
            "the subject must be 1-{MAX_SUBJECT} printable ASCII characters"
        )));
    }
    let size = subject.len() + notification.body.len() + check_attributes(&notification.attributes)?;
    check_size(size)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(subject: Option<&str>, body: &str) -> Notification {
        Notification { subject: subject.map(Into::into), body: body.into(), attributes: vec![] }
    }

    #[test]
    fn notifications_are_checked_against_sns_limits() {
        assert_eq!(check_notification(&notification(Some("disk"), "90% full")).unwrap(), 12);
        assert!(check_notification(&notification(None, "")).is_err());
        assert!(check_notification(&notification(Some("a\nb"), "x")).is_err());
        assert!(check_notification(&notification(Some(""), "x")).is_err());
        assert!(check_notification(&notification(Some(&"s".repeat(101)), "x")).is_err());
        let huge = notification(None, &"x".repeat(256 * 1024 + 1));
        assert!(matches!(check_notification(&huge), Err(StorageError::LimitExceeded(_))));
    }
}
