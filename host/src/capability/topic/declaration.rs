//! A topic's declaration in the manifest: `[topic.<label>]`, with no settings yet. Who
//! receives its notifications is said where they are received: plugins with
//! `events = [{ topic = "<label>" }]`, queues declared with `topics = ["<label>"]`.

/// Checks a `[topic.<label>]` table (it must be empty).
pub use crate::capability::labelled::no_settings as check;
