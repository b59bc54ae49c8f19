//! The `topic` capability: plugins publish notifications to topics opened by label, only
//! as the manifest grants (`topic = { alerts = "publish" }`). Everything about it lives in
//! this folder:
//!
//! - `mod.rs`         — [`KIND`], the types the host functions work on, `add_to_linker`;
//! - `declaration.rs` — `[topic.<label>]` in the manifest (no settings);
//! - `storage_map.rs` — `topic.<label>` in the storage map: an SNS topic's ARN;
//! - `events.rs`      — SNS records in Lambda as `notification` events of their topic's label;
//! - `host.rs`        — the generated `HostTopic` trait: grant and input checks, then the backend;
//! - `limits.rs`      — SNS's limits, applied before any backend sees a notification;
//! - `backend.rs`     — the [`TopicBackend`] trait;
//! - `local.rs`       — the embedded backend: fan-out through `serve`'s outbox;
//! - `sns.rs`         — the SNS backend (the only file importing `aws_sdk_sns`).
//!
//! Receiving is a trigger (`events = [{ topic = "alerts" }]`, or a queue's `topics`).

mod backend;
mod declaration;
mod events;
mod host;
pub mod limits;
mod local;
mod sns;
mod storage_map;

pub use backend::TopicBackend;
pub use local::EmbeddedTopic;
pub use sns::SnsTopicBackend;

use crate::capability::grants::{Grant, Granted, LabelView};
use crate::capability::labelled::Kind;
use crate::capability::state::State;
use wasmtime::component::{HasData, Linker};

const PUBLISH: &str = "publish";

fn writes(access: &str) -> bool {
    access == PUBLISH
}

pub const KIND: Kind = Kind {
    name: "topic",
    noun: "topic",
    interface: "plughost:plugin/topic",
    accesses: &[PUBLISH],
    bound_to: "an SNS topic (`{\"sns\": {\"arn\": ...}}`)",
    check_declaration: declaration::check,
    open: storage_map::open,
    add_to_linker,
    events: Some(&events::EVENTS),
    // Declared with their delivery rules in `queues`, `topics`, `buses` (`cli/tfvars.rs`).
    terraform_labels: None,
};

/// An open topic: the WIT `topic` resource.
pub type OpenTopic = Grant<dyn TopicBackend, ()>;
/// One plugin's topic grants.
pub type TopicGranted = Granted<dyn TopicBackend, ()>;
/// What the generated host traits are implemented on.
pub type TopicView<'a> = LabelView<'a, dyn TopicBackend, ()>;

struct HasTopic;

impl HasData for HasTopic {
    type Data<'a> = TopicView<'a>;
}

fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::topic::add_to_linker::<State, HasTopic>(linker, |state| state.label_view())?;
    Ok(())
}
