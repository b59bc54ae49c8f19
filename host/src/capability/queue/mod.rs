//! The `queue` capability: plugins send messages to queues opened by label, only as the
//! manifest grants (`queue = { orders = "send" }`). Everything about it lives in this
//! folder:
//!
//! - `mod.rs`         — [`KIND`], the types the host functions work on, `add_to_linker`;
//! - `spec/queues.rs` (in the spec layer, because a queue's consumer — a trigger — obeys
//!   it too) — `[queue.<label>]` in the manifest: delivery rules (max receives,
//!   visibility timeout, FIFO, topic subscriptions);
//! - `storage_map.rs` — `queue.<label>` in the storage map: an SQS queue's ARN and URL;
//! - `events.rs`      — SQS records in Lambda as `message` events of their queue's label;
//! - `host.rs`        — the generated `HostQueue` trait: grant and input checks, then the backend;
//! - `limits.rs`      — SQS's limits, applied before any backend sees a message;
//! - `backend.rs`     — the [`QueueBackend`] trait;
//! - `local.rs`       — the embedded backend: `serve`'s durable local queue;
//! - `sqs.rs`         — the SQS backend (the capability's only file importing `aws_sdk_sqs`).
//!
//! Consuming a queue is a trigger (`events = [{ queue = "orders" }]`, `spec/triggers.rs`):
//! the message reaches the consumer's `events` export in Lambda (SQS event source mapping,
//! `events.rs`) and in `serve` (the local pump) alike.

mod backend;
mod events;
mod host;
pub mod limits;
mod local;
mod sqs;
mod storage_map;

pub use crate::spec::queues::QueueSpec;
pub use backend::QueueBackend;
pub use local::EmbeddedQueue;
pub use sqs::SqsQueueBackend;

use crate::capability::grants::{Grant, Granted, LabelView};
use crate::capability::labelled::Kind;
use crate::capability::state::State;
use wasmtime::component::{HasData, Linker};

/// The grant: sending. (Consuming is a trigger, not a grant.)
const SEND: &str = "send";

fn writes(access: &str) -> bool {
    access == SEND
}

pub const KIND: Kind = Kind {
    name: "queue",
    noun: "queue",
    interface: "plughost:plugin/queue",
    accesses: &[SEND],
    bound_to: "an SQS queue (`{\"sqs\": {\"arn\": ..., \"url\": ...}}`)",
    check_declaration: |table| QueueSpec::parse(table).map(drop),
    open: storage_map::open,
    add_to_linker,
    events: Some(&events::EVENTS),
    // Declared with their delivery rules in `queues`, `topics`, `buses` (`cli/tfvars.rs`).
    terraform_labels: None,
};

/// An open queue: the WIT `queue` resource.
pub type OpenQueue = Grant<dyn QueueBackend, QueueSpec>;
/// One plugin's queue grants.
pub type QueueGranted = Granted<dyn QueueBackend, QueueSpec>;
/// What the generated host traits are implemented on.
pub type QueueView<'a> = LabelView<'a, dyn QueueBackend, QueueSpec>;

struct HasQueue;

impl HasData for HasQueue {
    type Data<'a> = QueueView<'a>;
}

fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::queue::add_to_linker::<State, HasQueue>(linker, |state| state.label_view())?;
    Ok(())
}
