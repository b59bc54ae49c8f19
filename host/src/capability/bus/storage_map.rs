//! `bus.<label>` in the operator's storage map: the EventBridge bus a label is, and
//! [`open`], which creates this process's bus backends.
//!
//! ```toml
//! [bus.app]
//! eventbridge = { name = "plughost-dev-app" }
//! ```
//!
//! The name is where events are put. (Terraform's rules wrap each event in an envelope
//! naming the bus's label, so no lookup by name is needed.)

use super::{BusBackend, EmbeddedBus, EventBridgeBus};
use crate::capability::grants::Placement;
use crate::capability::labelled::{Backends, Bindings, Env, PlacedBackends};
use std::sync::Arc;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusBinding {
    pub eventbridge: EventBridgeAddress,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBridgeAddress {
    pub name: String,
}

/// The embedded bus (delivery through `serve`'s outbox to matching triggers), plus
/// EventBridge for each bound bus.
pub fn open(env: &Env, bindings: &Bindings) -> anyhow::Result<Arc<dyn Backends>> {
    let mut placement = Placement::<dyn BusBackend>::new(Arc::new(EmbeddedBus::new(env.local_events.clone())));
    let bound = bindings.parse::<BusBinding>()?;
    if !bound.is_empty() {
        let backend = Arc::new(EventBridgeBus::new(crate::platform::aws::eventbridge(bindings.aws(env)?)));
        for (label, binding) in bound {
            let name = binding.eventbridge.name;
            if name.is_empty() || name.len() > 256 {
                return Err(bindings.error(&label, "`name` must be an EventBridge bus name (1-256 characters)"));
            }
            tracing::info!(bus = label, name, "bus bound to EventBridge");
            placement.bind(label, backend.clone(), &name, &name);
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
