//! The `kv` capability: key-value stores opened by label, only as the manifest grants.
//!
//! - `mod.rs`     — [`KvCtx`] (one plugin's grants), [`KvStore`] (an open store, the
//!   WIT resource), [`KvView`] and `add_to_linker`;
//! - `host.rs`    — the generated `HostStore` trait over a view: grant checks, then the backend;
//! - `backend.rs` — the [`KvBackend`] trait and the limits all backends share;
//! - `sqlite.rs`  — the embedded backend (`plughost serve`);
//! - `dynamo.rs`  — the DynamoDB backend (the only file importing `aws_sdk_dynamodb`).
//!
//! Grants are checked twice: at load (a grant must name a declared store, see
//! `manifest.rs`) and at use (`open` of an ungranted label and writes through a
//! read-only grant are `access-denied`).

mod backend;
mod dynamo;
mod host;
mod sqlite;

pub use backend::KvBackend;
pub use dynamo::{DynamoKv, NAMESPACE_INDEX};
pub use sqlite::SqliteKv;

use crate::capability::io_budget::IoBudget;
use crate::manifest::KvQuota;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, ResourceTable};

/// What one plugin may do with one label: which backend and namespace it reaches, and
/// whether it may write.
#[derive(Clone)]
pub struct KvGrant {
    pub backend: Arc<dyn KvBackend>,
    /// Keeps this label's keys apart from every other label's in a shared backend.
    pub namespace: Arc<str>,
    pub writable: bool,
    /// The store's quotas (`[kv.<label>]` in the manifest).
    pub quota: KvQuota,
}

/// One plugin's kv grants, by label. Shared by all its requests.
#[derive(Clone, Default)]
pub struct KvCtx {
    grants: Arc<BTreeMap<String, KvGrant>>,
}

impl KvCtx {
    pub fn new(grants: BTreeMap<String, KvGrant>) -> Self {
        Self { grants: Arc::new(grants) }
    }
}

/// An open store: the WIT `store` resource.
pub struct KvStore {
    label: String,
    grant: KvGrant,
}

/// What the generated host traits are implemented on: the plugin's grants plus the
/// request's resource table (shared with WASI).
pub struct KvView<'a> {
    ctx: &'a KvCtx,
    table: &'a mut ResourceTable,
    /// This request's bytes through storage calls (shared with the other capabilities).
    io: &'a IoBudget,
}

impl<'a> KvView<'a> {
    pub fn new(ctx: &'a KvCtx, table: &'a mut ResourceTable, io: &'a IoBudget) -> Self {
        Self { ctx, table, io }
    }
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> KvView<'_>) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::kv::add_to_linker::<T, HasKv>(linker, get)?;
    Ok(())
}
