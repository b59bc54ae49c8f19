//! Everything a plugin can reach, one folder per capability. Each folder has the same
//! shape: `mod.rs` (the per-request context and `add_to_linker`) and `host.rs` (the
//! generated `Host` trait implemented over that context).
//!
//! - `config/` — the plugin's own manifest values;
//! - `log/`    — structured log lines, and the plugin's stdout/stderr turned into them;
//! - `wasi.rs` — the WASI sandbox that lets ordinary Rust `std` link, with nothing in it.
//!
//! Storage (`kv/`, `blob/`) will follow the same shape.

pub mod config;
pub mod log;
pub mod wasi;

use crate::state::State;
use wasmtime::component::Linker;

/// Adds every capability to the process's linker. Called once, by `engine.rs`.
pub fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    wasi::add_to_linker(linker)?;
    config::add_to_linker(linker, |state| &state.config)?;
    log::add_to_linker(linker, |state| &state.log)?;
    Ok(())
}
