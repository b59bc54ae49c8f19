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
    native::record(level, message, fields);
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
/// The native stand-in (unit tests, benches): lines are kept per thread for
/// [`crate::testing::take_logs`].
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use super::LogLevel;
    use std::cell::RefCell;

    thread_local! {
        static LOGS: RefCell<Vec<LogLine>> = const { RefCell::new(Vec::new()) };
    }

    /// A log line a plugin emitted while running natively.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LogLine {
        pub level: LogLevel,
        pub message: String,
        pub fields: Vec<(String, String)>,
    }

    /// Returns and forgets the log lines emitted on this thread.
    pub fn take_logs() -> Vec<LogLine> {
        LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    pub(crate) fn record(level: LogLevel, message: &str, fields: Vec<(String, String)>) {
        LOGS.with(|l| l.borrow_mut().push(LogLine { level, message: message.to_owned(), fields }));
    }
}
