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
//!
//! The host reads deployments through `runtime/source.rs`; operators change them with
//! `cli/operator.rs` (`deploy`, `push`, `status`, `rollback`).

pub mod document;
pub mod store;

pub use store::{DeploymentStore, ManifestRead};

use crate::spec::manifest::{Digest, PluginId};
use std::fmt;

/// Where a deployment's manifest lives: `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// The manifest's key, e.g. `prod/manifest.toml`.
    pub key: String,
}

impl Location {
    /// Whether `text` names a deployment at all (an `s3://` URL) rather than a file.
    pub fn is_deployment(text: &str) -> bool {
        text.starts_with("s3://")
    }

    /// Parses `s3://bucket/key`; the error says what a deployment looks like.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.strip_prefix("s3://").and_then(|rest| rest.split_once('/')) {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => {
                Ok(Self { bucket: bucket.to_owned(), key: key.to_owned() })
            }
            _ => Err(format!(
                "`{text}` is not a deployment: expected s3://<bucket>/<manifest key>, e.g. s3://my-bucket/manifest.toml"
            )),
        }
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
        let at_root = Location::parse("s3://b/manifest.toml").unwrap();
        assert_eq!(at_root.component_key(&id, &digest), format!("plugins/hello/{}.wasm", digest.hex()));
        let nested = Location::parse("s3://b/prod/v1/manifest.toml").unwrap();
        assert_eq!(nested.component_key(&id, &digest), format!("prod/v1/plugins/hello/{}.wasm", digest.hex()));
        assert_eq!(nested.to_string(), "s3://b/prod/v1/manifest.toml");
    }

    #[test]
    fn only_s3_urls_with_bucket_and_key_are_locations() {
        assert!(!Location::is_deployment("plughost.toml"));
        assert!(Location::is_deployment("s3://bucket"));
        for text in ["plughost.toml", "s3://bucket", "s3:///key", "s3://bucket/dir/"] {
            let error = Location::parse(text).unwrap_err();
            assert!(error.contains(&format!("`{text}` is not a deployment")), "{error}");
        }
    }
}
