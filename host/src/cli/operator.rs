//! The operator commands, on a [`DeploymentStore`]: `deploy` (a whole manifest), `push`
//! (one component), `rollback`, `status`. `main.rs` parses the CLI and prints; this file
//! does the work, so tests drive it directly too.
//!
//! Every component is checked locally (a component of the plugin world this host runs)
//! and uploaded under its digest *before* the manifest names it, so the manifest never
//! points at something missing or broken. The manifest is then changed by
//! read -> edit -> validate -> conditional write; a conflicting write (someone else
//! changed it in between) is retried on the fresh manifest, so concurrent operators never
//! lose each other's changes.

use crate::runtime::deployment::document::Document;
use crate::runtime::deployment::store::{DeploymentStore, ManifestRead, WriteError};
use crate::runtime::engine::PluginEngine;
use crate::runtime::loader::check_component;
use crate::spec::manifest::{Digest, LimitBounds, Manifest, PluginId};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Conditional manifest writes tried before giving up.
const MAX_ATTEMPTS: u32 = 20;

pub struct Operator {
    store: DeploymentStore,
    engine: Arc<PluginEngine>,
    bounds: LimitBounds,
}

/// What `push` did.
pub struct Pushed {
    pub digest: Digest,
    /// The digest served before (`None`: it was this one already).
    pub previous: Option<Digest>,
    /// False when the bucket already had this component.
    pub uploaded: bool,
}

/// What `deploy` did.
pub struct Deployed {
    /// Per plugin: its digest and whether it was uploaded now.
    pub plugins: Vec<(PluginId, Digest, bool)>,
    pub created: bool,
}

/// The live deployment, for `status`.
pub struct Status {
    pub etag: String,
    pub manifest: Manifest,
    pub document: Document,
}

impl Operator {
    pub fn new(store: DeploymentStore, engine: Arc<PluginEngine>) -> Self {
        let bounds = engine.settings().limit_bounds();
        Self { store, engine, bounds }
    }

    pub fn store(&self) -> &DeploymentStore {
        &self.store
    }

    /// Makes the deployment serve the local manifest at `path`: checks and uploads every
    /// component, then writes the deployed manifest (keeping each plugin's history).
    pub async fn deploy(&self, path: &Path) -> anyhow::Result<Deployed> {
        let (mut document, files) = Document::from_local(path, &self.bounds)?;
        let mut plugins = Vec::new();
        for (spec, file) in files {
            let id = spec.id.clone();
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("plugin `{id}`: cannot read {}: {e}", file.display()))?;
            let digest = self
                .check(&bytes, &spec)
                .await
                .map_err(|m| anyhow::anyhow!("plugin `{id}`: {}: {m}", file.display()))?;
            document.set_digest(&id, &digest)?;
            let uploaded = self.store.put_component(&id, &digest, bytes).await?;
            plugins.push((id, digest, uploaded));
        }
        let created = self
            .update(|live| {
                let mut new = document.clone();
                if let Some(live) = &live {
                    new.inherit_history(live);
                }
                Ok((new, live.is_none()))
            })
            .await?;
        Ok(Deployed { plugins, created })
    }

    /// Points plugin `id` at the component in `file`: checks it, uploads it by digest,
    /// then updates the manifest.
    pub async fn push(&self, file: &Path, id: &PluginId) -> anyhow::Result<Pushed> {
        let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        // Fail before uploading if the plugin is not deployed at all.
        let live = self.live().await?;
        let Some(spec) = live.manifest.plugins.iter().find(|p| &p.id == id) else {
            anyhow::bail!(
                "plugin `{id}` is not in {}: add it to the manifest and run `plughost deploy` (deployed: {})",
                self.store.location(),
                live.document.plugin_ids().join(", ")
            );
        };
        let digest = self.check(&bytes, spec).await.map_err(|m| anyhow::anyhow!("{}: {m}", file.display()))?;
        let uploaded = self.store.put_component(id, &digest, bytes).await?;
        let previous = self
            .update(|live| {
                let mut document = live.ok_or_else(|| self.nothing_deployed())?;
                let previous = document.set_digest(id, &digest)?;
                Ok((document, previous))
            })
            .await?;
        Ok(Pushed { digest, previous, uploaded })
    }

    /// Points plugin `id` back at its previous digest, or at `to`. Returns (from, to).
    pub async fn rollback(&self, id: &PluginId, to: Option<&Digest>) -> anyhow::Result<(Option<Digest>, Digest)> {
        if let Some(to) = to
            && !self.store.has_component(id, to).await?
        {
            anyhow::bail!("plugin `{id}` has no component {to} in {}", self.store.location());
        }
        self.update(|live| {
            let mut document = live.ok_or_else(|| self.nothing_deployed())?;
            let moved = document.rollback(id, to)?;
            Ok((document, moved))
        })
        .await
    }

    /// The live manifest.
    pub async fn status(&self) -> anyhow::Result<Status> {
        self.live().await
    }

    async fn live(&self) -> anyhow::Result<Status> {
        match self.store.read_manifest(None).await? {
            ManifestRead::Found { text, etag } => {
                let origin = self.store.location().to_string();
                let document = Document::parse(&text, &origin)?;
                let manifest = document.validate(&origin, &self.bounds)?;
                Ok(Status { etag, manifest, document })
            }
            ManifestRead::Missing | ManifestRead::NotModified => Err(self.nothing_deployed()),
        }
    }

    fn nothing_deployed(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "nothing is deployed at {} yet: run `plughost deploy <plughost.toml>` first",
            self.store.location()
        )
    }

    /// The component's digest, once it is known to be a valid plugin component.
    async fn check(&self, bytes: &[u8], spec: &crate::spec::manifest::PluginSpec) -> Result<Digest, String> {
        let (engine, spec) = (self.engine.clone(), spec.clone());
        let owned = bytes.to_vec();
        tokio::task::spawn_blocking(move || check_component(&engine, &owned, &spec))
            .await
            .map_err(|e| format!("checking the component failed: {e}"))??;
        Ok(Digest::of(bytes))
    }

    /// Read -> `edit` -> validate -> conditional write, retried while someone else's
    /// write gets in between. `edit` receives the live document (`None`: none yet).
    async fn update<T>(
        &self,
        mut edit: impl FnMut(Option<Document>) -> anyhow::Result<(Document, T)>,
    ) -> anyhow::Result<T> {
        let origin = self.store.location().to_string();
        for attempt in 1..=MAX_ATTEMPTS {
            let (live, etag) = match self.store.read_manifest(None).await? {
                ManifestRead::Found { text, etag } => (Some(Document::parse(&text, &origin)?), Some(etag)),
                ManifestRead::Missing | ManifestRead::NotModified => (None, None),
            };
            let (document, outcome) = edit(live)?;
            document.validate(&origin, &self.bounds)?;
            match self.store.write_manifest(&document.to_text(), etag.as_deref()).await {
                Ok(_) => return Ok(outcome),
                Err(WriteError::Conflict) => {
                    tracing::info!(attempt, "the manifest changed while we edited it; retrying on the new version");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(WriteError::Other(error)) => return Err(error),
            }
        }
        anyhow::bail!("{origin}: gave up after {MAX_ATTEMPTS} attempts: the manifest keeps changing under us")
    }
}

/// A short, jittered pause so competing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 50;
    Duration::from_millis(20 * u64::from(attempt.min(10)) + jitter)
}
