//! `blob.<label>` in the operator's storage map: where a container lives when it is not
//! embedded, and [`open`], which creates this process's blob backends.
//!
//! ```toml
//! [blob.images]
//! s3 = { bucket = "plughost-data", prefix = "images" }
//! ```
//!
//! Several containers may share one bucket: the prefix is the container's namespace.

use super::{BlobBackend, BlobQuota, FsBlob, S3Blob};
use crate::capability::grants::Placement;
use crate::capability::labelled::{Backends, Bindings, Env, PlacedBackends};
use std::sync::Arc;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BlobBinding {
    s3: S3Binding,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct S3Binding {
    bucket: String,
    /// Keeps this container's objects apart from others in the same bucket: its objects
    /// are `<prefix>/<key>`.
    prefix: String,
}

/// The embedded folder `<data-dir>/blobs` (every container a namespace of it), plus an S3
/// backend for each bound container.
pub fn open(env: &Env, bindings: &Bindings) -> anyhow::Result<Arc<dyn Backends>> {
    let path = env.data_dir.join("blobs");
    let embedded = Arc::new(
        FsBlob::open(&path, env.public_url).map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", path.display()))?,
    );
    let mut placement = Placement::<dyn BlobBackend>::new(embedded.clone());
    let bound = bindings.parse::<BlobBinding>()?;
    if !bound.is_empty() {
        let client = crate::platform::aws::s3(bindings.aws(env)?);
        for (label, binding) in bound {
            let S3Binding { bucket, prefix } = binding.s3;
            // The prefix is one path segment, so `<prefix>/<key>` of one container can
            // never be a key of another (`a` vs `a/b`).
            let valid_prefix = !prefix.is_empty()
                && prefix.len() <= 128
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && prefix != "."
                && prefix != "..";
            if bucket.is_empty() || !valid_prefix {
                return Err(bindings.error(
                    &label,
                    "`bucket` must be non-empty and `prefix` one segment of letters, digits, `-`, `_`, `.`",
                ));
            }
            tracing::info!(container = label, bucket, prefix, "blob container bound to S3");
            placement.bind(label, Arc::new(S3Blob::new(client.clone(), bucket.clone())), &bucket, &prefix);
        }
    }
    // The embedded folder's presigned URLs are answered by the local server.
    let local_routes = Some(super::router(embedded.clone()));
    let event_feed: Option<Arc<dyn crate::capability::labelled::EventFeed>> = Some(embedded);
    Ok(Arc::new(PlacedBackends { placement, quota: BlobQuota::parse, writes: super::writes, local_routes, event_feed }))
}
