//! The `bus` capability: plugins put events on event buses opened by label, only as the
//! manifest grants (`bus = { app = "put" }`). Everything about it lives in this folder:
//!
//! - `mod.rs`          — [`KIND`], the types the host functions work on, `add_to_linker`;
//! - `declaration.rs`  — `[bus.<label>]` in the manifest (no settings);
//! - `storage_map.rs`      — `bus.<label>` in the storage map: an EventBridge bus's name;
//! - `host.rs`         — the generated `HostBus` trait: grant and input checks, then the backend;
//! - `limits.rs`       — EventBridge's limits, applied before any backend sees an event;
//! - `backend.rs`      — the [`BusBackend`] trait;
//! - `local.rs`        — the embedded backend: delivery to matching triggers through `serve`'s outbox;
//! - `eventbridge.rs`  — the EventBridge backend (the only file importing `aws_sdk_eventbridge`).
//!
//! Receiving is a trigger with an EventBridge pattern (`events = [{ bus = "app", pattern = {...} }]`).

mod backend;
mod declaration;
mod eventbridge;
mod host;
pub mod limits;
mod local;
mod storage_map;

pub use backend::BusBackend;
pub use eventbridge::EventBridgeBus;
pub use local::EmbeddedBus;

use crate::capability::grants::{Grant, Granted, LabelView};
use crate::capability::labelled::Kind;
use crate::capability::state::State;
use wasmtime::component::{HasData, Linker};

const PUT: &str = "put";

fn writes(access: &str) -> bool {
    access == PUT
}

pub const KIND: Kind = Kind {
    name: "bus",
    noun: "bus",
    interface: "plughost:plugin/bus",
    accesses: &[PUT],
    bound_to: "an EventBridge bus (`{\"eventbridge\": {\"name\": ...}}`)",
    check_declaration: declaration::check,
    open: storage_map::open,
    add_to_linker,
    events: None,
    // Declared with their delivery rules in `queues`, `topics`, `buses` (`cli/tfvars.rs`).
    terraform_labels: None,
};

/// An open bus: the WIT `bus` resource.
pub type OpenBus = Grant<dyn BusBackend, ()>;
/// One plugin's bus grants.
pub type BusGranted = Granted<dyn BusBackend, ()>;
/// What the generated host traits are implemented on.
pub type BusView<'a> = LabelView<'a, dyn BusBackend, ()>;

struct HasBus;

impl HasData for HasBus {
    type Data<'a> = BusView<'a>;
}

fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::bus::add_to_linker::<State, HasBus>(linker, |state| state.label_view())?;
    Ok(())
}
