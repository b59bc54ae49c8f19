//! Where the bound queues and topics live as AWS names them in events, so an SQS or SNS
//! event finds its label and `serve` can poll a bound queue. Nothing is parsed here: the
//! `queue` and `topic` capabilities own their storage-map sections
//! (`capability/{queue,topic}/storage_map.rs`) and record each binding's address
//! (`Capabilities::addresses`: the ARN as the resource; a queue's URL as its namespace when
//! the binding gave one, else its ARN).

use crate::capability::Capabilities;

/// The queue label bound to `arn`.
pub fn queue_by_arn<'a>(capabilities: &'a Capabilities, arn: &str) -> Option<&'a str> {
    label_of(capabilities, "queue", arn)
}

/// The topic label bound to `arn`.
pub fn topic_by_arn<'a>(capabilities: &'a Capabilities, arn: &str) -> Option<&'a str> {
    label_of(capabilities, "topic", arn)
}

fn label_of<'a>(capabilities: &'a Capabilities, capability: &str, arn: &str) -> Option<&'a str> {
    capabilities.addresses(capability).iter().find(|a| a.resource == arn).map(|a| a.label.as_str())
}

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
