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

use crate::runtime::deployment::{DeploymentStore, Location, ManifestRead};
use crate::runtime::loader::{Fetched, FetchedComponent, Loader};
use crate::spec::manifest::{ComponentRef, Digest, LimitBounds, Manifest};
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
        if !Location::is_deployment(arg) {
            return Ok(Self::File(PathBuf::from(arg)));
        }
        let store = DeploymentStore::from_env(Location::parse(arg).map_err(anyhow::Error::msg)?).await;
        let artifact_key = match artifact_key {
            Some(key) if key.len() < 32 => {
                anyhow::bail!("PLUGHOST_ARTIFACT_KEY must be at least 32 characters (it signs native code)")
            }
            key => key.map(|k| Arc::from(k.as_bytes())),
        };
        Ok(Self::Deployment { store, artifact_key })
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
                // Read off the async worker (a reload runs on one); parsing is cheap.
                let (path, bounds) = (path.clone(), *bounds);
                let manifest =
                    tokio::task::spawn_blocking(move || Manifest::load(&path, &bounds, &crate::capability::sections()))
                        .await
                        .map_err(|e| FetchError::Unavailable(e.into()))?
                        .map_err(|e| FetchError::Unavailable(e.into()))?;
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
        let manifest = Manifest::parse(Path::new(&origin), &text, bounds, &crate::capability::sections())
            .map_err(|e| reject(e.into()))?;
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
            if let Some(component) = self.precompiled(loader, digest).await {
                return Ok(Ok(Some((digest.clone(), FetchedComponent::Compiled(component)))));
            }
            match store.get_component(id, digest).await? {
                Some(bytes) => Ok(Ok(Some((digest.clone(), FetchedComponent::Bytes(bytes))))),
                None => Ok(Err(anyhow::anyhow!("{origin}: plugin `{id}`: component {digest} is not in the bucket"))),
            }
        });
        let mut components = Fetched::new();
        for outcome in futures::future::try_join_all(downloads).await.map_err(FetchError::Unavailable)? {
            if let Some((digest, component)) = outcome.map_err(reject)? {
                components.insert(digest, component);
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
    /// The compiled component for `digest` from the artifact cache — on local disk, or
    /// signed in the bucket (then copied to local disk) — so it need not be downloaded.
    /// File reads, checksums and deserializing run on the blocking pool, once per digest.
    async fn precompiled(&self, loader: &Loader, digest: &Digest) -> Option<wasmtime::component::Component> {
        let engine = loader.engine().clone();
        engine.artifact_cache()?;
        let on_disk = {
            let (engine, digest) = (engine.clone(), digest.clone());
            move || engine.load_cached(&digest)
        };
        if let Some(component) = blocking(on_disk).await {
            return Some(component);
        }
        let Self::Deployment { store, artifact_key: Some(key) } = self else { return None };
        let name = engine.artifact_cache()?.file_name(engine.engine(), digest.hex());
        let object = store.location().artifact_key(&name);
        let signed = match store.get_object(&object, "download the compiled component").await {
            Ok(Some(signed)) => signed,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!("{error:#}; compiling instead");
                return None;
            }
        };
        let import = {
            let (engine, digest, key) = (engine.clone(), digest.clone(), key.clone());
            move || engine.artifact_cache()?.import_signed(engine.engine(), digest.hex(), &signed, &key)
        };
        let component = blocking(import).await?;
        tracing::info!(digest = digest.short(), "compiled component fetched from the deployment's shared cache");
        Some(component)
    }

    /// Uploads the signed artifacts of `digests` (just compiled here) to the bucket, so
    /// the next cold start anywhere deserializes them. Best effort, in the background.
    pub fn share_artifacts(self: &Arc<Self>, loader: &Loader, digests: Vec<Digest>) {
        let Self::Deployment { artifact_key: Some(key), .. } = self.as_ref() else { return };
        let engine = loader.engine().clone();
        if engine.artifact_cache().is_none() || digests.is_empty() {
            return;
        }
        let key = key.clone();
        let this = self.clone();
        tokio::spawn(async move {
            let Self::Deployment { store, .. } = this.as_ref() else { return };
            // Reading and signing the compiled files is blocking work.
            let export = move || {
                let Some(cache) = engine.artifact_cache() else { return Vec::new() };
                digests
                    .iter()
                    .filter_map(|digest| {
                        let signed = cache.export_signed(engine.engine(), digest.hex(), &key)?;
                        Some((cache.file_name(engine.engine(), digest.hex()), signed))
                    })
                    .collect::<Vec<_>>()
            };
            let uploads = blocking(move || Some(export())).await.unwrap_or_default();
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

/// `work` on the blocking pool; `None` if it could not run there.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Option<T> + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok().flatten()
}
