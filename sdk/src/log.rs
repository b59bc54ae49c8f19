//! Structured log lines, emitted by the host tagged with plugin id and request id.
//!
//! `println!`/`eprintln!` also work (they become `info`/`warn` lines), but these functions
//! carry a level and fields. Compiled natively, lines are kept for
//! [`crate::testing::take_logs`] instead.

pub use crate::bindings::plughost::plugin::log::Level as LogLevel;

/// Emits `message` at `level` with extra `fields`.
pub fn log(level: LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    #[cfg(target_arch = "wasm32")]
    crate::bindings::plughost::plugin::log::log(level, message, &fields);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::record_log(level, message, fields);
}

pub fn debug(message: &str) {
    log(LogLevel::Debug, message, &[]);
}

pub fn info(message: &str) {
    log(LogLevel::Info, message, &[]);
}

pub fn warn(message: &str) {
    log(LogLevel::Warn, message, &[]);
}

pub fn error(message: &str) {
    log(LogLevel::Error, message, &[]);
}
