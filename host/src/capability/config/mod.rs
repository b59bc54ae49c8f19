//! The `config` capability: a plugin reads its own `[plugins.<id>.config]` values and
//! nothing else (no host environment, no other plugin's values).

mod host;

use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// One plugin's values, shared by all its requests.
#[derive(Debug, Clone, Default)]
pub struct ConfigCtx {
    values: Arc<BTreeMap<String, String>>,
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
