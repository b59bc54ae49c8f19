//! The HTTP edge: conversions between `http` types and the WIT request/response, and the
//! JSON errors the host itself answers with. Transport-agnostic: `serve/` (hyper) and the
//! Lambda entry both go through these functions via `App::handle`.
//!
//! - `request.rs`  — `http::Request` + route match -> WIT `request`;
//! - `response.rs` — WIT `response` -> `http::Response`, validated;
//! - `error.rs`    — [`HostError`]: every answer the host gives on its own, as JSON;
//! - `access.rs`   — the request-id header and the access line every answer gets.

mod access;
mod error;
mod request;
mod response;

pub use access::{REQUEST_ID_HEADER, access_log, tag_request_id};
pub use error::HostError;
pub use request::to_wit_request;
pub use response::from_wit_response;

/// Request bodies larger than this are refused with 413 (Lambda's payload limit).
pub const DEFAULT_MAX_BODY: usize = 6 * 1024 * 1024;
