//! Deployments in S3: what the Lambda serves and operators change.
//!
//! A deployment is one S3 location, `s3://<bucket>/<dir>/manifest.toml`, and beside it
//! the components, stored by content:
//!
//! ```text
//! s3://bucket/<dir>/manifest.toml                 the deployed manifest (digests, not paths)
//! s3://bucket/<dir>/plugins/<id>/<sha256>.wasm    every component ever pushed, immutable
//! ```
//!
//! - `store.rs`    — the only file here that talks to S3: manifest reads (conditional on
//!   the ETag) and writes (conditional: create-only or If-Match), component uploads and
//!   downloads, and errors an operator can act on (missing bucket, credentials, ...);
//! - `document.rs` — the deployed manifest as a TOML document: turn a local manifest into
//!   one, set a plugin's digest, roll back (the `[history]` table);
//! - `ops.rs`      — the operator commands `deploy`, `push`, `status`, `rollback`: validate
//!   locally, upload by digest, update the manifest with compare-and-swap (retried on
//!   conflict, so two concurrent pushes never lose each other's change).
//!
//! The host reads deployments through `source.rs`.

pub mod document;
pub mod ops;
pub mod store;

pub use store::{DeploymentStore, ManifestRead};

use crate::manifest::{Digest, PluginId};
use std::fmt;

/// Where a deployment's manifest lives: `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// The manifest's key, e.g. `prod/manifest.toml`.
    pub key: String,
}

impl Location {
    /// Parses `s3://bucket/key`; `None` if `text` is not an `s3://` URL at all (a path).
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let rest = text.strip_prefix("s3://")?;
        let parsed = match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => {
                Ok(Self { bucket: bucket.to_owned(), key: key.to_owned() })
            }
            _ => Err(format!(
                "invalid deployment `{text}`: expected s3://<bucket>/<manifest key>, e.g. s3://my-bucket/manifest.toml"
            )),
        };
        Some(parsed)
    }

    /// The folder the manifest is in (`""` or ending in `/`): components live under it.
    fn dir(&self) -> &str {
        match self.key.rfind('/') {
            Some(slash) => &self.key[..=slash],
            None => "",
        }
    }

    /// The key of a plugin's component with this digest.
    pub fn component_key(&self, plugin: &PluginId, digest: &Digest) -> String {
        format!("{}plugins/{plugin}/{}.wasm", self.dir(), digest.hex())
    }

    /// The key of a compiled artifact (engine compatibility hash + component digest).
    pub fn artifact_key(&self, file_name: &str) -> String {
        format!("{}compiled/{file_name}", self.dir())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_live_beside_the_manifest() {
        let digest = Digest::of(b"x");
        let id = PluginId::parse("hello").unwrap();
        let at_root = Location::parse("s3://b/manifest.toml").unwrap().unwrap();
        assert_eq!(at_root.component_key(&id, &digest), format!("plugins/hello/{}.wasm", digest.hex()));
        let nested = Location::parse("s3://b/prod/v1/manifest.toml").unwrap().unwrap();
        assert_eq!(nested.component_key(&id, &digest), format!("prod/v1/plugins/hello/{}.wasm", digest.hex()));
        assert_eq!(nested.to_string(), "s3://b/prod/v1/manifest.toml");
    }

    #[test]
    fn only_s3_urls_with_bucket_and_key_are_locations() {
        assert!(Location::parse("plughost.toml").is_none());
        assert!(Location::parse("s3://bucket").unwrap().is_err());
        assert!(Location::parse("s3:///key").unwrap().is_err());
        assert!(Location::parse("s3://bucket/dir/").unwrap().is_err());
    }
}
