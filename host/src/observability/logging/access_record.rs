//! The access line's fields, typed, for the layers that write it: the text and JSON lines
//! (`observability/logging/mod.rs`) and the console's recent lines (`observability/telemetry/recent_logs.rs`).
//!
//! Why: it is the one line every request writes, so what it costs is every request's
//! cost. Visited through `tracing`'s dynamic `Visit`, field by field, by each layer, it
//! cost ~7,700 instructions per request under callgrind — 4% of serving `GET /hello`;
//! written from this record, ~4,700 (`scripts/count-instructions`, README "Performance").
//! So [`log`] fills this thread's [`AccessLine`] first, then logs the event as usual —
//! same filter (`RUST_LOG`), same span, same writer — and the layers that know the record
//! format from it instead of visiting. The event still carries every field: any other
//! subscriber (a test's, a benchmark's) sees an ordinary event. The record is used only
//! while [`log`] dispatches its own event, on its own thread.

use std::cell::RefCell;

/// The access line's target and message.
pub const TARGET: &str = "plughost::access";
pub const MESSAGE: &str = "request";

/// What the access line says, as [`log`] received it.
pub struct Line<'a> {
    pub method: &'a str,
    /// Escaped already (`capability::log::escape_controls`).
    pub path: &'a str,
    pub status: u16,
    pub plugin: Option<&'a str>,
    pub route: Option<&'a str>,
    pub request_id: &'a str,
    pub micros: u64,
}

/// A thread's copy of the [`Line`] being logged (buffers reused from line to line).
#[derive(Default)]
pub struct AccessLine {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// `None` is kept apart from an empty value: the field is then absent.
    plugin: (bool, String),
    route: (bool, String),
    pub request_id: String,
    pub micros: u64,
}

impl AccessLine {
    pub fn plugin(&self) -> Option<&str> {
        self.plugin.0.then_some(self.plugin.1.as_str())
    }

    pub fn route(&self) -> Option<&str> {
        self.route.0.then_some(self.route.1.as_str())
    }

    fn fill(&mut self, line: &Line<'_>) {
        copy(&mut self.method, line.method);
        copy(&mut self.path, line.path);
        self.status = line.status;
        copy_option(&mut self.plugin, line.plugin);
        copy_option(&mut self.route, line.route);
        copy(&mut self.request_id, line.request_id);
        self.micros = line.micros;
    }
}

/// Above this, a buffer is not kept for the thread's next line (a rare huge path).
const KEEP_CAPACITY: usize = 4096;

fn copy(buffer: &mut String, text: &str) {
    buffer.clear();
    if buffer.capacity() > KEEP_CAPACITY {
        *buffer = String::new();
    }
    buffer.push_str(text);
}

fn copy_option((present, buffer): &mut (bool, String), text: Option<&str>) {
    *present = text.is_some();
    copy(buffer, text.unwrap_or_default());
}

/// This thread's record, and whether it is the one the event being dispatched carries.
#[derive(Default)]
struct Current {
    armed: bool,
    line: AccessLine,
}

thread_local! {
    static CURRENT: RefCell<Current> = RefCell::default();
}

/// Logs the access line: `event` logs it through `tracing` (with its fields), while this
/// thread's record holds `line` for the layers that read it.
pub fn log(line: &Line<'_>, event: impl FnOnce()) {
    let armed = CURRENT.with(|current| match current.try_borrow_mut() {
        Ok(mut current) => {
            current.line.fill(line);
            current.armed = true;
            true
        }
        // Logged while a layer reads the record (it never does): the fields will do.
        Err(_) => false,
    });
    // Disarmed however `event` ends (a panicking layer too): a later access event that is
    // not `log`'s own must never be written from this line's record.
    let _disarm = armed.then_some(Disarm);
    event();
}

struct Disarm;

impl Drop for Disarm {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| {
            if let Ok(mut current) = current.try_borrow_mut() {
                current.armed = false;
            }
        });
    }
}

/// `with` the record of the access line `metadata` describes, if it is one [`log`] is
/// logging on this thread now.
pub fn with_current<R>(metadata: &tracing::Metadata<'_>, with: impl FnOnce(&AccessLine) -> R) -> Option<R> {
    if metadata.target() != TARGET {
        return None;
    }
    CURRENT.with(|current| {
        let current = current.try_borrow().ok()?;
        current.armed.then(|| with(&current.line))
    })
}

/// Runs `f` with this thread's record out of reach: access lines logged in it go through
/// their fields alone, as another subscriber would see them.
#[cfg(test)]
pub fn without_record<R>(f: impl FnOnce() -> R) -> R {
    CURRENT.with(|current| {
        let _held = current.borrow_mut();
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line<'static> {
        Line { method: "GET", path: "/a", status: 200, plugin: Some("hello"), route: None, request_id: "r", micros: 1 }
    }

    fn access_metadata() -> &'static tracing::Metadata<'static> {
        use tracing::Callsite;
        let callsite = tracing::callsite!(
            name: "request",
            kind: tracing::metadata::Kind::EVENT,
            target: TARGET,
            level: tracing::Level::INFO,
            fields: []
        );
        callsite.metadata()
    }

    #[test]
    fn the_record_is_read_only_while_its_own_event_is_logged_even_if_logging_panics() {
        let metadata = access_metadata();
        let inside = std::cell::Cell::new(None);
        log(&line(), || inside.set(with_current(metadata, |l| (l.path.clone(), l.plugin().map(str::to_owned)))));
        assert_eq!(inside.take(), Some(("/a".to_owned(), Some("hello".to_owned()))));
        assert!(with_current(metadata, |_| ()).is_none(), "read after its event");
        let panicked = std::panic::catch_unwind(|| log(&line(), || panic!("a layer panicked")));
        assert!(panicked.is_err());
        assert!(with_current(metadata, |_| ()).is_none(), "left armed by a panic");
    }
}
