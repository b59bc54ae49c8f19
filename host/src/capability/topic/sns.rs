//! [`SnsTopicBackend`]: topics bound to SNS. The only file of the topic capability that
//! imports `aws_sdk_sns`. Throttling is retried with backoff by the SDK (`platform/aws.rs`); what
//! still fails reaches the plugin as `unavailable`, with the detail in the host's log.

use super::TopicBackend;
use crate::bindings::plughost::plugin::topic::Notification;
use crate::capability::error::StorageError;
use aws_sdk_sns::types::MessageAttributeValue;

pub struct SnsTopicBackend {
    client: aws_sdk_sns::Client,
}

impl SnsTopicBackend {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl TopicBackend for SnsTopicBackend {
    async fn publish(&self, namespace: &str, notification: Notification) -> Result<String, StorageError> {
        let mut request =
            self.client.publish().topic_arn(namespace).message(notification.body).set_subject(notification.subject);
        for (name, value) in notification.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| StorageError::InvalidInput(e.to_string()))?;
            request = request.message_attributes(name, value);
        }
        let output = request.send().await.map_err(|e| {
            tracing::error!(topic = namespace, "SNS: {}", aws_sdk_sns::error::DisplayErrorContext(e));
            StorageError::Unavailable("the topic cannot be reached".into())
        })?;
        output.message_id.ok_or_else(|| StorageError::Unavailable("SNS returned no message id".into()))
    }
}
