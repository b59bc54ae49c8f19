//! `topic.<label>` in the operator's storage map: the SNS topic a label is, and [`open`],
//! which creates this process's topic backends.
//!
//! ```toml
//! [topic.alerts]
//! sns = { arn = "arn:aws:sns:eu-west-1:123456789012:alerts" }
//! ```
//!
//! The ARN is where notifications are published and how SNS events name the topic
//! (`routing/addresses.rs` looks labels up by it).

use super::{EmbeddedTopic, SnsTopicBackend, TopicBackend};
use crate::capability::grants::Placement;
use crate::capability::labelled::{Backends, Bindings, Env, PlacedBackends};
use std::sync::Arc;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicBinding {
    pub sns: SnsAddress,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsAddress {
    pub arn: String,
}

/// The embedded topic (fan-out through `serve`'s outbox), plus SNS for each bound topic.
pub fn open(env: &Env, bindings: &Bindings) -> anyhow::Result<Arc<dyn Backends>> {
    let mut placement = Placement::<dyn TopicBackend>::new(Arc::new(EmbeddedTopic::new(env.local_events.clone())));
    let bound = bindings.parse::<TopicBinding>()?;
    if !bound.is_empty() {
        let backend = Arc::new(SnsTopicBackend::new(crate::platform::aws::sns(bindings.aws(env)?)));
        for (label, binding) in bound {
            let arn = binding.sns.arn;
            if !(arn.starts_with("arn:aws:sns:") || arn.starts_with("arn:aws-")) {
                return Err(bindings.error(&label, &format!("`{arn}` is not an SNS topic ARN")));
            }
            tracing::info!(topic = label, arn, "topic bound to SNS");
            placement.bind(label, backend.clone(), &arn, &arn);
        }
    }
    Ok(Arc::new(PlacedBackends {
        placement,
        quota: |_| Ok(()),
        writes: super::writes,
        local_routes: None,
        event_feed: None,
    }))
}
