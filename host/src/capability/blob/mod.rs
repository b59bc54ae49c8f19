//! The `blob` capability: object containers opened by label, only as the manifest grants.
//! Everything about it lives in this folder:
//!
//! - `mod.rs`         — [`KIND`] (what the host's generic parts need), the types the host
//!   functions work on, `add_to_linker`;
//! - `declaration.rs` — `[blob.<label>]` in the manifest: the container's quotas;
//! - `storage_map.rs` — `blob.<label>` in the storage map: an S3 bucket and key prefix;
//! - `host.rs`        — the generated `HostContainer` trait: grant and input checks, then the backend;
//! - `limits.rs`      — the input rules `host.rs` applies before any backend sees a call;
//! - `backend.rs`     — the [`BlobBackend`] trait;
//! - `fs.rs`          — the embedded backend (`plughost serve`, `<data-dir>/blobs/`);
//! - `presign.rs`     — the embedded backend's presigned-URL protocol (sign, verify);
//! - `routes.rs`      — the local HTTP endpoint that answers those URLs (`plughost serve`);
//! - `s3.rs`          — the S3 backend (the only file importing `aws_sdk_s3` for plugin data);
//! - `events.rs`      — its object events (`events = [{ object = "<label>" }]`) as S3 event
//!   notifications bring them to Lambda.
//!
//! Grants are checked twice: at load (a grant must name a declared container, see
//! `spec/manifest.rs`; a component importing `blob` must be granted one, see `runtime/plugin.rs`) and
//! at use (`open` of an ungranted label, and writes or PUT URLs through a read grant, are
//! `access-denied`).

mod backend;
mod declaration;
mod events;
mod fs;
mod host;
pub mod limits;
mod presign;
mod routes;
mod s3;
mod storage_map;

pub use backend::{BlobBackend, ByteRange, PutRequest};
pub use declaration::BlobQuota;
pub use fs::{FsBlob, Staged, StagingWriter};
pub use presign::{PRESIGNED_PATH, PresignedGrant, Presigner};
pub use routes::router;
pub use s3::S3Blob;

use crate::capability::grants::{Grant, Granted, LabelView};
use crate::capability::labelled::Kind;
use crate::capability::state::State;
use wasmtime::component::{HasData, Linker};

/// The grant that writes (and may hand out PUT URLs).
const READ_WRITE: &str = "read-write";

/// Whether a grant word allows writing.
fn writes(access: &str) -> bool {
    access == READ_WRITE
}

pub const KIND: Kind = Kind {
    name: "blob",
    noun: "blob container",
    interface: "plughost:plugin/blob",
    accesses: &["read", READ_WRITE],
    bound_to: "an S3 bucket",
    check_declaration: |table| BlobQuota::parse(table).map(drop),
    open: storage_map::open,
    add_to_linker,
    events: Some(&events::EVENTS),
    terraform_labels: Some("blob_containers"),
};

/// An open container: the WIT `container` resource.
pub type BlobContainer = Grant<dyn BlobBackend, BlobQuota>;
/// One plugin's containers.
pub type BlobGranted = Granted<dyn BlobBackend, BlobQuota>;
/// What the generated host traits are implemented on.
pub type BlobView<'a> = LabelView<'a, dyn BlobBackend, BlobQuota>;

struct HasBlob;

impl HasData for HasBlob {
    type Data<'a> = BlobView<'a>;
}

fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::blob::add_to_linker::<State, HasBlob>(linker, |state| state.label_view())?;
    Ok(())
}
