//! Event triggers: how schedules, object changes, queue messages, topic notifications, kv
//! changes and bus events reach a plugin's `events` export — in Lambda from AWS's event
//! sources, in `plughost serve` from embedded ones — with the same sandbox, grants and
//! limits as HTTP (`invoke::deliver`).
//!
//! - `spec.rs`     — the manifest's `[queue.*]`/`[topic.*]`/`[bus.*]` and `events = [...]`;
//! - `schedule.rs` — `rate(...)`/`cron(...)` in EventBridge syntax, and when they fire;
//! - `pattern.rs`  — EventBridge event patterns: validation and matching;
//! - `table.rs`    — which plugins a source's event goes to, for one routing table;
//! - `event.rs`    — the WIT event values, built from what a source reports.
//!
//! Where events come from: `lambda/events.rs` (AWS records), `serve/events.rs` (the local
//! scheduler and the test endpoint).

pub mod event;
pub mod pattern;
pub mod schedule;
pub mod spec;
pub mod table;

pub use spec::{QueueSpec, Sources, Trigger};
