//! Which bound queues `serve` consumes from SQS rather than from its embedded store: those
//! whose binding gives a URL. Nothing is parsed here: the queue capability owns its
//! storage-map section (`capability/queue/storage_map.rs`) and records each binding's
//! address (`Capabilities::addresses`: the ARN as the resource; the URL as its namespace
//! when the binding gave one, else the ARN). In Lambda, SQS and SNS records find their
//! labels in `capability/{queue,topic}/events.rs`.

use crate::capability::Capabilities;

/// The bound queues whose binding gives a URL (`serve` consumes those from SQS): label, URL.
pub fn queue_urls(capabilities: &Capabilities) -> impl Iterator<Item = (&str, &str)> {
    capabilities
        .addresses("queue")
        .iter()
        .filter(|a| !a.namespace.starts_with("arn:"))
        .map(|a| (a.label.as_str(), a.namespace.as_str()))
}

/// The URL of queue `label`, if it is bound with one.
pub fn queue_url<'a>(capabilities: &'a Capabilities, label: &str) -> Option<&'a str> {
    queue_urls(capabilities).find(|(bound, _)| *bound == label).map(|(_, url)| url)
}
