//! The `log` capability: a plugin's log lines — from the `log` import and from its
//! stdout/stderr — become host `tracing` events tagged with plugin id and request id.
//!
//! - [`LogSink`]: one per request; enforces the line budget and line length;
//! - `host.rs`: the `plughost:plugin/log` import over a sink;
//! - `stdio.rs`: WASI stdout/stderr streams that split output into lines for the sink.
//!
//! Limits exist so a chatty or hostile plugin cannot flood the operator's logs (or bill),
//! nor the host's CPU: at most [`MAX_LINES_PER_REQUEST`] lines, each cut at
//! [`MAX_LINE_BYTES`]; one stdio write carries at most [`MAX_STDIO_WRITE`] bytes and costs
//! time linear in its size. Every plugin-supplied string is escaped ([`escape_controls`])
//! before it reaches a log line, so a plugin cannot forge host lines.

mod host;
mod stdio;

pub use stdio::StdioLog;

use crate::observability::escape::{escape_controls, truncate};
use crate::spec::id::PluginId;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use wasmtime::component::{HasData, Linker};

pub const MAX_LINES_PER_REQUEST: u32 = 256;
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Structured fields kept per line; more are dropped.
pub const MAX_FIELDS: usize = 32;
/// The most one `output-stream.write` to stdout/stderr may carry: what `check-write`
/// permits. A larger write breaks the WASI contract and traps the plugin.
pub const MAX_STDIO_WRITE: usize = 64 * 1024;

/// The severity of a plugin log line (mirrors the WIT `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Where one request's plugin log lines go.
#[derive(Debug)]
pub struct LogSink {
    plugin: PluginId,
    request_id: Arc<str>,
    lines_left: AtomicU32,
    dropped: AtomicU32,
    /// Unterminated output of stdout (0) and stderr (1), emitted at a newline or at the end.
    partial: [Mutex<Vec<u8>>; 2],
    /// The plugin's secret config values: replaced by `[redacted]` wherever it logs them.
    secrets: Arc<[String]>,
}

impl LogSink {
    pub fn new(plugin: PluginId, request_id: Arc<str>, secrets: Arc<[String]>) -> Arc<Self> {
        Arc::new(Self {
            plugin,
            request_id,
            lines_left: AtomicU32::new(MAX_LINES_PER_REQUEST),
            dropped: AtomicU32::new(0),
            partial: [Mutex::new(Vec::new()), Mutex::new(Vec::new())],
            secrets,
        })
    }

    /// `text` with every secret value of the plugin replaced. Values shorter than 4
    /// characters are left alone: redacting `1` or `on` would mangle every line.
    pub(crate) fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let mut text = std::borrow::Cow::Borrowed(text);
        for secret in self.secrets.iter().filter(|s| s.len() >= 4) {
            if text.contains(secret.as_str()) {
                text = std::borrow::Cow::Owned(text.replace(secret.as_str(), "[redacted]"));
            }
        }
        text
    }

    /// Text the plugin supplied, as it may reach any line of the host's log, a span or a
    /// dead letter: its secret values replaced, control characters escaped.
    pub fn clean(&self, text: &str) -> String {
        escape_controls(&self.redact(text)).into_owned()
    }

    /// The plugin whose lines these are.
    pub fn plugin(&self) -> &PluginId {
        &self.plugin
    }

    /// The request (or event delivery) they belong to.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Whether this request may emit no more lines.
    fn budget_spent(&self) -> bool {
        self.lines_left.load(Ordering::Relaxed) == 0
    }

    /// Emits one line, unless this request's budget is spent. Control characters in the
    /// message are escaped (`\n` becomes the two characters `\` `n`): a plugin can never
    /// start a line of its own in the host's log, nor colour or erase it with ANSI codes.
    pub fn emit(&self, level: Level, source: &'static str, message: &str, fields: &[(String, String)]) {
        let budget = self.lines_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if budget.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let redacted = self.redact(truncate(message, MAX_LINE_BYTES));
        let message = escape_controls(&redacted);
        // Field names and values are JSON-encoded, which escapes control characters too.
        let fields = if fields.is_empty() {
            String::new()
        } else {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .take(MAX_FIELDS)
                .map(|(k, v)| (truncate(k, 128).to_owned(), self.redact(truncate(v, 1024)).into()))
                .collect();
            serde_json::Value::Object(map).to_string()
        };
        let (plugin, request_id) = (self.plugin.as_str(), &*self.request_id);
        macro_rules! emit_at {
            ($lvl:expr) => {
                tracing::event!(target: "plugin", $lvl, plugin, request_id, source, fields, "{message}")
            };
        }
        match level {
            Level::Trace => emit_at!(tracing::Level::TRACE),
            Level::Debug => emit_at!(tracing::Level::DEBUG),
            Level::Info => emit_at!(tracing::Level::INFO),
            Level::Warn => emit_at!(tracing::Level::WARN),
            Level::Error => emit_at!(tracing::Level::ERROR),
        }
    }

    /// Appends raw stdout (`stream` 0) or stderr (1) output, emitting each complete line.
    ///
    /// Linear in `bytes` whatever they hold: each byte is scanned once, lines are sliced
    /// out of the write (never drained from the front of a buffer), and once the line
    /// budget is spent the rest is only counted. The caller bounds one write at
    /// [`MAX_STDIO_WRITE`] (`stdio.rs`), so no call holds the worker for long.
    pub(crate) fn write_stdio(&self, stream: usize, bytes: &[u8]) {
        let (level, source) = stdio_level(stream);
        let mut partial = self.partial[stream].lock().unwrap_or_else(|p| p.into_inner());
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.budget_spent() {
                // Nothing more will be logged: count the lines this output would have made.
                let lines = memchr::memchr_iter(b'\n', rest).count() as u32;
                self.dropped.fetch_add(lines, Ordering::Relaxed);
                partial.clear();
                return;
            }
            let Some(newline) = memchr::memchr(b'\n', rest) else {
                partial.extend_from_slice(&rest[..rest.len().min(MAX_LINE_BYTES + 1)]);
                if partial.len() > MAX_LINE_BYTES {
                    // An endless line: log what fits, drop the rest of it.
                    self.emit(level, source, &String::from_utf8_lossy(&partial), &[]);
                    partial.clear();
                }
                return;
            };
            let line = &rest[..newline];
            rest = &rest[newline + 1..];
            let text = if partial.is_empty() {
                String::from_utf8_lossy(&line[..line.len().min(MAX_LINE_BYTES)])
            } else {
                let room = (MAX_LINE_BYTES + 1).saturating_sub(partial.len());
                partial.extend_from_slice(&line[..line.len().min(room)]);
                let text = String::from_utf8_lossy(&partial).into_owned().into();
                partial.clear();
                text
            };
            self.emit(level, source, text.trim_end_matches('\r'), &[]);
        }
    }

    /// Emits unterminated output and, if lines were dropped, one line saying how many.
    /// Called once when the request ends, however it ends.
    pub fn finish(&self) {
        for stream in 0..2 {
            let rest = std::mem::take(&mut *self.partial[stream].lock().unwrap_or_else(|p| p.into_inner()));
            if !rest.is_empty() {
                let (level, source) = stdio_level(stream);
                self.emit(level, source, &String::from_utf8_lossy(&rest), &[]);
            }
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                target: "plughost",
                plugin = self.plugin.as_str(),
                request_id = &*self.request_id,
                dropped,
                "plugin exceeded {MAX_LINES_PER_REQUEST} log lines in one request; the rest were dropped"
            );
        }
    }
}

fn stdio_level(stream: usize) -> (Level, &'static str) {
    if stream == 0 { (Level::Info, "stdout") } else { (Level::Warn, "stderr") }
}

/// The per-request log context held in the store.
#[derive(Debug, Clone)]
pub struct LogCtx {
    sink: Arc<LogSink>,
}

impl LogCtx {
    pub fn new(sink: Arc<LogSink>) -> Self {
        Self { sink }
    }
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a LogCtx;
}

pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &LogCtx) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::log::add_to_linker::<T, HasLog>(linker, get)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> Arc<LogSink> {
        LogSink::new(PluginId::parse("p").unwrap(), "req-1".into(), Arc::from([]))
    }

    #[test]
    fn budget_caps_lines_per_request() {
        let sink = sink();
        for _ in 0..MAX_LINES_PER_REQUEST + 10 {
            sink.emit(Level::Info, "log", "x", &[]);
        }
        assert_eq!(sink.lines_left.load(Ordering::Relaxed), 0);
        assert_eq!(sink.dropped.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn stdio_is_split_into_lines_and_the_rest_flushed_at_finish() {
        let sink = sink();
        sink.write_stdio(0, b"one\ntw");
        sink.write_stdio(0, b"o\nthree");
        assert_eq!(sink.lines_left.load(Ordering::Relaxed), MAX_LINES_PER_REQUEST - 2);
        sink.finish();
        assert_eq!(sink.lines_left.load(Ordering::Relaxed), MAX_LINES_PER_REQUEST - 3);
    }

    #[test]
    fn very_long_unterminated_output_is_cut_into_lines() {
        let sink = sink();
        sink.write_stdio(1, &vec![b'a'; MAX_LINE_BYTES + 1]);
        assert_eq!(sink.lines_left.load(Ordering::Relaxed), MAX_LINES_PER_REQUEST - 1);
    }

    #[test]
    fn a_megabyte_of_newlines_emits_the_budget_and_counts_the_rest() {
        let sink = sink();
        let flood = vec![b'\n'; 1 << 20];
        for chunk in flood.chunks(MAX_STDIO_WRITE) {
            sink.write_stdio(0, chunk);
        }
        assert_eq!(sink.lines_left.load(Ordering::Relaxed), 0);
        assert_eq!(sink.dropped.load(Ordering::Relaxed), (1 << 20) - MAX_LINES_PER_REQUEST);
    }

    #[test]
    fn a_line_split_across_writes_is_one_line_cut_at_the_limit() {
        let sink = sink();
        sink.write_stdio(0, &vec![b'a'; MAX_LINE_BYTES - 10]);
        sink.write_stdio(0, &[b'b'; 100]);
        // Over the limit without a newline: one (cut) line, nothing left over.
        assert_eq!(sink.lines_left.load(Ordering::Relaxed), MAX_LINES_PER_REQUEST - 1);
        assert!(sink.partial[0].lock().unwrap().is_empty());
        sink.write_stdio(0, b"tail\r\n");
        assert_eq!(sink.lines_left.load(Ordering::Relaxed), MAX_LINES_PER_REQUEST - 2);
    }
}
