//! [`ManifestSource`]: where the host's manifest and components come from — a local file
//! (`plughost serve`, `check`) or a deployment in S3 (the Lambda, or `serve --manifest
//! s3://...`).
//!
//! A fetch from S3 is conditional on the ETag of the version last fetched, so polling an
//! unchanged deployment costs one 304. Components are fetched only when no compilation of
//! their digest exists yet — in memory, in the local artifact cache, or (with an
//! artifact key) signed in the bucket's `compiled/` folder — and the loader verifies
//! their bytes against the digest. After a build, what was compiled here is shared
//! through the bucket for the next cold start ([`ManifestSource::share_artifacts`]). Failures
//! are split in two: [`FetchError::Rejected`] — this version of the deployment is bad
//! and stays bad (do not retry until it changes) — and [`FetchError::Unavailable`] — S3
//! could not be read just now (retry).

use crate::deploy::{DeploymentStore, Location, ManifestRead};
use crate::loader::{Fetched, Loader};
use crate::manifest::{ComponentRef, Digest, LimitBounds, Manifest};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub enum ManifestSource {
    File(PathBuf),
    Deployment {
        store: DeploymentStore,
        /// Signs and checks the compiled components shared through the bucket
        /// (`PLUGHOST_ARTIFACT_KEY`); `None`: nothing is shared.
        artifact_key: Option<Arc<[u8]>>,
    },
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
    /// `artifact_key` enables the shared compiled-component cache of a deployment.
    pub async fn from_arg(arg: &str, artifact_key: Option<&str>) -> anyhow::Result<Self> {
        match Location::parse(arg) {
            Some(location) => {
                let store = DeploymentStore::from_env(location.map_err(anyhow::Error::msg)?).await;
                let artifact_key = match artifact_key {
                    Some(key) if key.len() < 32 => {
                        anyhow::bail!("PLUGHOST_ARTIFACT_KEY must be at least 32 characters (it signs native code)")
                    }
                    key => key.map(|k| Arc::from(k.as_bytes())),
                };
                Ok(Self::Deployment { store, artifact_key })
            }
            None => Ok(Self::File(PathBuf::from(arg))),
        }
    }

    /// Where the deployment's manifest is, if the source is a deployment in S3.
    pub fn deployment(&self) -> Option<&Location> {
        match self {
            Self::File(_) => None,
            Self::Deployment { store, .. } => Some(store.location()),
        }
    }

    /// The manifest file, if the source is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Deployment { .. } => None,
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
            Self::Deployment { store, .. } => store,
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
            if self.precompiled(loader, digest).await {
                return Ok(Ok(None));
            }
            match store.get_component(id, digest).await? {
                Some(bytes) => Ok(Ok(Some((digest.clone(), bytes)))),
                None => Ok(Err(anyhow::anyhow!("{origin}: plugin `{id}`: component {digest} is not in the bucket"))),
            }
        });
        let mut components = Fetched::new();
        for outcome in futures::future::try_join_all(downloads).await.map_err(FetchError::Unavailable)? {
            if let Some((digest, bytes)) = outcome.map_err(reject)? {
                components.insert(digest, bytes);
            }
        }
        Ok(Some(Snapshot { manifest, version: Some(version), components }))
    }
}

impl fmt::Display for ManifestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Deployment { store, .. } => write!(f, "{}", store.location()),
        }
    }
}

impl ManifestSource {
    /// Whether the artifact cache has `digest` compiled — on local disk, or signed in the
    /// bucket (then copied to local disk) — so its component need not be downloaded.
    async fn precompiled(&self, loader: &Loader, digest: &Digest) -> bool {
        let engine = loader.engine();
        let Some(cache) = engine.artifact_cache() else { return false };
        if cache.has_valid(engine.engine(), digest.hex()) {
            return true;
        }
        let Self::Deployment { store, artifact_key: Some(key) } = self else { return false };
        let name = cache.file_name(engine.engine(), digest.hex());
        let object = store.location().artifact_key(&name);
        match store.get_object(&object, "download the compiled component").await {
            Ok(Some(signed)) if cache.import_signed(engine.engine(), digest.hex(), &signed, key) => {
                tracing::info!(
                    digest = digest.short(),
                    "compiled component fetched from the deployment's shared cache"
                );
                true
            }
            Ok(_) => false,
            Err(error) => {
                tracing::warn!("{error:#}; compiling instead");
                false
            }
        }
    }

    /// Uploads the signed artifacts of `digests` (just compiled here) to the bucket, so
    /// the next cold start anywhere deserializes them. Best effort, in the background.
    pub fn share_artifacts(self: &Arc<Self>, loader: &Loader, digests: Vec<Digest>) {
        let Self::Deployment { artifact_key: Some(key), .. } = self.as_ref() else { return };
        let engine = loader.engine().clone();
        let Some(cache) = engine.artifact_cache() else { return };
        let uploads: Vec<(String, Vec<u8>)> = digests
            .iter()
            .filter_map(|digest| {
                let signed = cache.export_signed(engine.engine(), digest.hex(), key)?;
                Some((cache.file_name(engine.engine(), digest.hex()), signed))
            })
            .collect();
        if uploads.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let Self::Deployment { store, .. } = this.as_ref() else { return };
            for (name, signed) in uploads {
                let key = store.location().artifact_key(&name);
                match store.put_object(&key, signed, "share the compiled component").await {
                    Ok(()) => tracing::info!(artifact = name, "compiled component shared through the deployment"),
                    Err(error) => tracing::warn!("{error:#}"),
                }
            }
        });
    }
}
