//! Native stand-ins for the host imports, so plugin logic can be unit-tested and
//! benchmarked with plain `cargo test` — no host, no wasm. Only compiled for non-wasm targets.
//!
//! State is per thread (each `#[test]` runs on its own thread), so tests do not interfere:
//! config values, log lines, spans, outgoing HTTP answers, kv stores in memory (`kv.rs`,
//! the host's rules), a clock that tests may set and move ([`set_now`], [`advance`]) and the
//! invocation's deadline ([`set_deadline`]). The stand-ins of outgoing HTTP and log lines
//! live beside what they stand in for (`http::native`, `log::native`) and are re-exported here.

mod kv;

pub use crate::http::native::{clear_http, respond_http};
pub use crate::log::native::{LogLine, take_logs};
pub(crate) use kv::MemoryStore;
pub use kv::clear_kv;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

thread_local! {
    static CONFIG: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    static SPANS: RefCell<Vec<SpanRecord>> = const { RefCell::new(Vec::new()) };
    /// Unix milliseconds, when a test set the clock.
    static NOW: RefCell<Option<u64>> = const { RefCell::new(None) };
    static DEADLINE: RefCell<Option<u64>> = const { RefCell::new(None) };
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Sets this thread's clock (what TTLs and idempotency claims compare with) to `time`; it
/// stays there until moved with [`advance`] or reset with [`clear_clock`].
pub fn set_now(time: SystemTime) {
    NOW.with(|n| *n.borrow_mut() = Some(millis(time)));
}

/// Moves this thread's clock forward by `by` (from the real time if it was not set).
pub fn advance(by: Duration) {
    let next = now_ms() + by.as_millis() as u64;
    NOW.with(|n| *n.borrow_mut() = Some(next));
}

/// The real clock again, and the default deadline.
pub fn clear_clock() {
    NOW.with(|n| *n.borrow_mut() = None);
    DEADLINE.with(|d| *d.borrow_mut() = None);
}

/// Makes `invocation::deadline()` return `time` on this thread (by default: five seconds,
/// the manifest's default `timeout`, after the clock).
pub fn set_deadline(time: SystemTime) {
    DEADLINE.with(|d| *d.borrow_mut() = Some(millis(time)));
}

pub(crate) fn now_ms() -> u64 {
    NOW.with(|n| *n.borrow()).unwrap_or_else(|| millis(SystemTime::now()))
}

pub(crate) fn deadline_ms() -> u64 {
    DEADLINE.with(|d| *d.borrow()).unwrap_or_else(|| now_ms() + 5_000)
}

/// A span a plugin made while running natively, kept when it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanRecord {
    pub name: String,
    /// In the order first set; setting a key again replaces its value.
    pub attributes: Vec<(String, String)>,
}

/// Makes `config::get(key)` return `value` on this thread.
pub fn set_config(key: &str, value: &str) {
    CONFIG.with(|c| c.borrow_mut().insert(key.to_owned(), value.to_owned()));
}

/// Removes every config value set on this thread.
pub fn clear_config() {
    CONFIG.with(|c| c.borrow_mut().clear());
}

/// Returns and forgets the spans that ended on this thread, in the order they ended
/// (an inner span before its outer one).
pub fn take_spans() -> Vec<SpanRecord> {
    SPANS.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

pub(crate) fn record_span(span: SpanRecord) {
    SPANS.with(|s| s.borrow_mut().push(span));
}

pub(crate) fn config_get(key: &str) -> Option<String> {
    CONFIG.with(|c| c.borrow().get(key).cloned())
}

pub(crate) fn config_all() -> Vec<(String, String)> {
    CONFIG.with(|c| c.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}
