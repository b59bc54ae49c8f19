//! [`SqsQueueBackend`]: queues bound to SQS. The only file of the queue capability that
//! imports `aws_sdk_sqs`. Throttling is retried with backoff by the SDK (`platform/aws.rs`); what
//! still fails reaches the plugin as `unavailable`, with the detail in the host's log.

use super::QueueBackend;
use crate::bindings::plughost::plugin::queue::Message;
use crate::capability::error::StorageError;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct SqsQueueBackend {
    client: aws_sdk_sqs::Client,
    /// Queue ARN -> URL, for bindings that gave only the ARN (looked up once).
    urls: Mutex<HashMap<String, String>>,
}

impl SqsQueueBackend {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client, urls: Mutex::default() }
    }

    /// The queue URL of `namespace`: itself, or looked up from the ARN it is.
    async fn url(&self, namespace: &str) -> Result<String, StorageError> {
        if !namespace.starts_with("arn:") {
            return Ok(namespace.to_owned());
        }
        if let Some(url) = self.urls.lock().unwrap_or_else(|p| p.into_inner()).get(namespace) {
            return Ok(url.clone());
        }
        // arn:aws:sqs:<region>:<account>:<name>
        let parts: Vec<&str> = namespace.split(':').collect();
        let (Some(account), Some(name)) = (parts.get(4), parts.get(5)) else {
            return Err(failed(namespace, "the binding's ARN has no account and name"));
        };
        let found = self
            .client
            .get_queue_url()
            .queue_name(*name)
            .queue_owner_aws_account_id(*account)
            .send()
            .await
            .map_err(|e| failed(namespace, &aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let url = found.queue_url.ok_or_else(|| failed(namespace, "GetQueueUrl returned no URL"))?;
        self.urls.lock().unwrap_or_else(|p| p.into_inner()).insert(namespace.to_owned(), url.clone());
        Ok(url)
    }
}

fn attributes(pairs: Vec<(String, String)>) -> HashMap<String, MessageAttributeValue> {
    pairs
        .into_iter()
        .filter_map(|(name, value)| {
            let value = MessageAttributeValue::builder().data_type("String").string_value(value).build().ok()?;
            Some((name, value))
        })
        .collect()
}

/// A failed call: logged with the detail, `unavailable` for the plugin.
fn failed(queue: &str, detail: &str) -> StorageError {
    tracing::error!(queue, "SQS: {detail}");
    StorageError::Unavailable("the queue cannot be reached".into())
}

#[async_trait::async_trait]
impl QueueBackend for SqsQueueBackend {
    async fn send(
        &self,
        namespace: &str,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String, StorageError>>, StorageError> {
        let url = self.url(namespace).await?;
        let entries: Vec<SendMessageBatchRequestEntry> = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body)
                    .set_message_attributes(Some(attributes(m.attributes)).filter(|a| !a.is_empty()))
                    .set_delay_seconds((m.delay_seconds > 0).then_some(m.delay_seconds as i32))
                    .set_message_group_id(m.group_id)
                    .set_message_deduplication_id(m.deduplication_id)
                    .build()
                    .map_err(|e| failed(namespace, &e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let count = entries.len();
        let output = self
            .client
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| failed(namespace, &aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let mut results: Vec<Result<String, StorageError>> =
            (0..count).map(|_| Err(StorageError::Unavailable("SQS did not answer for this message".into()))).collect();
        for ok in output.successful {
            if let Some(slot) = ok.id.parse::<usize>().ok().and_then(|i| results.get_mut(i)) {
                *slot = Ok(ok.message_id);
            }
        }
        for failure in output.failed {
            tracing::warn!(queue = namespace, code = failure.code, "SQS refused a message: {:?}", failure.message);
            if let Some(slot) = failure.id.parse::<usize>().ok().and_then(|i| results.get_mut(i)) {
                *slot = Err(if failure.sender_fault {
                    StorageError::InvalidInput(format!("SQS refused the message ({})", failure.code))
                } else {
                    StorageError::Unavailable(format!("SQS could not take the message ({})", failure.code))
                });
            }
        }
        Ok(results)
    }
}
