//! The queue capability's input rules (SQS's limits), checked by `host.rs` before any
//! backend sees a call, so the embedded queue refuses exactly what SQS would.

use crate::bindings::plughost::plugin::queue::Message;
use crate::capability::error::StorageError;
use crate::capability::message::{MAX_MESSAGE_BYTES, check_attributes, check_body, check_size};

/// Messages per `send-batch` (SQS's `SendMessageBatch`).
pub const MAX_BATCH: usize = 10;
/// The longest delay before a message becomes visible.
pub const MAX_DELAY_SECONDS: u32 = 900;
const MAX_FIFO_ID: usize = 128;

/// Checks one message for a queue (`fifo`: whether it is a FIFO queue); returns its size.
pub fn check_message(message: &Message, fifo: bool) -> Result<usize, StorageError> {
    check_body(&message.body)?;
    let size = message.body.len() + check_attributes(&message.attributes)?;
    check_size(size)?;
    if message.delay_seconds > MAX_DELAY_SECONDS {
        return Err(StorageError::InvalidInput(format!(
            "delay-seconds {} is over {MAX_DELAY_SECONDS}",
            message.delay_seconds
        )));
    }
    if fifo {
        let Some(group) = &message.group_id else {
            return Err(StorageError::InvalidInput("a FIFO queue needs a group-id on every message".into()));
        };
        check_fifo_id("group-id", group)?;
        if let Some(id) = &message.deduplication_id {
            check_fifo_id("deduplication-id", id)?;
        }
        if message.delay_seconds != 0 {
            return Err(StorageError::InvalidInput("a FIFO queue does not delay single messages".into()));
        }
    } else if message.group_id.is_some() || message.deduplication_id.is_some() {
        return Err(StorageError::InvalidInput(
            "group-id and deduplication-id apply to FIFO queues only (declare `fifo = true`)".into(),
        ));
    }
    Ok(size)
}

/// Checks a batch's size: 1..=[`MAX_BATCH`] messages of at most 256 KiB together.
pub fn check_batch(sizes: &[usize]) -> Result<(), StorageError> {
    if sizes.is_empty() || sizes.len() > MAX_BATCH {
        return Err(StorageError::LimitExceeded(format!(
            "a batch holds 1 to {MAX_BATCH} messages, not {}",
            sizes.len()
        )));
    }
    let total: usize = sizes.iter().sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(StorageError::LimitExceeded(format!(
            "the batch is {total} bytes; the limit is {MAX_MESSAGE_BYTES}"
        )));
    }
    Ok(())
}

/// FIFO group and deduplication ids: 1-128 ASCII letters, digits and punctuation.
fn check_fifo_id(field: &str, id: &str) -> Result<(), StorageError> {
    if id.is_empty() || id.len() > MAX_FIFO_ID || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(StorageError::InvalidInput(format!(
            "{field} must be 1-{MAX_FIFO_ID} ASCII letters, digits or punctuation"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Message {
        Message { body: body.into(), attributes: vec![], delay_seconds: 0, group_id: None, deduplication_id: None }
    }

    #[test]
    fn messages_are_checked_against_sqs_limits_before_any_backend() {
        assert_eq!(check_message(&message("hi"), false).unwrap(), 2);
        let delayed = Message { delay_seconds: 901, ..message("x") };
        assert!(matches!(check_message(&delayed, false), Err(StorageError::InvalidInput(m)) if m.contains("900")));
        let huge = message(&"x".repeat(MAX_MESSAGE_BYTES + 1));
        assert!(matches!(check_message(&huge, false), Err(StorageError::LimitExceeded(_))));
    }

    #[test]
    fn fifo_messages_need_a_group_and_only_fifo_queues_take_one() {
        assert!(check_message(&message("x"), true).unwrap_err().to_string().contains("group-id"));
        let grouped = Message { group_id: Some("customer-1".into()), ..message("x") };
        assert!(check_message(&grouped, true).is_ok());
        assert!(check_message(&grouped, false).unwrap_err().to_string().contains("FIFO queues only"));
        let bad = Message { group_id: Some("a b".into()), ..message("x") };
        assert!(check_message(&bad, true).is_err());
    }

    #[test]
    fn batches_hold_one_to_ten_messages_of_256_kib_together() {
        assert!(check_batch(&[1; 10]).is_ok());
        assert!(check_batch(&[]).is_err());
        assert!(check_batch(&[1; 11]).is_err());
        assert!(check_batch(&[MAX_MESSAGE_BYTES / 2, MAX_MESSAGE_BYTES / 2 + 1]).is_err());
    }
}
