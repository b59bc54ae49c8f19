//! The manifest and everything parsed from it: data only — no wasmtime, no tokio. The
//! lowest layer: everything else may read a spec; a spec reads nothing above it.
//!
//! - `manifest.rs` — `plughost.toml` -> a validated [`Manifest`](manifest::Manifest) and its `PluginSpec`s;
//! - `id.rs`       — `PluginId` and `Digest`: who a plugin is, which bytes it runs;
//! - `triggers.rs` — the event sources a manifest declares and each plugin's `events = [...]`;
//! - `schedule.rs` — `rate(...)`/`cron(...)` in EventBridge syntax, and when they fire;
//! - `pattern.rs`  — EventBridge event patterns: validation and matching;
//! - `section.rs`  — a labelled capability as the manifest sees it ([`Section`](section::Section),
//!   supplied by each capability), and the helpers of declaration parsers;
//! - `queues.rs`   — `[queue.<label>]`: a queue's delivery rules (the queue capability and
//!   its consumers' triggers both read them);
//! - `allow_list.rs` — `allowed_outbound_hosts` (Spin's syntax), matched by the outbound capability;
//! - `config_value.rs` — a `config` entry: a plain value or `{ secret = "name" }`.

pub mod allow_list;
pub mod config_value;
pub mod id;
pub mod manifest;
pub mod pattern;
pub mod queues;
pub mod schedule;
pub mod section;
pub mod triggers;
