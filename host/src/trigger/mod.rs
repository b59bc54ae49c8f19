//! Event triggers: how schedules, object changes, queue messages, topic notifications,
//! store changes and bus events reach a plugin's `events` export — in Lambda from AWS's event
//! sources, in `plughost serve` from embedded ones — with the same sandbox, grants and
//! limits as HTTP (`invoke::deliver`).
//!
//! - `binding.rs`  — the storage map's `queue`/`topic`/`bus` sections: which ARN a label is;
//! - `spec.rs`     — the manifest's `[queue.*]`/`[topic.*]`/`[bus.*]` and `events = [...]`;
//! - `schedule.rs` — `rate(...)`/`cron(...)` in EventBridge syntax, and when they fire;
//! - `pattern.rs`  — EventBridge event patterns: validation and matching;
//! - `table.rs`    — which plugins a source's event goes to, for one routing table;
//! - `event.rs`    — the WIT event values, built from what a source reports;
//! - `tfvars.rs`   — `plughost tfvars`: the manifest's sources and triggers as Terraform variables;
//! - `local/`      — `serve`'s own event sources: durable queues and outbox, the scheduler.
//!
//! Where events come from: `lambda/events.rs` (AWS records), `local/` (in `serve`).

pub mod binding;
pub mod event;
pub mod local;
pub mod pattern;
pub mod schedule;
pub mod spec;
pub mod table;
pub mod tfvars;

pub use spec::{QueueSpec, Sources, Trigger};

/// The manifest's and the storage map's top-level sections that declare event sources.
pub const SOURCE_SECTIONS: [&str; 3] = ["queue", "topic", "bus"];
