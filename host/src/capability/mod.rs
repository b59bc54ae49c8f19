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
    kv: Arc<dyn kv::KvBackend>,
}

impl Storage {
    /// Embedded backends under `data_dir` (what `plughost serve` uses): every kv store is
    /// a namespace of `data_dir/kv.sqlite3`.
    pub fn embedded(data_dir: &Path) -> anyhow::Result<Self> {
        let kv = kv::SqliteKv::open(&data_dir.join("kv.sqlite3"))
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", data_dir.join("kv.sqlite3").display()))?;
        Ok(Self { kv: Arc::new(kv) })
    }

    /// The kv grants of one plugin, each bound to its backend and namespace. The store
    /// label is the namespace, so two labels never see each other's keys.
    pub fn kv_grants(&self, spec: &PluginSpec) -> kv::KvCtx {
        let grants: BTreeMap<String, kv::KvGrant> = spec
            .kv
            .iter()
            .map(|(label, access)| {
                let grant = kv::KvGrant {
                    backend: self.kv.clone(),
                    namespace: label.as_str().into(),
                    writable: *access == Access::ReadWrite,
                };
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
