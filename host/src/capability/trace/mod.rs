//! The `trace` capability: spans of the plugin's own, in the request's trace. Every
//! plugin has it (no grant: a span reaches nothing but the operator's trace backend).
//!
//! - `mod.rs`  — [`TraceCtx`] (the request's open spans and their limits) and
//!   `add_to_linker`; the same open spans sit in the request's `RequestContext`
//!   (`capability/request_context.rs`), which makes a host call inside a span its child;
//! - `host.rs` — the `plughost:plugin/trace` import over a [`TraceCtx`].
//!
//! A span is a `tracing` span (target `plughost::plugin`, level `debug`, named with
//! `otel.name`), so the exporter in `observability/telemetry/traces.rs` sends it like the host's own.
//! Nothing is made unless this process exports spans: the plugin gets a handle that records
//! nothing. Limits keep a plugin from flooding the operator's traces (or bill): at most
//! [`MAX_SPANS_PER_REQUEST`] spans, [`MAX_ATTRIBUTES`] attributes set on each, names and keys
//! cut at [`MAX_NAME_BYTES`], values at [`MAX_VALUE_BYTES`]; every string escaped and the
//! plugin's secret values replaced, as in its log lines.

mod host;

use super::log::LogSink;
use std::sync::{Arc, Mutex, MutexGuard};
use wasmtime::component::{HasData, Linker};

pub const MAX_SPANS_PER_REQUEST: u32 = 64;
pub const MAX_ATTRIBUTES: u32 = 32;
/// The longest span name or attribute key kept, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
pub const MAX_VALUE_BYTES: usize = 256;

/// What a plugin's `span` handle names (the bindgen `with` type): the span itself lives
/// in the request's [`TraceCtx`], found by the handle's number.
pub struct PluginSpan;

/// The handle number of a span that records nothing (over the limit, or nothing exported).
const NOT_RECORDED: u32 = u32::MAX;

/// One open span of the plugin's.
struct Open {
    rep: u32,
    span: tracing::Span,
    attributes: u32,
}

/// The plugin's spans of one request: how many it made, and those still open (at most
/// [`MAX_SPANS_PER_REQUEST`]), in the order it opened them.
#[derive(Default)]
pub struct OpenSpans {
    made: u32,
    open: Vec<Open>,
}

impl OpenSpans {
    /// The span new spans and host calls are children of: the innermost still open.
    pub(crate) fn innermost(&self) -> Option<&tracing::Span> {
        self.open.last().map(|open| &open.span)
    }
}

/// The per-request trace context held in the store.
pub struct TraceCtx {
    /// The plugin's id and secret values (spans are cleaned as its log lines are).
    sink: Arc<LogSink>,
    spans: Arc<Mutex<OpenSpans>>,
    /// Whether spans are made at all (this process exports them).
    recording: bool,
}

impl TraceCtx {
    /// Records into `spans`, the request's open spans (shared with its `RequestContext`).
    pub fn new(sink: Arc<LogSink>, spans: Arc<Mutex<OpenSpans>>) -> Self {
        Self::with_recording(sink, spans, crate::observability::telemetry::traces::exporting())
    }

    fn with_recording(sink: Arc<LogSink>, spans: Arc<Mutex<OpenSpans>>, recording: bool) -> Self {
        Self { sink, spans, recording }
    }

    fn lock(&self) -> MutexGuard<'_, OpenSpans> {
        self.spans.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts span `name`, a child of the innermost open one (else of the current span,
    /// the plugin's `call`), and returns its handle number.
    fn start(&self, name: &str) -> u32 {
        if !self.recording {
            return NOT_RECORDED;
        }
        let mut spans = self.lock();
        if spans.made >= MAX_SPANS_PER_REQUEST {
            return NOT_RECORDED;
        }
        let name = self.clean(name, MAX_NAME_BYTES);
        let plugin = self.sink.plugin().as_str();
        let make = || tracing::debug_span!(target: "plughost::plugin", "span", otel.name = &*name, plugin);
        let span = match spans.innermost() {
            Some(parent) => parent.in_scope(make),
            None => make(),
        };
        let rep = spans.made;
        spans.made += 1;
        if !span.is_disabled() {
            spans.open.push(Open { rep, span, attributes: 0 });
        }
        rep
    }

    /// Sets `key` to `value` on span `rep`, within its attribute budget.
    fn set_attribute(&self, rep: u32, key: &str, value: &str) {
        let mut spans = self.lock();
        let Some(open) = spans.open.iter_mut().find(|open| open.rep == rep) else { return };
        if open.attributes >= MAX_ATTRIBUTES {
            return;
        }
        open.attributes += 1;
        let (key, value) = (self.clean(key, MAX_NAME_BYTES), self.clean(value, MAX_VALUE_BYTES));
        tracing_opentelemetry::OpenTelemetrySpanExt::set_attribute(&open.span, key, value);
    }

    /// Ends span `rep` (the plugin dropped its handle).
    fn end(&self, rep: u32) {
        let ended = {
            let mut spans = self.lock();
            let position = spans.open.iter().position(|open| open.rep == rep);
            position.map(|at| spans.open.remove(at))
        };
        // Closed outside the lock: closing exports, which is the subscriber's business.
        drop(ended);
    }

    /// `text` cut to `max` bytes, the plugin's secrets replaced, control characters escaped.
    fn clean(&self, text: &str, max: usize) -> String {
        let redacted = self.sink.redact(crate::observability::escape::truncate(text, max));
        crate::observability::escape::escape_controls(&redacted).into_owned()
    }
}

struct HasTrace;

impl HasData for HasTrace {
    type Data<'a> = &'a TraceCtx;
}

pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &TraceCtx) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::trace::add_to_linker::<T, HasTrace>(linker, get)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::id::PluginId;

    fn ctx(recording: bool) -> TraceCtx {
        let secrets: Arc<[String]> = Arc::from(["hunter22".to_owned()]);
        TraceCtx::with_recording(
            LogSink::new(PluginId::parse("p").unwrap(), "req-1".into(), secrets),
            Arc::default(),
            recording,
        )
    }

    /// Runs `test` with a subscriber that enables every span (as the exporter would).
    fn with_spans_enabled(test: impl FnOnce()) {
        tracing::subscriber::with_default(tracing_subscriber::registry(), test);
    }

    #[test]
    fn nothing_is_made_when_nothing_is_exported() {
        with_spans_enabled(|| {
            let ctx = ctx(false);
            assert_eq!(ctx.start("work"), NOT_RECORDED);
            assert!(ctx.lock().open.is_empty());
        });
    }

    #[test]
    fn spans_past_the_limit_record_nothing() {
        with_spans_enabled(|| {
            let ctx = ctx(true);
            for n in 0..MAX_SPANS_PER_REQUEST {
                let rep = ctx.start("work");
                assert_eq!(rep, n);
                ctx.end(rep);
            }
            assert_eq!(ctx.start("one too many"), NOT_RECORDED);
            assert!(ctx.lock().open.is_empty());
        });
    }

    #[test]
    fn the_innermost_open_span_is_the_parent_and_ending_out_of_order_keeps_the_rest() {
        with_spans_enabled(|| {
            let ctx = ctx(true);
            let outer = ctx.start("outer");
            let inner = ctx.start("inner");
            {
                let spans = ctx.lock();
                let (outer_span, inner_span) = (&spans.open[0].span, &spans.open[1].span);
                let parent = tracing::dispatcher::get_default(|d| {
                    d.downcast_ref::<tracing_subscriber::Registry>().and_then(|registry| {
                        use tracing_subscriber::registry::LookupSpan;
                        registry.span(&inner_span.id().unwrap())?.parent().map(|p| p.id())
                    })
                });
                assert_eq!(parent, outer_span.id(), "inner is a child of outer");
            }
            ctx.end(outer);
            assert_eq!(ctx.lock().open.iter().map(|o| o.rep).collect::<Vec<_>>(), [inner]);
            ctx.end(NOT_RECORDED);
            ctx.end(inner);
            assert!(ctx.lock().open.is_empty());
        });
    }

    #[test]
    fn attributes_are_counted_per_span() {
        with_spans_enabled(|| {
            let ctx = ctx(true);
            let rep = ctx.start("work");
            for n in 0..MAX_ATTRIBUTES + 5 {
                ctx.set_attribute(rep, &format!("k{n}"), "v");
            }
            assert_eq!(ctx.lock().open[0].attributes, MAX_ATTRIBUTES);
            ctx.set_attribute(NOT_RECORDED, "k", "v");
        });
    }

    #[test]
    fn strings_are_cut_escaped_and_free_of_secrets() {
        let ctx = ctx(true);
        assert_eq!(ctx.clean("token hunter22\nforged", 256), "token [redacted]\\nforged");
        assert_eq!(ctx.clean(&"é".repeat(40), MAX_NAME_BYTES).len(), 64);
        assert_eq!(ctx.clean(&"x".repeat(1000), MAX_VALUE_BYTES).len(), MAX_VALUE_BYTES);
    }
}
