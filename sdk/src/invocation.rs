//! The invocation running this plugin — one HTTP request, event or task — and its deadline:
//! when the host stops it (the plugin's `timeout`, or the Lambda invocation's end if that
//! comes first).
//!
//! ```
//! let left = plughost_sdk::invocation::remaining();
//! // e.g. give an outgoing request no longer than what is left
//! # assert!(left > std::time::Duration::ZERO);
//! ```
//!
//! Compiled natively the deadline is five seconds (the manifest's default `timeout`) after
//! the clock, or what [`crate::testing::set_deadline`] set.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the host stops this invocation.
pub fn deadline() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(deadline_ms())
}

/// The time left until [`deadline`] (zero once it has passed).
pub fn remaining() -> Duration {
    Duration::from_millis(deadline_ms().saturating_sub(now_ms()))
}

/// The deadline in Unix milliseconds, as the host gives it.
pub(crate) fn deadline_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::plughost::plugin::invocation::deadline();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::deadline_ms();
}

/// The wall clock in Unix milliseconds (WASI's, the host's clock; natively the testing clock).
pub(crate) fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::now_ms();
}
