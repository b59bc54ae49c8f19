//! The last log lines of each plugin, kept in memory for the local console (`serve`
//! only): a `tracing` layer beside the one that writes the log, so the console shows the
//! same lines, with their request ids, that the terminal does.
//!
//! Bounded: [`LINES_PER_PLUGIN`] lines of at most [`MAX_LINE`] bytes per plugin, and at
//! most [`MAX_PLUGINS`] plugins (ids come from the host, never from a plugin). What a
//! plugin logged is escaped before it gets here (`capability/log`); the page shows it as
//! text, never as markup.

use crate::observability::logging::access_record;
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
    by_plugin: Arc<Mutex<BTreeMap<String, VecDeque<Kept>>>>,
}

/// A line as kept: its request id, message and other fields in one allocation, made into a
/// [`LogLine`] only when the console asks (lines are kept on every request, read rarely).
struct Kept {
    at_ms: u64,
    level: &'static str,
    target: &'static str,
    /// The request id, the message, then the other fields.
    text: Box<str>,
    /// Where the message starts and the other fields start in `text`.
    message_at: u32,
    rest_at: u32,
    has_request_id: bool,
}

impl Kept {
    /// A line logged now: `text` holds the request id, then the message from `at.0`, then
    /// the other fields from `at.1`.
    fn now(metadata: &'static tracing::Metadata<'static>, text: String, at: (u32, u32), has_request_id: bool) -> Self {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        Self {
            at_ms,
            level: metadata.level().as_str(),
            target: metadata.target(),
            text: text.into_boxed_str(),
            message_at: at.0,
            rest_at: at.1,
            has_request_id,
        }
    }

    fn to_line(&self) -> LogLine {
        let (message_at, rest_at) = (self.message_at as usize, self.rest_at as usize);
        LogLine {
            at_ms: self.at_ms,
            level: self.level,
            target: self.target,
            request_id: self.has_request_id.then(|| self.text[..message_at].to_owned()),
            message: self.text[message_at..rest_at].to_owned(),
            fields: self.text[rest_at..].to_owned(),
        }
    }
}

impl RecentLogs {
    /// The last lines of `plugin`, oldest first.
    pub fn of(&self, plugin: &str) -> Vec<LogLine> {
        let lines = self.by_plugin.lock().unwrap_or_else(|p| p.into_inner());
        lines.get(plugin).map(|lines| lines.iter().map(Kept::to_line).collect()).unwrap_or_default()
    }

    fn keep(&self, plugin: &str, line: Kept) {
        let mut lines = self.by_plugin.lock().unwrap_or_else(|p| p.into_inner());
        if !lines.contains_key(plugin) {
            if lines.len() >= MAX_PLUGINS {
                return;
            }
            // The plugin's name is copied once, for its first line.
            lines.insert(plugin.to_owned(), VecDeque::new());
        }
        let Some(kept) = lines.get_mut(plugin) else { return };
        let old = (kept.len() == LINES_PER_PLUGIN).then(|| kept.pop_front());
        kept.push_back(line);
        drop(lines);
        // The line that made room is freed outside the lock.
        drop(old);
    }
}

/// Collects a line's fields: `plugin` and `request_id` apart, the message, the rest —
/// into buffers each thread reuses, so a line costs one allocation, its [`Kept::text`].
#[derive(Default)]
struct Fields {
    has_plugin: bool,
    has_request_id: bool,
    plugin: String,
    request_id: String,
    message: String,
    rest: String,
}

impl Fields {
    fn clear(&mut self) {
        (self.has_plugin, self.has_request_id) = (false, false);
        for buffer in [&mut self.plugin, &mut self.request_id, &mut self.message, &mut self.rest] {
            buffer.clear();
            // A rare huge line's buffer is not kept by the thread for good.
            if buffer.capacity() > 4 * MAX_LINE {
                *buffer = String::new();
            }
        }
    }
}

impl Fields {
    fn push_rest(&mut self, name: &str, value: &str) {
        if !self.rest.is_empty() {
            self.rest.push(' ');
        }
        self.rest.push_str(name);
        self.rest.push('=');
        self.rest.push_str(value);
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "plugin" => {
                self.has_plugin = true;
                self.plugin.push_str(value);
            }
            "request_id" => {
                self.has_request_id = true;
                self.request_id.push_str(value);
            }
            "message" => self.message.push_str(value),
            name => self.push_rest(name, value),
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_str(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_str(field, itoa::Buffer::new().format(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // Display-formatted fields (`%value`) and the message arrive here; a message is
        // written straight into its buffer, anything else formatted once, then as text.
        if field.name() == "message" {
            use std::fmt::Write;
            let _infallible = write!(self.message, "{value:?}");
        } else {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// `text` cut to at most [`MAX_LINE`] bytes, on a character boundary, `…` marking a cut.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_LINE {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..end]))
}

thread_local! {
    static FIELDS: std::cell::RefCell<Fields> = std::cell::RefCell::default();
}

impl<S: Subscriber> Layer<S> for RecentLogs {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // Nested events (one logged while formatting another) get buffers of their own.
        FIELDS.with(|fields| match fields.try_borrow_mut() {
            Ok(mut fields) => self.record(event, &mut fields),
            Err(_) => self.record(event, &mut Fields::default()),
        });
    }
}

impl RecentLogs {
    fn record(&self, event: &Event<'_>, fields: &mut Fields) {
        let metadata = event.metadata();
        if access_record::with_current(metadata, |line| self.keep_access(line, metadata)).is_some() {
            return;
        }
        fields.clear();
        event.record(fields);
        if !fields.has_plugin {
            return;
        }
        let (message, rest) = (bounded(&fields.message), bounded(&fields.rest));
        let mut text = String::with_capacity(fields.request_id.len() + message.len() + rest.len());
        text.push_str(&fields.request_id);
        let message_at = text.len() as u32;
        text.push_str(&message);
        let rest_at = text.len() as u32;
        text.push_str(&rest);
        let line = Kept::now(metadata, text, (message_at, rest_at), fields.has_request_id);
        self.keep(&fields.plugin, line);
    }

    /// The access line, from its record ([`access`]): kept as visiting its event would
    /// keep it (`method=GET path=/hello/ada status=200 route=/hello/{name} micros=35`),
    /// built straight into the one allocation.
    fn keep_access(&self, line: &access_record::AccessLine, metadata: &'static tracing::Metadata<'static>) {
        let Some(plugin) = line.plugin() else { return };
        let mut numbers = (itoa::Buffer::new(), itoa::Buffer::new());
        let (status, micros) = (numbers.0.format(line.status), numbers.1.format(line.micros));
        let route = line.route().map_or(("", ""), |route| (" route=", route));
        let rest = [
            ("method=", line.method.as_str()),
            (" path=", line.path.as_str()),
            (" status=", status),
            route,
            (" micros=", micros),
        ];
        let rest_length: usize = rest.iter().map(|(label, value)| label.len() + value.len()).sum();
        let mut text = String::with_capacity(line.request_id.len() + access_record::MESSAGE.len() + rest_length);
        text.push_str(&line.request_id);
        let message_at = text.len() as u32;
        text.push_str(access_record::MESSAGE);
        let rest_at = text.len() as u32;
        for (label, value) in rest {
            text.push_str(label);
            text.push_str(value);
        }
        if text.len() - rest_at as usize > MAX_LINE {
            // A huge path: cut as any other line's fields are.
            let cut = bounded(&text[rest_at as usize..]).into_owned();
            text.truncate(rest_at as usize);
            text.push_str(&cut);
        }
        self.keep(plugin, Kept::now(metadata, text, (message_at, rest_at), true));
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
