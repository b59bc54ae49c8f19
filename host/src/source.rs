//! [`ManifestSource`]: where the host's manifest and components come from — a local file
//! (`plughost serve`, `check`) or a deployment in S3 (the Lambda, or `serve --manifest
//! s3://...`).
//!
//! A fetch from S3 is conditional on the ETag of the version last fetched, so polling an
//! unchanged deployment costs one 304. Components are fetched only when no compilation of
//! their digest exists yet; the loader verifies their bytes against the digest. Failures
//! are split in two: [`FetchError::Rejected`] — this version of the deployment is bad
//! and stays bad (do not retry until it changes) — and [`FetchError::Unavailable`] — S3
//! could not be read just now (retry).

use crate::deploy::{DeploymentStore, Location, ManifestRead};
use crate::loader::{Fetched, Loader};
use crate::manifest::{ComponentRef, LimitBounds, Manifest};
use std::fmt;
use std::path::{Path, PathBuf};

pub enum ManifestSource {
    File(PathBuf),
    Deployment(DeploymentStore),
}

/// A manifest with what is needed to build its table.
pub struct Snapshot {
    pub manifest: Manifest,
    /// The deployment's ETag (`None` for files: they are always read again).
    pub version: Option<String>,
    pub components: Fetched,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{error:#}")]
    Rejected { version: String, error: anyhow::Error },
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
}

impl ManifestSource {
    /// `s3://bucket/key` is a deployment (S3 client from the environment), anything else
    /// a file path.
    pub async fn from_arg(arg: &str) -> anyhow::Result<Self> {
        match Location::parse(arg) {
            Some(location) => {
                Ok(Self::Deployment(DeploymentStore::from_env(location.map_err(anyhow::Error::msg)?).await))
            }
            None => Ok(Self::File(PathBuf::from(arg))),
        }
    }

    /// The manifest file, if the source is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Deployment(_) => None,
        }
    }

    /// The current manifest and the components to build it, or `None` if the deployment
    /// is still at `known_version`.
    pub async fn fetch(
        &self,
        bounds: &LimitBounds,
        loader: &Loader,
        known_version: Option<&str>,
    ) -> Result<Option<Snapshot>, FetchError> {
        let store = match self {
            Self::File(path) => {
                let manifest = Manifest::load(path, bounds).map_err(|e| FetchError::Unavailable(e.into()))?;
                return Ok(Some(Snapshot { manifest, version: None, components: Fetched::new() }));
            }
            Self::Deployment(store) => store,
        };
        let origin = store.location().to_string();
        let (text, version) = match store.read_manifest(known_version).await.map_err(FetchError::Unavailable)? {
            ManifestRead::NotModified => return Ok(None),
            ManifestRead::Missing => {
                return Err(FetchError::Unavailable(anyhow::anyhow!(
                    "{origin}: no manifest there yet (deploy one with `plughost deploy <plughost.toml>`)"
                )));
            }
            ManifestRead::Found { text, etag } => (text, etag),
        };
        let reject = |error: anyhow::Error| FetchError::Rejected { version: version.clone(), error };
        let manifest = Manifest::parse(Path::new(&origin), &text, bounds).map_err(|e| reject(e.into()))?;
        let mut wanted = Vec::new();
        for spec in &manifest.plugins {
            match &spec.source {
                ComponentRef::Digest(digest) if !loader.has_compiled(digest) => wanted.push((&spec.id, digest)),
                ComponentRef::Digest(_) => {}
                ComponentRef::File(path) => {
                    return Err(reject(anyhow::anyhow!(
                        "{origin}: plugin `{}`: a deployed manifest names components by `digest`, not `source = {:?}` \
                         (deploy with `plughost deploy`, which uploads them)",
                        spec.id,
                        path.display()
                    )));
                }
            }
        }
        let origin = &origin;
        let downloads = wanted.into_iter().map(|(id, digest)| async move {
            if !store.has_component(id, digest).await? {
                return Ok(Err(anyhow::anyhow!("{origin}: plugin `{id}`: component {digest} is not in the bucket")));
            }
            Ok(Ok((digest.clone(), store.get_component(id, digest).await?)))
        });
        let mut components = Fetched::new();
        for outcome in futures::future::try_join_all(downloads).await.map_err(FetchError::Unavailable)? {
            let (digest, bytes) = outcome.map_err(reject)?;
            components.insert(digest, bytes);
        }
        Ok(Some(Snapshot { manifest, version: Some(version), components }))
    }
}

impl fmt::Display for ManifestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Deployment(store) => write!(f, "{}", store.location()),
        }
    }
}
