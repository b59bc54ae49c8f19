//! Event triggers: how schedules, object changes, queue messages, topic notifications,
//! store changes and bus events reach a plugin's `events` export — in Lambda from AWS's event
//! sources, in `plughost serve` from embedded ones — with the same sandbox, grants and
//! limits as HTTP (`invoke::deliver`).
//!
//! - `binding.rs`  — which label an SQS or SNS event's ARN is, and which queues `serve` polls;
//! - `spec.rs`     — the declared sources as triggers see them, and `events = [...]`;
//! - `schedule.rs` — `rate(...)`/`cron(...)` in EventBridge syntax, and when they fire;
//! - `pattern.rs`  — EventBridge event patterns: validation and matching;
//! - `table.rs`    — which plugins a source's event goes to, for one routing table;
//! - `event.rs`    — the WIT event values, built from what a source reports;
//! - `tfvars.rs`   — `plughost tfvars`: the manifest's sources and triggers as Terraform variables;
//! - `local/`      — `serve`'s own event sources: durable queues and outbox, the scheduler.
//!
//! Where events come from: `lambda/events.rs` (AWS records), `local/` (in `serve`).
//!
//! Queues, topics and buses are also capabilities plugins send to
//! (`capability/{queue,topic,bus}/`, which own their manifest and storage-map sections);
//! this module is where their messages are received, so it names them.

pub mod binding;
pub mod event;
pub mod local;
pub mod pattern;
pub mod schedule;
pub mod spec;
pub mod table;
pub mod tfvars;

pub use spec::{Sources, Trigger};
