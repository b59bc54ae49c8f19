//! [`ArtifactCache`]: compiled components on local disk, so a restart (a Lambda cold
//! start, a `plughost serve` restart) deserializes in about a millisecond instead of
//! compiling for ~100 ms per plugin.
//!
//! Safety rule: never deserialize bytes this exact engine configuration did not produce.
//! - the file name is `<engine compatibility hash>-<component sha256>.cwasm`, so another
//!   wasmtime version or configuration never even finds the file (and wasmtime checks
//!   compatibility again while deserializing);
//! - the file starts with the sha256 of the artifact that follows, checked before
//!   deserializing, so a truncated or altered file is recompiled, never loaded;
//! - files are written to a temporary name and renamed, so readers never see half a file.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct ArtifactCache {
    dir: PathBuf,
}

/// Where a component came from, for the log line that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Deserialized from the cache.
    Cache,
    /// Compiled now (and written to the cache).
    Compiled,
}

impl ArtifactCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The component for `bytes` (whose sha256 hex is `digest`): from the cache when a
    /// valid artifact is there, compiled otherwise. Cache trouble is logged, never fatal.
    pub fn load_or_compile(&self, engine: &Engine, digest: &str, bytes: &[u8]) -> anyhow::Result<(Component, Source)> {
        let path = self.path(engine, digest);
        if let Some(component) = self.load(engine, &path) {
            return Ok((component, Source::Cache));
        }
        let component = Component::from_binary(engine, bytes)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), %error, "cannot write the compiled component to the cache");
        }
        Ok((component, Source::Compiled))
    }

    fn path(&self, engine: &Engine, digest: &str) -> PathBuf {
        // Deterministic within one build of plughost, which is all the key must be.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir.join(format!("{:016x}-{digest}.cwasm", hasher.finish()))
    }

    fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let file = std::fs::read(path).ok()?;
        let (checksum, artifact) = file.split_at_checked(32)?;
        if Sha256::digest(artifact).as_slice() != checksum {
            tracing::warn!(path = %path.display(), "cached component is damaged; compiling instead");
            return None;
        }
        // SAFETY: the file name carries this engine's compatibility hash and the checksum
        // proves these are the exact bytes `store` wrote, which `Component::serialize` of
        // an engine with this configuration produced.
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cached component does not load; compiling instead");
                None
            }
        }
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let artifact = component.serialize()?;
        let mut file = Vec::with_capacity(32 + artifact.len());
        file.extend_from_slice(&Sha256::digest(&artifact));
        file.extend_from_slice(&artifact);
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, &file)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok(())
    }
}
