//! The `kv` capability: key-value stores opened by label, only as the manifest grants.
//! Everything about it lives in this folder:
//!
//! - `mod.rs`         — [`KIND`] (what the host's generic parts need), the types the host
//!   functions work on, `add_to_linker`;
//! - `declaration.rs` — `[kv.<label>]` in the manifest: the store's quotas;
//! - `storage_map.rs` — `kv.<label>` in the storage map: a DynamoDB table and key prefix;
//! - `host.rs`        — the generated `HostStore` trait: grant and input checks, then the backend;
//! - `limits.rs`      — the input rules `host.rs` applies before any backend sees a call;
//! - `backend.rs`     — the [`KvBackend`] trait and the semantics every backend shares;
//! - `sqlite.rs`      — the embedded backend (`plughost serve`, `<data-dir>/kv.sqlite3`);
//! - `dynamo.rs`      — the DynamoDB backend (the only file importing `aws_sdk_dynamodb`);
//! - `events.rs`      — its change events (`events = [{ changes = "<label>" }]`) as DynamoDB
//!   Streams records bring them to Lambda.
//!
//! Grants are checked twice: at load (a grant must name a declared store, see
//! `spec/manifest.rs`; a component importing `kv` must be granted a store, see `runtime/plugin.rs`)
//! and at use (`open` of an ungranted label and writes through a read grant are
//! `access-denied`).

mod backend;
mod declaration;
mod dynamo;
mod events;
mod host;
pub mod limits;
mod sqlite;
mod storage_map;

pub use backend::KvBackend;
pub use declaration::KvQuota;
pub use dynamo::{DynamoKv, NAMESPACE_INDEX};
pub use sqlite::SqliteKv;

use crate::capability::grants::{Grant, Granted, LabelView};
use crate::capability::labelled::Kind;
use crate::capability::state::State;
use wasmtime::component::{HasData, Linker};

/// The grant that writes.
const READ_WRITE: &str = "read-write";

/// Whether a grant word allows writing.
fn writes(access: &str) -> bool {
    access == READ_WRITE
}

pub const KIND: Kind = Kind {
    name: "kv",
    noun: "kv store",
    interface: "plughost:plugin/kv",
    accesses: &["read", READ_WRITE],
    bound_to: "a DynamoDB table",
    check_declaration: |table| KvQuota::parse(table).map(drop),
    open: storage_map::open,
    add_to_linker,
    events: Some(&events::EVENTS),
    terraform_labels: Some("kv_stores"),
};

/// An open store: the WIT `store` resource.
pub type KvStore = Grant<dyn KvBackend, KvQuota>;
/// One plugin's stores.
pub type KvGranted = Granted<dyn KvBackend, KvQuota>;
/// What the generated host traits are implemented on.
pub type KvView<'a> = LabelView<'a, dyn KvBackend, KvQuota>;

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::kv::add_to_linker::<State, HasKv>(linker, |state| state.label_view())?;
    Ok(())
}
