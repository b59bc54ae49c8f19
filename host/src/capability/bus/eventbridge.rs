//! [`EventBridgeBus`]: buses bound to EventBridge. The only file of the bus capability
//! that imports `aws_sdk_eventbridge`. Throttling is retried with backoff by the SDK
//! (`platform/aws.rs`); what still fails reaches the plugin as `unavailable`, with the detail in
//! the host's log.

use super::BusBackend;
use crate::bindings::plughost::plugin::bus::Entry;
use crate::capability::error::StorageError;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl BusBackend for EventBridgeBus {
    async fn put(
        &self,
        namespace: &str,
        entries: Vec<Entry>,
    ) -> Result<Vec<Result<String, StorageError>>, StorageError> {
        let count = entries.len();
        let entries = entries
            .into_iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(namespace)
                    .source(e.source)
                    .detail_type(e.detail_type)
                    .detail(e.detail)
                    .build()
            })
            .collect();
        let output = self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| {
            tracing::error!(bus = namespace, "EventBridge: {}", aws_sdk_eventbridge::error::DisplayErrorContext(e));
            StorageError::Unavailable("the bus cannot be reached".into())
        })?;
        // EventBridge answers one result per entry, in order.
        let mut results: Vec<Result<String, StorageError>> = output
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|result| match (result.event_id, result.error_code) {
                (Some(id), None) => Ok(id),
                (_, code) => {
                    tracing::warn!(bus = namespace, code, "EventBridge refused an event: {:?}", result.error_message);
                    Err(StorageError::Unavailable(format!(
                        "EventBridge did not put the event ({})",
                        code.as_deref().unwrap_or("no event id")
                    )))
                }
            })
            .collect();
        results
            .resize_with(count, || Err(StorageError::Unavailable("EventBridge did not answer for this event".into())));
        Ok(results)
    }
}
