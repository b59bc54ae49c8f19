//! `plughost serve` against the cloud: a queue the storage map binds to SQS with its `url`
//! is consumed from SQS — long polling, a batch at a time, as Lambda's poller does — and
//! `POST /_plughost/events` sends to it there, instead of the embedded queue. A message a
//! plugin handled is deleted; a failed one stays, to come back after the queue's
//! visibility timeout and go to its dead-letter queue after its redrive policy's
//! `maxReceiveCount` (SQS's rules, not plughost's). The only file that talks to SQS.

use crate::app::App;
use crate::capability::event::Event;
use crate::observability::escape::escape_controls;
use crate::spec::triggers::Trigger;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use std::sync::Arc;
use std::time::Duration;

/// How long one receive waits for messages (SQS long polling; 20 s at most).
const WAIT_SECONDS: i32 = 10;

/// Polls every queue bound to SQS with a URL, for as long as the process runs. Returns no
/// task when none is bound.
pub fn spawn(app: Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(config) = app.capabilities().aws() else { return Vec::new() };
    let client = crate::platform::aws::sqs(config);
    let queues: Vec<(String, String)> = crate::routing::addresses::queue_urls(app.capabilities())
        .map(|(label, url)| (label.to_owned(), url.to_owned()))
        .collect();
    queues
        .into_iter()
        .map(|(label, url)| {
            tracing::info!(queue = label, url, "consuming the queue from SQS");
            tokio::spawn(poll(app.clone(), client.clone(), label, url))
        })
        .collect()
}

async fn poll(app: Arc<App>, client: aws_sdk_sqs::Client, label: String, url: String) {
    loop {
        let batch = app.table().plugins().iter().flat_map(|p| &p.triggers).find_map(|trigger| match trigger {
            Trigger::Queue { queue, batch } if *queue == label => Some(*batch),
            _ => None,
        });
        let Some(batch) = batch else {
            // No consumer in the current manifest: leave the messages where they are.
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(batch as i32)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(
                    queue = label,
                    "cannot receive from SQS, retrying: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&error)
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let deliveries = messages.iter().map(|message| deliver(&app, &client, &label, &url, message));
        futures::future::join_all(deliveries).await;
    }
}

async fn deliver(
    app: &App,
    client: &aws_sdk_sqs::Client,
    label: &str,
    url: &str,
    message: &aws_sdk_sqs::types::Message,
) {
    let message_id = message.message_id().unwrap_or_default().to_owned();
    let receive_count = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut attributes: Vec<(String, String)> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.string_value()?.to_owned())))
        .collect();
    attributes.sort();
    let event = Event::Message {
        queue: label.to_owned(),
        message_id,
        body: message.body().unwrap_or_default().as_bytes().to_vec(),
        attributes,
        receive_count,
    };
    let delivery = app.deliver(&event, &format!("sqs/{label}"), None).await;
    if delivery.targets == 0 || !delivery.succeeded() {
        return; // back after the visibility timeout
    }
    if let Some(receipt) = message.receipt_handle()
        && let Err(error) = client.delete_message().queue_url(url).receipt_handle(receipt).send().await
    {
        tracing::warn!(
            queue = label,
            message_id = %escape_controls(&event.id()),
            "handled, but cannot delete it from SQS (it will be delivered again): {}",
            aws_sdk_sqs::error::DisplayErrorContext(&error)
        );
    }
}

/// Sends a message to the SQS queue at `url` (`group`: a FIFO queue's message group, the
/// deduplication id is then the body's content); its message id.
pub async fn send(
    app: &App,
    url: &str,
    body: String,
    attributes: Vec<(String, String)>,
    group: Option<String>,
) -> anyhow::Result<String> {
    let config = app.capabilities().aws().ok_or_else(|| anyhow::anyhow!("no AWS configuration"))?;
    let mut request = crate::platform::aws::sqs(config).send_message().queue_url(url).set_message_group_id(group);
    request = request.message_body(body);
    for (name, value) in attributes {
        let value = MessageAttributeValue::builder().data_type("String").string_value(value).build()?;
        request = request.message_attributes(name, value);
    }
    let sent = request.send().await.map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    Ok(sent.message_id.unwrap_or_default())
}
