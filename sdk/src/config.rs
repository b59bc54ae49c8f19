//! Per-plugin configuration values from the manifest (`[plugins.<id>.config]`).
//!
//! Inside the host these call the `config` import. Compiled natively (unit tests of plugin
//! logic, benchmarks) they read values set with [`crate::testing::set_config`] instead.

use crate::error::Error;

/// The value for `key`, if the manifest sets one.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::plughost::plugin::config::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::config_get(key);
}

/// The value for `key`, or a 500 naming the missing key (a deployment mistake, not the
/// client's fault).
pub fn require(key: &str) -> Result<String, Error> {
    get(key).ok_or_else(|| Error::internal(format!("plugin configuration `{key}` is not set")))
}

/// Every configured key and value, sorted by key.
pub fn all() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::plughost::plugin::config::get_all();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::config_all();
}
