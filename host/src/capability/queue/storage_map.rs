//! `queue.<label>` in the operator's storage map: the SQS queue a label is, and [`open`],
//! which creates this process's queue backends.
//!
//! ```toml
//! [queue.orders]
//! sqs = { arn = "arn:aws:sqs:eu-west-1:123456789012:orders", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders" }
//! ```
//!
//! The ARN is how events from AWS name the queue (`routing/addresses.rs` looks labels up by
//! it); the URL is where messages are sent (looked up from the ARN once when it is left
//! out) and what `serve` polls.

use super::{EmbeddedQueue, QueueBackend, QueueSpec, SqsQueueBackend};
use crate::capability::grants::Placement;
use crate::capability::labelled::{Backends, Bindings, Env, PlacedBackends};
use std::sync::Arc;

/// A queue's binding.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueBinding {
    pub sqs: SqsAddress,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsAddress {
    pub arn: String,
    /// Where messages are sent and `serve` polls; looked up from the ARN when absent.
    pub url: Option<String>,
}

/// The embedded durable queue (`<data-dir>/events.sqlite3`, shared with `serve`'s
/// consumers), plus an SQS backend for each bound queue.
pub fn open(env: &Env, bindings: &Bindings) -> anyhow::Result<Arc<dyn Backends>> {
    let mut placement = Placement::<dyn QueueBackend>::new(Arc::new(EmbeddedQueue::new(env.local_events.clone())));
    let bound = bindings.parse::<QueueBinding>()?;
    if !bound.is_empty() {
        let backend = Arc::new(SqsQueueBackend::new(crate::platform::aws::sqs(bindings.aws(env)?)));
        for (label, binding) in bound {
            let SqsAddress { arn, url } = binding.sqs;
            if !(arn.starts_with("arn:aws:sqs:") || arn.starts_with("arn:aws-")) {
                return Err(bindings.error(&label, &format!("`{arn}` is not an SQS queue ARN")));
            }
            tracing::info!(queue = label, arn, "queue bound to SQS");
            // The namespace is where a send goes: the URL, or the ARN to look it up from.
            let namespace = url.unwrap_or_else(|| arn.clone());
            placement.bind(label, backend.clone(), &arn, &namespace);
        }
    }
    Ok(Arc::new(PlacedBackends {
        placement,
        quota: QueueSpec::parse,
        writes: super::writes,
        local_routes: None,
        event_feed: None,
    }))
}
