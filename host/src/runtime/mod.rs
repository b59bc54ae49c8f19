//! Plugins as runnable things: the engine, loading and preparing components, admission,
//! one invocation on a fresh instance, and where deployments come from.
//!
//! - `engine.rs`         — the process-wide wasmtime engine, linker and epoch ticker;
//! - `loader.rs`         — manifest -> compiled, granted plugins;
//! - `plugin.rs`         — a loaded plugin; `prepare`: grant and world checks, `InstancePre`;
//! - `artifact_cache.rs` — compiled components on disk (+ signed, shared through S3);
//! - `admission.rs`      — who may start an instance now: per-plugin cap, slots, memory budget;
//! - `invoke.rs`         — one request, event or task on one plugin: fresh store, limits, failure kinds;
//! - `source.rs`         — where the manifest comes from: a file, or a deployment in S3;
//! - `deployment/`       — deployments in S3: layout, the S3 store, manifest edits.

pub mod admission;
pub mod artifact_cache;
pub mod deployment;
pub mod engine;
pub mod invoke;
pub mod loader;
pub mod plugin;
pub mod source;
