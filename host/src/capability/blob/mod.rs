//! The `blob` capability: object containers opened by label, only as the manifest grants.
//!
//! - `mod.rs`     — [`BlobCtx`] (one plugin's grants), [`BlobContainer`] (an open
//!   container, the WIT resource), [`BlobView`] and `add_to_linker`;
//! - `host.rs`    — the generated `HostContainer` trait over a view: grant checks, then the backend;
//! - `backend.rs` — the [`BlobBackend`] trait and the rules all backends share (key validation);
//! - `fs.rs`      — the embedded backend (`plughost serve`), with its own presigned URLs;
//! - `s3.rs`      — the S3 backend (the only file importing `aws_sdk_s3` for plugin data).
//!
//! Grants are checked twice: at load (a grant must name a declared container, see
//! `manifest.rs`) and at use (`open` of an ungranted label, and writes or PUT URLs
//! through a read-only grant, are `access-denied`).

mod backend;
mod fs;
mod host;
mod s3;

pub use backend::{BlobBackend, ByteRange, MAX_BODY_BYTES, PutRequest, check_content_type};
pub use fs::{FsBlob, PRESIGNED_PATH, PresignedGrant, Staged, StagingWriter};
pub use s3::S3Blob;

use crate::capability::io_budget::IoBudget;
use crate::manifest::BlobQuota;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, ResourceTable};

/// What one plugin may do with one label: which backend and namespace it reaches, and
/// whether it may write.
#[derive(Clone)]
pub struct BlobGrant {
    pub backend: Arc<dyn BlobBackend>,
    /// Keeps this label's objects apart from every other label's in a shared backend.
    pub namespace: Arc<str>,
    pub writable: bool,
    /// The container's quotas (`[blob.<label>]` in the manifest).
    pub quota: BlobQuota,
}

/// One plugin's blob grants, by label. Shared by all its requests.
#[derive(Clone, Default)]
pub struct BlobCtx {
    grants: Arc<BTreeMap<String, BlobGrant>>,
}

impl BlobCtx {
    pub fn new(grants: BTreeMap<String, BlobGrant>) -> Self {
        Self { grants: Arc::new(grants) }
    }
}

/// An open container: the WIT `container` resource.
pub struct BlobContainer {
    label: String,
    grant: BlobGrant,
}

/// What the generated host traits are implemented on: the plugin's grants plus the
/// request's resource table (shared with WASI and kv).
pub struct BlobView<'a> {
    ctx: &'a BlobCtx,
    table: &'a mut ResourceTable,
    /// This request's bytes through storage calls (shared with the other capabilities).
    io: &'a IoBudget,
}

impl<'a> BlobView<'a> {
    pub fn new(ctx: &'a BlobCtx, table: &'a mut ResourceTable, io: &'a IoBudget) -> Self {
        Self { ctx, table, io }
    }
}

struct HasBlob;

impl HasData for HasBlob {
    type Data<'a> = BlobView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> BlobView<'_>) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::blob::add_to_linker::<T, HasBlob>(linker, get)?;
    Ok(())
}
