//! [`ArtifactCache`]: compiled components on local disk, so a restart (a Lambda cold
//! start, a `plughost serve` restart) deserializes in about a millisecond instead of
//! compiling for ~100 ms per plugin.
//!
//! Safety rule: never deserialize bytes this exact engine configuration did not produce.
//! - the file name is `<engine compatibility hash>-<component sha256>.cwasm`, so another
//!   wasmtime version or configuration never even finds the file (and wasmtime checks
//!   compatibility again while deserializing);
//! - beside it, `<same name>.sha256` holds the sha256 of the artifact, checked before
//!   deserializing, so a truncated or altered file is recompiled, never loaded;
//! - files are written to a temporary name and renamed, so readers never see half a file
//!   (and a file already mapped is never changed under its reader: a rename replaces it).
//!
//! The artifact file is the artifact alone so that wasmtime can map it
//! (`Component::deserialize_file`) instead of copying it into memory: its code is then
//! file-backed pages, resident only where a plugin's code actually runs, and shared by the
//! page cache — an idle server holds a fraction of the compiled code it has loaded.
//!
//! A second tier lives in the deployment's bucket (`compiled/<same name>`), so a cold start
//! of a fresh Lambda instance deserializes too. An object in a bucket is not proof that
//! this engine produced it, and deserializing is running native code, so shared artifacts
//! are signed: HMAC-SHA256 over the file name and the artifact with the operator's
//! `PLUGHOST_ARTIFACT_KEY`, known only to hosts. Without the key there is no shared tier.
//! [`ArtifactCache::export_signed`] and [`ArtifactCache::import_signed`] convert between
//! the local file and the signed object; `source.rs` moves them to and from S3.

use hmac::{KeyInit, Mac};
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
pub enum LoadedFrom {
    /// Deserialized from the cache.
    Cache,
    /// Compiled now (and written to the cache).
    Compiled,
}

impl ArtifactCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The component for `bytes` (whose sha256 hex is `digest`): from the cache when a
    /// valid artifact is there, compiled otherwise. Cache trouble is logged, never fatal.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, LoadedFrom)> {
        let path = self.path(engine, digest);
        if let Some(component) = self.load(engine, &path) {
            return Ok((component, LoadedFrom::Cache));
        }
        let component = Component::from_binary(engine, bytes)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), %error, "cannot write the compiled component to the cache");
        }
        Ok((component, LoadedFrom::Compiled))
    }

    /// The cached component for `digest`, if a valid artifact is on disk.
    pub fn load_cached(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(engine, digest);
        path.exists().then(|| self.load(engine, &path)).flatten()
    }

    /// `<engine compatibility hash>-<digest>.cwasm`: the local file name and the shared
    /// object's name.
    pub fn file_name(&self, engine: &Engine, digest: &str) -> String {
        // Deterministic within one build of plughost, which is all the key must be.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}-{digest}.cwasm", hasher.finish())
    }

    /// The local artifact for `digest` as a signed object for the shared tier: the
    /// HMAC (32 bytes) then the artifact. `None` if there is no valid local artifact.
    pub fn export_signed(&self, engine: &Engine, digest: &str, key: &[u8]) -> Option<Vec<u8>> {
        let (artifact, _file) = verified(&self.path(engine, digest))?;
        let mut signed = signature(key, &self.file_name(engine, digest), &artifact);
        signed.extend_from_slice(&artifact);
        Some(signed)
    }

    /// The component in a signed object from the shared tier, if its signature is valid
    /// for `digest`'s name and `key`; it is also stored as the local artifact (best effort),
    /// so the next start finds it on disk. Deserialized from the verified bytes in hand,
    /// not read back.
    pub fn import_signed(&self, engine: &Engine, digest: &str, signed: &[u8], key: &[u8]) -> Option<Component> {
        let name = self.file_name(engine, digest);
        let (tag, artifact) = signed.split_at_checked(32)?;
        let mut mac = <Hmac as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(name.as_bytes());
        mac.update(artifact);
        if mac.verify_slice(tag).is_err() {
            tracing::warn!(artifact = name, "shared compiled component has a bad signature; ignoring it");
            return None;
        }
        if let Err(error) = self.write(&self.path(engine, digest), artifact) {
            tracing::warn!(artifact = name, %error, "cannot write the shared compiled component to the cache");
        }
        // SAFETY: the HMAC proves a host holding the operator's key produced these bytes
        // for this file name, which carries this engine's compatibility hash.
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(artifact = name, %error, "shared compiled component does not load; compiling instead");
                None
            }
        }
    }

    fn path(&self, engine: &Engine, digest: &str) -> PathBuf {
        self.dir.join(self.file_name(engine, digest))
    }

    fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        // Read once to check it (the buffer is freed before mapping).
        let (bytes, checked) = verified(path)?;
        drop(bytes);
        // SAFETY: the file name carries this engine's compatibility hash and the checksum
        // proves these are the exact bytes `store` wrote, which `Component::serialize` of
        // an engine with this configuration produced. Files here are only ever replaced by
        // a rename, never written in place, so the mapping keeps the bytes just checked —
        // provided it is the same file: checked below, before the component is used.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) if file_id(path) == Some(checked) => Some(component),
            Ok(_replaced) => {
                tracing::warn!(path = %path.display(), "cached component was replaced while loading; compiling instead");
                None
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cached component does not load; compiling instead");
                None
            }
        }
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        self.write(path, &component.serialize()?)
    }

    /// Writes `artifact` to `path` and its checksum beside it, each atomically. (Between
    /// the two renames a reader finds a checksum that does not match, or none: it compiles.)
    fn write(&self, path: &Path, artifact: &[u8]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        replace(path, artifact)?;
        replace(&checksum_path(path), &Sha256::digest(artifact))
    }
}

/// `<artifact file name>.sha256`.
fn checksum_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Which file a path named: a rename puts another one there (device, inode, length).
type FileId = (u64, u64, u64);

#[cfg(unix)]
fn id_of(metadata: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino(), metadata.len())
}

#[cfg(not(unix))]
fn id_of(metadata: &std::fs::Metadata) -> FileId {
    (0, 0, metadata.len())
}

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| id_of(&m))
}

/// The artifact at `path`, and which file it was, if its checksum file vouches for it; a
/// damaged one is logged.
fn verified(path: &Path) -> Option<(Vec<u8>, FileId)> {
    use std::io::Read;
    let checksum = std::fs::read(checksum_path(path)).ok()?;
    let mut file = std::fs::File::open(path).ok()?;
    let id = id_of(&file.metadata().ok()?);
    let mut artifact = Vec::new();
    file.read_to_end(&mut artifact).ok()?;
    if Sha256::digest(&artifact).as_slice() != checksum {
        tracing::warn!(path = %path.display(), "cached component is damaged; compiling instead");
        return None;
    }
    Some((artifact, id))
}

/// Replaces `path` with `bytes` by writing a temporary file and renaming it.
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

type Hmac = hmac::Hmac<Sha256>;

/// HMAC-SHA256(key, name || artifact): binds the artifact to its engine and component.
fn signature(key: &[u8], name: &str, artifact: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(name.as_bytes());
    mac.update(artifact);
    mac.finalize().into_bytes().to_vec()
}
