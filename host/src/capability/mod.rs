//! Everything a plugin can reach, one folder per capability. Each folder has the same
//! shape: `mod.rs` (the per-request context and `add_to_linker`) and `host.rs` (the
//! generated `Host` trait implemented over that context).
//!
//! - `config/` — the plugin's own manifest values;
//! - `log/`    — structured log lines, and the plugin's stdout/stderr turned into them;
//! - `kv/`     — key-value stores opened by label, with backends (`sqlite.rs`, ...);
//! - `wasi.rs` — the WASI sandbox that lets ordinary Rust `std` link, with nothing in it;
//! - `error.rs` — the storage errors guests receive as WIT values.
//!
//! [`Storage`] holds the process's backends; `blob/` will follow the same shape as `kv/`.

pub mod config;
pub mod error;
pub mod kv;
pub mod log;
pub mod wasi;

use crate::manifest::{Access, PluginSpec};
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
}

/// The operator's storage file (`--storage`): where each store lives. Stores it does not
/// mention stay embedded.
///
/// ```toml
/// [kv.users]
/// dynamodb = { table = "plughost-data", prefix = "users" }
/// ```
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFile {
    #[serde(default)]
    kv: BTreeMap<String, KvBinding>,
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

impl Storage {
    /// Embedded backends under `data_dir` (what `plughost serve` uses): every kv store is
    /// a namespace of `data_dir/kv.sqlite3`.
    pub fn embedded(data_dir: &Path) -> anyhow::Result<Self> {
        let kv = kv::SqliteKv::open(&data_dir.join("kv.sqlite3"))
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", data_dir.join("kv.sqlite3").display()))?;
        Ok(Self { kv: Arc::new(kv), kv_bindings: BTreeMap::new() })
    }

    /// Binds the stores named in the operator's storage file at `path` (see
    /// [`StorageFile`]); AWS clients are configured from the environment.
    pub async fn with_storage_file(mut self, path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read storage file: {e}", path.display()))?;
        let file: StorageFile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message().trim()))?;
        if file.kv.is_empty() {
            return Ok(self);
        }
        let client = kv::DynamoKv::client_from_env().await;
        for (label, binding) in file.kv {
            let DynamoBinding { table, prefix } = binding.dynamodb;
            if table.is_empty() || prefix.is_empty() || prefix.contains('#') {
                anyhow::bail!(
                    "{}: kv.{label}: `table` and `prefix` must be non-empty and `prefix` must not contain `#`",
                    path.display()
                );
            }
            tracing::info!(store = label, table, prefix, "kv store bound to DynamoDB");
            let backend: Arc<dyn kv::KvBackend> = Arc::new(kv::DynamoKv::new(client.clone(), table));
            self.kv_bindings.insert(label, (backend, prefix.into()));
        }
        Ok(self)
    }
    /// The kv grants of one plugin, each bound to its backend and namespace: the
    /// operator's binding, or the embedded store with the label as namespace. Distinct
    /// labels get distinct namespaces, so they never see each other's keys.
    pub fn kv_grants(&self, spec: &PluginSpec) -> kv::KvCtx {
        let grants: BTreeMap<String, kv::KvGrant> = spec
            .kv
            .iter()
            .map(|(label, access)| {
                let (backend, namespace) = match self.kv_bindings.get(label) {
                    Some((backend, namespace)) => (backend.clone(), namespace.clone()),
                    None => (self.kv.clone(), label.as_str().into()),
                };
                let grant = kv::KvGrant { backend, namespace, writable: *access == Access::ReadWrite };
                (label.clone(), grant)
            })
            .collect();
        kv::KvCtx::new(grants)
    }
}

/// Adds every capability to the process's linker. Called once, by `engine.rs`.
pub fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    wasi::add_to_linker(linker)?;
    config::add_to_linker(linker, |state| &state.config)?;
    log::add_to_linker(linker, |state| &state.log)?;
    kv::add_to_linker(linker, State::kv_view)?;
    Ok(())
}
