//! `queue.<label>`, `topic.<label>` and `bus.<label>` in the operator's storage map: the
//! AWS resource each event source is, so an event from AWS (which names an ARN) finds its
//! label, and `serve` can poll a bound queue.
//!
//! ```toml
//! [queue.orders]
//! sqs = { arn = "arn:aws:sqs:eu-west-1:123456789012:orders", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders" }
//! [topic.alerts]
//! sns = { arn = "arn:aws:sns:eu-west-1:123456789012:alerts" }
//! [bus.app]
//! eventbridge = { name = "app" }
//! ```

use super::Sources;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where each bound queue, topic and bus lives.
#[derive(Debug, Clone, Default)]
pub struct SourceBindings {
    pub queues: BTreeMap<String, SqsQueue>,
    /// label -> topic ARN
    pub topics: BTreeMap<String, String>,
    /// label -> bus name
    pub buses: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsQueue {
    pub arn: String,
    /// Needed only to poll the queue from `serve`.
    pub url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueBinding {
    sqs: SqsQueue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicBinding {
    sns: Arn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arn {
    arn: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BusBinding {
    eventbridge: BusName,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BusName {
    name: String,
}

impl SourceBindings {
    /// Parses the map's `queue`, `topic` and `bus` sections (removed from `map`); errors
    /// name `origin`, the section and the label.
    pub fn take(map: &mut BTreeMap<String, BTreeMap<String, serde_json::Value>>, origin: &str) -> anyhow::Result<Self> {
        fn parse<T: serde::de::DeserializeOwned>(
            map: &mut BTreeMap<String, BTreeMap<String, serde_json::Value>>,
            section: &str,
            origin: &str,
            example: &str,
        ) -> anyhow::Result<Vec<(String, T)>> {
            map.remove(section)
                .unwrap_or_default()
                .into_iter()
                .map(|(label, value)| {
                    serde_json::from_value(value)
                        .map(|binding| (label.clone(), binding))
                        .map_err(|e| anyhow::anyhow!("{origin}: {section}.{label}: {e} (expected {example})"))
                })
                .collect()
        }
        let queues = parse::<QueueBinding>(map, "queue", origin, "`{\"sqs\": {\"arn\": ..., \"url\": ...}}`")?;
        let topics = parse::<TopicBinding>(map, "topic", origin, "`{\"sns\": {\"arn\": ...}}`")?;
        let buses = parse::<BusBinding>(map, "bus", origin, "`{\"eventbridge\": {\"name\": ...}}`")?;
        let check_arn = |section: &str, label: &str, arn: &str, service: &str| {
            if arn.starts_with(&format!("arn:aws:{service}:")) || arn.starts_with("arn:aws-") {
                Ok(())
            } else {
                Err(anyhow::anyhow!("{origin}: {section}.{label}: `{arn}` is not an {service} ARN"))
            }
        };
        for (label, binding) in &queues {
            check_arn("queue", label, &binding.sqs.arn, "sqs")?;
        }
        for (label, binding) in &topics {
            check_arn("topic", label, &binding.sns.arn, "sns")?;
        }
        Ok(Self {
            queues: queues.into_iter().map(|(label, b)| (label, b.sqs)).collect(),
            topics: topics.into_iter().map(|(label, b)| (label, b.sns.arn)).collect(),
            buses: buses.into_iter().map(|(label, b)| (label, b.eventbridge.name)).collect(),
        })
    }

    /// The first declared source without a binding, as `[<section>.<label>]`.
    pub fn first_unbound(&self, sources: &Sources) -> Option<String> {
        let queue = sources.queues.keys().find(|l| !self.queues.contains_key(*l)).map(|l| format!("[queue.{l}]"));
        let topic = sources.topics.iter().find(|l| !self.topics.contains_key(*l)).map(|l| format!("[topic.{l}]"));
        let bus = sources.buses.iter().find(|l| !self.buses.contains_key(*l)).map(|l| format!("[bus.{l}]"));
        queue.or(topic).or(bus)
    }

    /// The queue label bound to `arn`.
    pub fn queue_by_arn(&self, arn: &str) -> Option<&str> {
        self.queues.iter().find(|(_, queue)| queue.arn == arn).map(|(label, _)| label.as_str())
    }

    /// The topic label bound to `arn`.
    pub fn topic_by_arn(&self, arn: &str) -> Option<&str> {
        self.topics.iter().find(|(_, topic)| *topic == arn).map(|(label, _)| label.as_str())
    }
}
