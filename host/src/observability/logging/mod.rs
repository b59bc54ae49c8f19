//! Host logging: `tracing` to stderr, human-readable by default or one JSON object per
//! line (`--log-format json`) for CloudWatch and log shippers. `RUST_LOG` filters
//! (default `info`). Plugin lines use the target `plugin` and carry `plugin` and
//! `request_id` fields. Everything a plugin supplies is escaped before it gets here
//! (`capability/log`), and colours are written only to a terminal.
//!
//! Every line logged inside an invocation carries its trace id, read from the
//! invocation's root span (`observability/telemetry/traces.rs`): `trace_id=…` at the end of a text
//! line, a top-level `trace_id` field of a JSON one — so one query gathers a request's
//! lines across plugins. (Span fields are not printed otherwise: the lines stay as short
//! as the events that make them.)
//!
//! `plughost serve` writes its lines through a [`LineBuffer`] (`buffered.rs`): appended in
//! memory, written out in batches by a thread of its own, so a request's access line costs
//! no system call. Lambda and the short commands write each line directly: an invocation's
//! lines are out before it answers.
//!
//! The formatting is `tracing-subscriber`'s: its `fmt` layer with our [`FormatEvent`]s (the
//! text line with its trace id; JSON with a fixed key order), not a logging stack of our
//! own. What is ours is where the crate has no answer for the one line every request
//! writes: the typed access record (`access_record.rs`: 7,700 → 4,700 instructions per
//! request), the line buffer (`buffered.rs`) and the per-second timestamp
//! (`timestamp.rs`) — each says what it buys.
//!
//! Beside the writer: the OTLP exporter when configured (`observability/telemetry/traces.rs`), and in
//! `serve` each plugin's last lines for its console
//! ([`RecentLogs`]).

use crate::observability::telemetry::{RecentLogs, traces};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub mod access_record;
mod buffered;
mod timestamp;

pub use buffered::LineBuffer;

/// The buffer `plughost serve`'s lines go through, if [`init`] made one.
static BUFFER: std::sync::OnceLock<LineBuffer> = std::sync::OnceLock::new();

/// How long [`flush`] waits for stderr at most.
const FLUSH_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Installs the global subscriber ([`subscriber`] writing to stderr). Safe to call more
/// than once (later calls do nothing), so tests can call it freely. `recent`: also keep
/// each plugin's last lines there. `buffered`: lines go through a [`LineBuffer`] (a
/// server's request path then makes no system call to log); [`flush`] before exiting — a
/// panic flushes by itself.
pub fn init(format: LogFormat, recent: Option<RecentLogs>, buffered: bool) {
    let buffer = if buffered { LineBuffer::spawn(std::io::stderr()).ok() } else { None };
    let installed = match buffer.clone() {
        Some(buffer) => subscriber(format, recent, buffer).try_init(),
        None => subscriber(format, recent, std::io::stderr).try_init(),
    };
    if let (Ok(()), Some(buffer)) = (installed, buffer) {
        let _first = BUFFER.set(buffer);
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // What was logged before the panic comes before its message.
            flush();
            report(info);
        }));
    }
}

/// Writes out every line logged so far (waits at most 2 s for stderr). Nothing to do when
/// lines are not buffered.
pub fn flush() {
    if let Some(buffer) = BUFFER.get() {
        buffer.flush(FLUSH_BOUND);
    }
}

/// The host's subscriber, writing lines to `writer`: `RUST_LOG`'s filter (default
/// `info`), the trace ids, the line format, `recent`, and the OTLP exporter if configured
/// (the first time only: one exporter per process). Benchmarks build it to measure what
/// logging and tracing cost.
pub fn subscriber<W>(format: LogFormat, recent: Option<RecentLogs>, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber_with(format, recent, writer, true)
}

/// [`subscriber`] without any span unless an exporter asks for them: the log lines alone,
/// as the host wrote them before it had traces — the benchmark's baseline.
pub fn lines_only_subscriber<W>(format: LogFormat, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber_with(format, None, writer, false)
}

fn subscriber_with<W>(
    format: LogFormat,
    recent: Option<RecentLogs>,
    writer: W,
    spans: bool,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    // Colours only for a person at a terminal: in a file or a log shipper, ANSI codes are
    // noise a reader cannot tell from content.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Span fields are never printed (only the trace id is, which `TraceIds` keeps), so the
    // writer does not format them: that would be string work on every span of every request.
    let lines = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi).fmt_fields(NoSpanFields);
    let lines = match format {
        LogFormat::Text => lines.event_format(TextLines).boxed(),
        LogFormat::Json => lines.event_format(JsonLines).boxed(),
    };
    // Each layer filters for itself: the lines by `RUST_LOG` (plus the invocations' root
    // spans, whose trace id every line inside them carries, whatever the level); the
    // exporter by its own rule — every span of plughost's, down to the `debug` ones
    // (route, instantiate, call, host calls), and no log lines. A span no layer wants is never created, so
    // without an exporter those cost nothing.
    //
    // Every filter states the most verbose level it can let through: `log` records
    // (wasmtime's `trace!`s on every instantiation, ...) and events above it are then
    // turned away at their call site, once, instead of being checked one by one.
    let roots = move || {
        let hint = if spans { LevelFilter::INFO } else { LevelFilter::OFF };
        filter_fn(move |m| spans && is_invocation_root(m)).with_max_level_hint(hint)
    };
    let lines = lines.with_filter(log_filter().and(not_an_echo()).or(roots()));
    let recent = recent.map(|recent| recent.with_filter(log_filter().and(not_an_echo())));
    let exported = Targets::new()
        .with_target("plughost", tracing::Level::DEBUG)
        .and(filter_fn(|m| m.is_span()).with_max_level_hint(LevelFilter::DEBUG));
    let exporter = traces::init().map(|layer| layer.with_filter(exported));
    // The trace ids live on the invocations' root spans, all this layer looks at; filtered
    // like the others, so it states a level too (unfiltered, it would say "anything").
    let trace_ids = TraceIds.with_filter(roots());
    tracing_subscriber::registry().with(trace_ids).with(lines).with(recent).with(exporter)
}

/// `RUST_LOG`'s filter, default `info`.
fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// Drops the line lambda_runtime writes for every error a handler returns (at ERROR, the
/// error's `Debug` under `lambda_runtime::layers::panic`): plughost logs each failure itself,
/// once, named and at its level, with the source and request id (`lambda/failure.rs`). The
/// same target's line for a handler that panicked (it has an `error` field) stays.
fn not_an_echo() -> tracing_subscriber::filter::FilterFn<fn(&tracing::Metadata<'_>) -> bool> {
    fn keep(metadata: &tracing::Metadata<'_>) -> bool {
        !(metadata.target() == "lambda_runtime::layers::panic"
            && metadata.is_event()
            && metadata.fields().iter().map(|field| field.name()).eq(["message"]))
    }
    // It drops, never adds: the hint lets the other filter's level decide.
    filter_fn(keep as fn(&tracing::Metadata<'_>) -> bool).with_max_level_hint(LevelFilter::TRACE)
}

/// The span an invocation's lines hang from: `request`, `deliver` (an event) or `task`.
fn is_invocation_root(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span()
        && metadata.target().starts_with("plughost")
        && matches!(metadata.name(), "request" | "deliver" | "task")
}

/// A span's `trace_id` (recorded on an invocation's root span), kept in its extensions.
struct SpanTraceId(String);

/// Keeps each span's `trace_id` where [`JsonLines`] finds it.
struct TraceIds;

struct FindTraceId(Option<String>);

impl Visit for FindTraceId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "trace_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TraceIds {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = FindTraceId(None);
        attrs.record(&mut found);
        if let (Some(trace_id), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(SpanTraceId(trace_id));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut found = FindTraceId(None);
        values.record(&mut found);
        if let (Some(trace_id), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().replace(SpanTraceId(trace_id));
        }
    }
}

/// `with` the trace id of the invocation an event is logged in, if it is in one.
fn with_trace_id<S, N, R>(ctx: &FmtContext<'_, S, N>, with: impl FnOnce(&str) -> R) -> Option<R>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    // The root span is the outermost: look from the event outwards, as few spans as
    // there are (a host call's line sits a few spans deep, an access line in the root).
    for span in ctx.event_scope()? {
        if let Some(trace_id) = span.extensions().get::<SpanTraceId>() {
            return Some(with(&trace_id.0));
        }
    }
    None
}

/// What the writer keeps of a span's fields: nothing.
struct NoSpanFields;

impl<'w> FormatFields<'w> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(&self, _: Writer<'w>, _: R) -> std::fmt::Result {
        Ok(())
    }
}

/// An event's fields as text: the message, then `name=value` (strings quoted).
struct TextFields<'a, 'w>(&'a mut Writer<'w>);

/// ` name="value"`, or Rust's escaping of `value` when it is not [`plain`].
fn write_text_field(writer: &mut impl std::fmt::Write, name: &str, value: &str) {
    let _ = writer.write_char(' ');
    let _ = writer.write_str(name);
    write_text_value(writer, "=", value);
}

/// `label` (` name=`), then `"value"` or Rust's escaping of `value` when it is not [`plain`].
fn write_text_value(writer: &mut impl std::fmt::Write, label: &str, value: &str) {
    let _ = writer.write_str(label);
    if plain(value) {
        let _ = writer.write_char('"');
        let _ = writer.write_str(value);
        let _ = writer.write_char('"');
    } else {
        let _ = write!(writer, "{value:?}");
    }
}

/// ` name=value`.
fn write_number_field(writer: &mut impl std::fmt::Write, name: &str, value: impl itoa::Integer) {
    let _ = writer.write_char(' ');
    let _ = writer.write_str(name);
    write_number_value(writer, "=", value);
}

/// `label` (` name=`), then `value`.
fn write_number_value(writer: &mut impl std::fmt::Write, label: &str, value: impl itoa::Integer) {
    let _ = writer.write_str(label);
    let _ = writer.write_str(itoa::Buffer::new().format(value));
}

/// Needs no escaping in a quoted string: printable ASCII but `"` and `\` (what almost
/// every field is — ids, paths, routes); anything else goes through `Debug`'s escaping.
fn plain(value: &str) -> bool {
    // A table and a fold, not `all` over three comparisons: a load and an `and` per byte.
    value.bytes().fold(true, |plain, b| plain & PLAIN[b as usize])
}

/// [`plain`]'s bytes.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        table[b as usize] = b != b'"' && b != b'\\';
        b += 1;
    }
    table
};

impl Visit for TextFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = self.0.write_char(' ');
            let _ = self.0.write_str(value);
        } else {
            write_text_field(self.0, field.name(), value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        write_number_field(self.0, field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        write_number_field(self.0, field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = if field.name() == "message" {
            write!(self.0, " {value:?}")
        } else {
            write!(self.0, " {}={value:?}", field.name())
        };
    }
}

/// The access line's message and fields, from its record ([`access_record`]): what
/// [`TextFields`] writes for its event, without visiting it.
fn write_access_fields(writer: &mut Writer<'_>, line: &access_record::AccessLine) -> std::fmt::Result {
    // Composed in a `String` of its own, then written at once: each piece costs a copy,
    // not a call through the writer's `dyn Write`. Each label whole: ` method=`.
    let variable = line.path.len() + line.request_id.len() + line.route().map_or(0, str::len);
    let mut text = String::with_capacity(128 + variable);
    text.push(' ');
    text.push_str(access_record::MESSAGE);
    write_text_value(&mut text, " method=", &line.method);
    write_text_value(&mut text, " path=", &line.path);
    write_number_value(&mut text, " status=", line.status);
    if let Some(plugin) = line.plugin() {
        write_text_value(&mut text, " plugin=", plugin);
    }
    if let Some(route) = line.route() {
        write_text_value(&mut text, " route=", route);
    }
    write_text_value(&mut text, " request_id=", &line.request_id);
    write_number_value(&mut text, " micros=", line.micros);
    writer.write_str(&text)
}

/// A level as `{:>5}` writes it.
fn padded(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => " WARN",
        tracing::Level::INFO => " INFO",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::TRACE => "TRACE",
    }
}

/// `<time> <LEVEL> <target>: <message> <fields> trace_id=<id>`; the level coloured at a
/// terminal.
struct TextLines;

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let (now, metadata) = (timestamp::now(), event.metadata());
        let level = *metadata.level();
        if writer.has_ansi_escapes() {
            let colour = match level {
                tracing::Level::ERROR => "31",
                tracing::Level::WARN => "33",
                tracing::Level::INFO => "32",
                _ => "34",
            };
            write!(writer, "\x1b[2m{}\x1b[0m \x1b[{colour}m{}\x1b[0m ", now.as_str(), padded(level))?;
        } else {
            writer.write_str(now.as_str())?;
            writer.write_char(' ')?;
            writer.write_str(padded(level))?;
            writer.write_char(' ')?;
        }
        writer.write_str(metadata.target())?;
        writer.write_char(':')?;
        match access_record::with_current(metadata, |line| write_access_fields(&mut writer, line)) {
            Some(written) => written?,
            None => event.record(&mut TextFields(&mut writer)),
        }
        with_trace_id(ctx, |trace_id| {
            let _ = writer.write_str(" trace_id=");
            let _ = writer.write_str(trace_id);
        });
        writer.write_char('\n')
    }
}

/// One JSON object per line: `timestamp`, `level`, `target`, the event's fields at the top
/// level (`message` among them), and the `trace_id` of the invocation it belongs to.
struct JsonLines;

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let now = timestamp::now();
        if let Some(written) = access_record::with_current(event.metadata(), |line| {
            let level = event.metadata().level().as_str();
            let mut write =
                |trace_id: Option<&str>| write_access_json(&mut writer, line, level, now.as_str(), trace_id);
            with_trace_id(ctx, |trace_id| write(Some(trace_id))).unwrap_or_else(|| write(None))
        }) {
            return written;
        }
        let mut line = Map::new();
        line.insert("timestamp".into(), now.as_str().into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        event.record(&mut JsonFields(&mut line));
        line.insert("target".into(), event.metadata().target().into());
        if !line.contains_key("trace_id")
            && let Some(trace_id) = with_trace_id(ctx, str::to_owned)
        {
            line.insert("trace_id".into(), trace_id.into());
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// The access line as [`JsonLines`] writes its event: the same keys in the same order
/// (a `serde_json` map's, sorted), without building the map.
#[derive(serde::Serialize)]
struct JsonAccess<'a> {
    level: &'a str,
    message: &'a str,
    method: &'a str,
    micros: u64,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<&'a str>,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    status: u16,
    target: &'a str,
    timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
}

fn write_access_json(
    writer: &mut Writer<'_>,
    line: &access_record::AccessLine,
    level: &str,
    timestamp: &str,
    trace_id: Option<&str>,
) -> std::fmt::Result {
    let json = JsonAccess {
        level,
        message: access_record::MESSAGE,
        method: &line.method,
        micros: line.micros,
        path: &line.path,
        plugin: line.plugin(),
        request_id: &line.request_id,
        route: line.route(),
        status: line.status,
        target: access_record::TARGET,
        timestamp,
        trace_id,
    };
    let json = serde_json::to_string(&json).map_err(|_| std::fmt::Error)?;
    writer.write_str(&json)?;
    writer.write_char('\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_subscriber_states_a_level_so_log_records_and_traces_are_turned_away_at_their_call_site() {
        let verbose = std::env::var("RUST_LOG").is_ok_and(|level| level.contains("trace"));
        let hint = tracing::Subscriber::max_level_hint(&subscriber(LogFormat::Text, None, std::io::sink));
        assert!(hint.is_some(), "no hint: every `log` record (wasmtime logs several per request) is dispatched");
        if !verbose {
            assert!(hint < Some(LevelFilter::TRACE), "{hint:?}");
        }
    }

    /// The text writer, into `captured`.
    fn text_lines<S: Subscriber + for<'a> LookupSpan<'a>>(captured: &Captured) -> impl Layer<S> {
        let sink = captured.clone();
        tracing_subscriber::fmt::layer().with_writer(move || sink.clone()).with_ansi(false).event_format(TextLines)
    }

    #[test]
    fn text_lines_end_with_the_trace_id_of_the_invocation_they_are_in() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(TraceIds).with(text_lines(&captured));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", path = "/x");
            request.in_scope(|| tracing::info!(plugin = "hello", "inside"));
            tracing::warn!("outside");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with(
                r#" INFO plughost::observability::logging::tests: inside plugin="hello" trace_id=4bf92f3577b34da6a3ce929d0e0e4736"#
            ),
            "{text}"
        );
        assert!(!lines[0].contains("path="), "span fields are not repeated: {text}");
        assert!(lines[1].ends_with(" WARN plughost::observability::logging::tests: outside"), "{text}");
    }

    #[test]
    fn the_lambda_runtimes_echo_of_a_handler_error_is_dropped_and_its_panic_line_kept() {
        let captured = Captured::default();
        let lines = text_lines(&captured).with_filter(not_an_echo());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(lines), || {
            tracing::error!(target: "lambda_runtime::layers::panic", "{:?}", "the handler's error");
            tracing::error!(target: "lambda_runtime::layers::panic", error = "boom", "user handler panicked");
            tracing::error!(target: "plughost::lambda::failure", "invocation failed: the handler's error");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("\"the handler's error\""), "{text}");
        assert!(text.contains("user handler panicked"), "{text}");
        assert!(text.contains("invocation failed"), "{text}");
    }

    #[test]
    fn text_fields_are_quoted_and_anything_but_plain_ascii_escaped() {
        let captured = Captured::default();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(text_lines(&captured)), || {
            tracing::info!(path = "/a b", status = 200u64, delta = -3i64, said = "say \"hi\"\n\\", name = "zoë", "m");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.ends_with(
                r#": m path="/a b" status=200 delta=-3 said="say \"hi\"\n\\" name="zoë"
"#
            ),
            "{text}"
        );
    }

    #[test]
    fn json_lines_carry_their_fields_and_the_trace_id_of_the_invocation_they_are_in() {
        let captured = Captured::default();
        let sink = captured.clone();
        let writer = tracing_subscriber::fmt::layer().with_writer(move || sink.clone()).event_format(JsonLines);
        let subscriber = tracing_subscriber::registry().with(TraceIds).with(writer);
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", trace_id = tracing::field::Empty);
            request.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
            request.in_scope(|| {
                tracing::info_span!("call").in_scope(|| {
                    tracing::info!(plugin = "hello", status = 200u64, ok = true, "inside");
                });
            });
            tracing::warn!("outside");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"], "inside");
        assert_eq!(lines[0]["plugin"], "hello");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["ok"], true);
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(lines[0]["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["level"], "WARN");
        assert!(lines[1].get("trace_id").is_none());
    }

    /// The text before the first space (a text line's time) or a JSON line's `timestamp`
    /// value, blanked: what two lines logged a moment apart differ in.
    fn timeless(line: &str) -> String {
        if let Some(at) = line.find(r#""timestamp":""#) {
            let start = at + r#""timestamp":""#.len();
            let end = start + line[start..].find('"').unwrap();
            return format!("{}{}", &line[..start], &line[end..]);
        }
        line.split_once(' ').map_or(line, |(_, rest)| rest).to_owned()
    }

    #[test]
    fn the_access_line_written_from_its_record_is_the_line_its_fields_make() {
        let plugin = crate::spec::id::PluginId::parse("hello").unwrap();
        // A start in the future: `micros=0` both times.
        let started = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        let log = |path: &str, plugin: Option<&crate::spec::id::PluginId>, route: Option<&str>| {
            let (method, status) = (http::Method::GET, http::StatusCode::NOT_FOUND);
            crate::http::access_log(&method, path, status, plugin, route, "r-1", started);
        };
        for format in [LogFormat::Text, LogFormat::Json] {
            let (captured, recent) = (Captured::default(), RecentLogs::default());
            let sink = captured.clone();
            let lines = tracing_subscriber::fmt::layer().with_writer(move || sink.clone()).with_ansi(false);
            let lines = match format {
                LogFormat::Text => lines.event_format(TextLines).boxed(),
                LogFormat::Json => lines.event_format(JsonLines).boxed(),
            };
            let subscriber = tracing_subscriber::registry().with(TraceIds).with(lines).with(recent.clone());
            tracing::subscriber::with_default(subscriber, || {
                let request = tracing::info_span!("request", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736");
                let long = format!("/{}", "x".repeat(3 * crate::observability::telemetry::recent_logs::MAX_LINE));
                let cases: [(&str, Option<&crate::spec::id::PluginId>, Option<&str>); 4] = [
                    ("/hello/ada", Some(&plugin), Some("/hello/{name}")),
                    ("/a \"b\"\\c/zoë\n", Some(&plugin), None),
                    ("/nowhere", None, None),
                    (&long, Some(&plugin), Some("/{long}")),
                ];
                for (path, plugin, route) in cases {
                    request.in_scope(|| log(path, plugin, route));
                    request.in_scope(|| access_record::without_record(|| log(path, plugin, route)));
                }
                log("/outside", None, None);
                access_record::without_record(|| log("/outside", None, None));
            });
            let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 10, "{text}");
            for pair in lines.chunks(2) {
                assert_eq!(timeless(pair[0]), timeless(pair[1]), "{format:?}");
            }
            assert!(lines[0].contains("hello"), "{text}");
            assert!(lines[0].contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{text}");
            assert!(!lines[8].contains("trace_id"), "{text}");
            assert!(lines[2].contains("zo"), "{text}");
            // The console's copies: the same too.
            let kept: Vec<_> =
                recent.of("hello").into_iter().map(|l| (l.level, l.request_id, l.message, l.fields)).collect();
            assert_eq!(kept.len(), 6, "{kept:?}");
            assert_eq!(kept[0], kept[1]);
            assert_eq!(kept[2], kept[3]);
            assert_eq!(kept[4], kept[5]);
            assert!(kept[4].3.ends_with('…'), "a long line is cut");
            assert_eq!(kept[0].3, "method=GET path=/hello/ada status=404 route=/hello/{name} micros=0");
        }
    }
}
