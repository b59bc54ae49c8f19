//! The last log lines of each plugin, kept in memory for the local console (`serve`
//! only): a `tracing` layer beside the one that writes the log, so the console shows the
//! same lines, with their request ids, that the terminal does.
//!
//! Bounded: [`LINES_PER_PLUGIN`] lines of at most [`MAX_LINE`] bytes per plugin, and at
//! most [`MAX_PLUGINS`] plugins (ids come from the host, never from a plugin). What a
//! plugin logged is escaped before it gets here (`capability/log`); the page shows it as
//! text, never as markup.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

pub const LINES_PER_PLUGIN: usize = 200;
pub const MAX_LINE: usize = 2048;
pub const MAX_PLUGINS: usize = 1000;

/// One log line as the console shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub level: &'static str,
    pub target: &'static str,
    pub request_id: Option<String>,
    pub message: String,
    /// The line's other fields, `name=value` separated by spaces.
    pub fields: String,
}

/// The layer and the console's view of it: clones share the lines.
#[derive(Default, Clone)]
pub struct RecentLogs {
    by_plugin: Arc<Mutex<BTreeMap<String, VecDeque<LogLine>>>>,
}

impl RecentLogs {
    /// The last lines of `plugin`, oldest first.
    pub fn of(&self, plugin: &str) -> Vec<LogLine> {
        let lines = self.by_plugin.lock().unwrap_or_else(|p| p.into_inner());
        lines.get(plugin).map(|lines| lines.iter().cloned().collect()).unwrap_or_default()
    }

    fn keep(&self, plugin: String, line: LogLine) {
        let mut lines = self.by_plugin.lock().unwrap_or_else(|p| p.into_inner());
        if !lines.contains_key(&plugin) && lines.len() >= MAX_PLUGINS {
            return;
        }
        let kept = lines.entry(plugin).or_default();
        let old = (kept.len() == LINES_PER_PLUGIN).then(|| kept.pop_front());
        kept.push_back(line);
        drop(lines);
        // The line that made room is freed outside the lock.
        drop(old);
    }
}

/// Collects a line's fields: `plugin` and `request_id` apart, the message, the rest.
#[derive(Default)]
struct Fields {
    plugin: Option<String>,
    request_id: Option<String>,
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "plugin" => self.plugin = Some(value.to_owned()),
            "request_id" => self.request_id = Some(value.to_owned()),
            "message" => self.message.push_str(value),
            name => {
                if !self.rest.is_empty() {
                    self.rest.push(' ');
                }
                self.rest.push_str(name);
                self.rest.push('=');
                self.rest.push_str(value);
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_str(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_str(field, itoa::Buffer::new().format(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // Display-formatted fields (`%value`) arrive here too; format once, then as text.
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Cuts `text` to at most [`MAX_LINE`] bytes, on a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl<S: Subscriber> Layer<S> for RecentLogs {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(plugin) = fields.plugin else { return };
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let metadata = event.metadata();
        self.keep(
            plugin,
            LogLine {
                at_ms,
                level: metadata.level().as_str(),
                target: metadata.target(),
                request_id: fields.request_id,
                message: bounded(fields.message),
                fields: bounded(fields.rest),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn lines_with_a_plugin_are_kept_per_plugin_with_their_request_id_and_bounded() {
        let recent = RecentLogs::default();
        let subscriber = tracing_subscriber::registry().with(recent.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(plugin = "hello", request_id = "r1", status = 200, "request");
            tracing::warn!(plugin = %"orders", "slow");
            tracing::info!("a host line with no plugin");
            for n in 0..LINES_PER_PLUGIN + 5 {
                tracing::info!(plugin = "busy", n, "line");
            }
            tracing::info!(plugin = "long", "{}", "x".repeat(MAX_LINE * 2));
        });
        let hello = recent.of("hello");
        assert_eq!(hello.len(), 1);
        assert_eq!((hello[0].request_id.as_deref(), hello[0].message.as_str()), (Some("r1"), "request"));
        assert_eq!((hello[0].level, hello[0].fields.as_str()), ("INFO", "status=200"));
        assert_eq!(recent.of("orders")[0].level, "WARN");
        let busy = recent.of("busy");
        assert_eq!(busy.len(), LINES_PER_PLUGIN);
        assert_eq!(busy[0].fields, "n=5", "the oldest lines go first");
        assert!(recent.of("long")[0].message.len() <= MAX_LINE + '…'.len_utf8());
        assert!(recent.of("nobody").is_empty());
    }
}
