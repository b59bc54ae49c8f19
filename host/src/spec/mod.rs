//! The manifest and everything parsed from it: data only — no wasmtime, no tokio. The
//! lowest layer: everything else may read a spec; a spec reads nothing above it.
//!
//! - `manifest.rs` — `plughost.toml` -> a validated [`Manifest`](manifest::Manifest) and its `PluginSpec`s;
//! - `id.rs`       — `PluginId` and `Digest`: who a plugin is, which bytes it runs;
//! - `triggers.rs` — the event sources a manifest declares and each plugin's `events = [...]`;
//! - `schedule.rs` — `rate(...)`/`cron(...)` in EventBridge syntax, and when they fire;
//! - `pattern.rs`  — EventBridge event patterns: validation and matching.

pub mod id;
pub mod manifest;
pub mod pattern;
pub mod schedule;
pub mod triggers;
