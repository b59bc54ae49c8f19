//! `plughost:plugin/log` over a [`LogCtx`].

use super::{Level, LogCtx};
use crate::bindings::plughost::plugin::log::{Host, Level as WitLevel};

impl Host for &LogCtx {
    fn log(&mut self, level: WitLevel, message: String, fields: Vec<(String, String)>) {
        let level = match level {
            WitLevel::Trace => Level::Trace,
            WitLevel::Debug => Level::Debug,
            WitLevel::Info => Level::Info,
            WitLevel::Warn => Level::Warn,
            WitLevel::Error => Level::Error,
        };
        self.sink.emit(level, "log", &message, &fields);
    }
}
