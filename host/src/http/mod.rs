//! The answers the host gives on its own, whoever asks (the app, a capability's local
//! routes, the edges): JSON errors, the request-id header and the access line.
//! Transport-agnostic; the WIT request/response conversions live with `dispatch/`.
//!
//! - `host_error.rs` — [`HostError`]: every answer the host gives on its own, as JSON;
//! - `access.rs`   — the request-id header and the access line every answer gets.

mod access;
mod host_error;

pub use access::{REQUEST_ID_HEADER, access_log, tag_request_id};
pub use host_error::HostError;

/// Request bodies larger than this are refused with 413 (Lambda's payload limit).
pub const DEFAULT_MAX_BODY: usize = 6 * 1024 * 1024;
