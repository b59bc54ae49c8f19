//! The `config` capability: a plugin reads its own `[plugins.<id>.config]` values and
//! nothing else (no host environment, no other plugin's values).
//!
//! - `mod.rs`     — [`ConfigCtx`] and `add_to_linker`;
//! - `host.rs`    — the generated `Host` trait over a context;
//! - `secrets.rs` — where `{ secret = "name" }` values come from (a file, AWS Secrets Manager).

mod host;
pub mod secrets;

pub use crate::spec::config_value::ConfigValue;

use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// One plugin's values, shared by all its requests.
#[derive(Clone, Default)]
pub struct ConfigCtx {
    values: Arc<BTreeMap<String, String>>,
}

/// Keys only: values may be secrets.
impl std::fmt::Debug for ConfigCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigCtx").field("keys", &self.values.keys().collect::<Vec<_>>()).finish()
    }
}

impl ConfigCtx {
    pub fn new(values: Arc<BTreeMap<String, String>>) -> Self {
        Self { values }
    }
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = &'a ConfigCtx;
}

pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &ConfigCtx) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::config::add_to_linker::<T, HasConfig>(linker, get)?;
    Ok(())
}
