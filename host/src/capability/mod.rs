//! Everything a plugin can reach, one folder per capability. Each folder has the same
//! shape: `mod.rs` (the per-request context and `add_to_linker`), `host.rs` (the
//! generated `Host` trait implemented over that context), `backend.rs` (the trait every
//! backend implements and the rules they share) and one file per backend.
//!
//! - `config/` — the plugin's own manifest values;
//! - `log/`    — structured log lines, and the plugin's stdout/stderr turned into them;
//! - `kv/`     — key-value stores opened by label (`sqlite.rs`, `dynamo.rs`);
//! - `blob/`   — object containers opened by label (`fs.rs`, `s3.rs`);
//! - `wasi.rs` — the WASI sandbox that lets ordinary Rust `std` link, with nothing in it;
//! - `error.rs` — the storage errors guests receive as WIT values;
//! - `io_budget.rs` — the bytes one request may move through storage calls;
//! - `deadline.rs` — storage calls cut off before the request's deadline.
//!
//! [`Storage`] holds the process's backends and binds each plugin's grants to them.

pub mod blob;
pub mod config;
pub mod deadline;
pub mod error;
pub mod io_budget;
pub mod kv;
pub mod log;
pub mod wasi;

use crate::manifest::{Access, Manifest, PluginSpec};
use crate::state::State;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Linker;

/// The storage backends of this process, created once at startup and shared by every
/// routing table.
#[derive(Clone)]
pub struct Storage {
    /// Where stores without a binding live (embedded SQLite).
    kv: Arc<dyn kv::KvBackend>,
    /// Stores the operator bound elsewhere: label -> (backend, namespace).
    kv_bindings: BTreeMap<String, (Arc<dyn kv::KvBackend>, Arc<str>)>,
    /// Where containers without a binding live (an embedded folder).
    blob: Arc<blob::FsBlob>,
    /// Containers the operator bound elsewhere: label -> (backend, namespace).
    blob_bindings: BTreeMap<String, (Arc<dyn blob::BlobBackend>, Arc<str>)>,
    /// Where `{ secret = "name" }` config values come from.
    secrets: Arc<config::secrets::SecretSource>,
    /// Refuse manifests declaring a store or container without a binding (in Lambda,
    /// embedded storage would sit in the instance's /tmp and vanish with it).
    require_bindings: bool,
}

/// One plugin's storage grants, bound to backends: what its requests may open.
#[derive(Clone, Default)]
pub struct StorageGrants {
    pub kv: kv::KvCtx,
    pub blob: blob::BlobCtx,
}

/// The operator's storage file (`--storage`): where each store and container lives.
/// Labels it does not mention stay embedded. The same map may be given inline as JSON
/// (`{"kv": {"users": {"dynamodb": {...}}}}`), which is how Terraform sets it in Lambda.
///
/// ```toml
/// [kv.users]
/// dynamodb = { table = "plughost-data", prefix = "users" }
///
/// [blob.images]
/// s3 = { bucket = "plughost-data", prefix = "images" }
/// ```
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFile {
    #[serde(default)]
    kv: BTreeMap<String, KvBinding>,
    #[serde(default)]
    blob: BTreeMap<String, BlobBinding>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KvBinding {
    dynamodb: DynamoBinding,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DynamoBinding {
    table: String,
    /// Keeps this store's keys apart from other stores in the same table.
    prefix: String,
}

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

impl Storage {
    /// Embedded backends under `data_dir` (what `plughost serve` uses): every kv store is
    /// a namespace of `data_dir/kv.sqlite3`, every blob container one of `data_dir/blobs/`.
    /// Presigned URLs of embedded containers start with `public_url` (where this host is
    /// reachable).
    pub fn embedded(data_dir: &Path, public_url: &str) -> anyhow::Result<Self> {
        let kv = kv::SqliteKv::open(&data_dir.join("kv.sqlite3"))
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", data_dir.join("kv.sqlite3").display()))?;
        let blob = blob::FsBlob::open(&data_dir.join("blobs"), public_url)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", data_dir.join("blobs").display()))?;
        Ok(Self {
            kv: Arc::new(kv),
            kv_bindings: BTreeMap::new(),
            blob: Arc::new(blob),
            blob_bindings: BTreeMap::new(),
            secrets: Arc::new(config::secrets::SecretSource::None),
            require_bindings: false,
        })
    }

    /// Every store and container a manifest declares must then be bound (`--storage`).
    pub fn requiring_bindings(mut self) -> Self {
        self.require_bindings = true;
        self
    }

    /// Checks that every declared store and container has a binding, when required.
    pub fn check_bindings(&self, manifest: &crate::manifest::Manifest) -> Result<(), String> {
        if !self.require_bindings {
            return Ok(());
        }
        let kv = manifest.kv_stores.keys().find(|l| !self.kv_bindings.contains_key(*l)).map(|l| ("kv", l));
        let blob = manifest.blob_containers.keys().find(|l| !self.blob_bindings.contains_key(*l)).map(|l| ("blob", l));
        match kv.or(blob) {
            None => Ok(()),
            Some((kind, label)) => Err(format!(
                "[{kind}.{label}] has no binding in the storage map (PLUGHOST_STORAGE): here it would live in \
                 this instance's /tmp and be lost; bind it to {}",
                if kind == "kv" { "a DynamoDB table" } else { "an S3 bucket" }
            )),
        }
    }

    /// Resolves secret config values from `source` (by default there is none, and a
    /// manifest that references a secret fails to load).
    pub fn with_secrets(mut self, source: config::secrets::SecretSource) -> Self {
        self.secrets = Arc::new(source);
        self
    }

    pub fn secrets(&self) -> &config::secrets::SecretSource {
        &self.secrets
    }

    /// Binds the stores and containers named in the operator's storage file at `path`
    /// (see [`StorageFile`]); AWS clients are configured from the environment.
    pub async fn with_storage_file(self, path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read storage file: {e}", path.display()))?;
        let file: StorageFile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message().trim()))?;
        self.with_bindings(file, &path.display().to_string()).await
    }

    /// `--storage`: a storage file's path, or the same map inline as JSON (starts with `{`).
    pub async fn with_storage_arg(self, arg: &str) -> anyhow::Result<Self> {
        if arg.trim_start().starts_with('{') {
            let map: StorageFile = serde_json::from_str(arg)
                .map_err(|e| anyhow::anyhow!("PLUGHOST_STORAGE (inline JSON storage map): {e}"))?;
            return self.with_bindings(map, "PLUGHOST_STORAGE").await;
        }
        self.with_storage_file(Path::new(arg)).await
    }

    async fn with_bindings(mut self, file: StorageFile, origin: &str) -> anyhow::Result<Self> {
        // One AWS configuration for every client (credentials are resolved once).
        let config = if file.kv.is_empty() && file.blob.is_empty() { None } else { Some(aws_config_from_env().await) };
        if let Some(config) = config.as_ref().filter(|_| !file.kv.is_empty()) {
            let client = aws_sdk_dynamodb::Client::new(config);
            for (label, binding) in file.kv {
                let DynamoBinding { table, prefix } = binding.dynamodb;
                if table.is_empty() || prefix.is_empty() || prefix.contains('#') {
                    anyhow::bail!(
                        "{origin}: kv.{label}: `table` and `prefix` must be non-empty and `prefix` must not contain `#`"
                    );
                }
                tracing::info!(store = label, table, prefix, "kv store bound to DynamoDB");
                let backend: Arc<dyn kv::KvBackend> = Arc::new(kv::DynamoKv::new(client.clone(), table));
                self.kv_bindings.insert(label, (backend, prefix.into()));
            }
        }
        if let Some(config) = config.as_ref().filter(|_| !file.blob.is_empty()) {
            let client = blob::S3Blob::client(config);
            for (label, binding) in file.blob {
                let S3Binding { bucket, prefix } = binding.s3;
                // The prefix is one path segment, so `<prefix>/<key>` of one container can
                // never be a key of another (`a` vs `a/b`).
                let valid_prefix = !prefix.is_empty()
                    && prefix.len() <= 128
                    && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    && prefix != "."
                    && prefix != "..";
                if bucket.is_empty() || !valid_prefix {
                    anyhow::bail!(
                        "{origin}: blob.{label}: `bucket` must be non-empty and `prefix` one segment of letters, digits, `-`, `_`, `.`"
                    );
                }
                tracing::info!(container = label, bucket, prefix, "blob container bound to S3");
                let backend: Arc<dyn blob::BlobBackend> = Arc::new(blob::S3Blob::new(client.clone(), bucket));
                self.blob_bindings.insert(label, (backend, prefix.into()));
            }
        }
        Ok(self)
    }

    /// The embedded blob backend, whose presigned URLs `plughost serve` answers.
    pub fn embedded_blob(&self) -> &Arc<blob::FsBlob> {
        &self.blob
    }

    /// The grants of one plugin, each bound to its backend and namespace: the operator's
    /// binding, or the embedded backend with the label as namespace. Distinct labels get
    /// distinct namespaces, so they never see each other's data.
    pub fn grants(&self, manifest: &Manifest, spec: &PluginSpec) -> StorageGrants {
        let kv = spec
            .kv
            .iter()
            .map(|(label, access)| {
                let (backend, namespace) = match self.kv_bindings.get(label) {
                    Some((backend, namespace)) => (backend.clone(), namespace.clone()),
                    None => (self.kv.clone(), label.as_str().into()),
                };
                let quota = manifest.kv_stores.get(label).copied().unwrap_or_default();
                let grant = kv::KvGrant { backend, namespace, writable: *access == Access::ReadWrite, quota };
                (label.clone(), grant)
            })
            .collect();
        let blob = spec
            .blob
            .iter()
            .map(|(label, access)| {
                let (backend, namespace) = match self.blob_bindings.get(label) {
                    Some((backend, namespace)) => (backend.clone(), namespace.clone()),
                    None => (self.blob.clone() as Arc<dyn blob::BlobBackend>, label.as_str().into()),
                };
                let quota = manifest.blob_containers.get(label).copied().unwrap_or_default();
                let grant = blob::BlobGrant { backend, namespace, writable: *access == Access::ReadWrite, quota };
                (label.clone(), grant)
            })
            .collect();
        StorageGrants { kv: kv::KvCtx::new(kv), blob: blob::BlobCtx::new(blob) }
    }
}

/// The AWS configuration the standard way: region, credentials (or the Lambda's role)
/// and an optional `AWS_ENDPOINT_URL`, from the environment. A connection that cannot be
/// made in 2 s fails (and is retried by the SDK); how long a whole storage call may take
/// is bounded per request (`deadline.rs`).
pub async fn aws_config_from_env() -> aws_config::SdkConfig {
    let timeouts =
        aws_config::timeout::TimeoutConfig::builder().connect_timeout(std::time::Duration::from_secs(2)).build();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts).load().await
}

/// Adds every capability to the process's linker. Called once, by `engine.rs`.
pub fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    wasi::add_to_linker(linker)?;
    config::add_to_linker(linker, |state| &state.config)?;
    log::add_to_linker(linker, |state| &state.log)?;
    kv::add_to_linker(linker, State::kv_view)?;
    blob::add_to_linker(linker, State::blob_view)?;
    Ok(())
}
