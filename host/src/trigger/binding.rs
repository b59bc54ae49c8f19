//! Where each bound queue, topic and bus lives as AWS names it in events (an ARN, a bus
//! name), so an event from AWS finds its label and `serve` can poll a bound queue. Read
//! from the storage map's `queue`, `topic` and `bus` sections, whose syntax those
//! capabilities own (`capability/{queue,topic,bus}/binding.rs`).

use super::Sources;
use crate::capability::bus::binding::BusBinding;
use crate::capability::queue::binding::{QueueBinding, SqsAddress};
use crate::capability::topic::binding::TopicBinding;
use std::collections::BTreeMap;

/// Where each bound queue, topic and bus lives.
#[derive(Debug, Clone, Default)]
pub struct SourceBindings {
    pub queues: BTreeMap<String, SqsAddress>,
    /// label -> topic ARN
    pub topics: BTreeMap<String, String>,
    /// label -> bus name
    pub buses: BTreeMap<String, String>,
}

impl SourceBindings {
    /// Reads the map's `queue`, `topic` and `bus` sections; errors name `origin`, the
    /// section and the label (the capabilities check the rest when they open).
    pub fn read(map: &BTreeMap<String, BTreeMap<String, serde_json::Value>>, origin: &str) -> anyhow::Result<Self> {
        fn parse<T: serde::de::DeserializeOwned>(
            map: &BTreeMap<String, BTreeMap<String, serde_json::Value>>,
            section: &str,
            origin: &str,
            example: &str,
        ) -> anyhow::Result<BTreeMap<String, T>> {
            map.get(section)
                .into_iter()
                .flatten()
                .map(|(label, value)| {
                    serde_json::from_value(value.clone())
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
