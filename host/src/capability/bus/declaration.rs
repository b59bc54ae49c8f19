//! A bus's declaration in the manifest: `[bus.<label>]`, with no settings yet. Who
//! receives its events is said where they are received: plugins with
//! `events = [{ bus = "<label>", pattern = {...} }]`.

/// Checks a `[bus.<label>]` table (it must be empty).
pub use crate::capability::labelled::no_settings as check;
