//! Spans of the plugin's own, in the request's trace (X-Ray, or any OpenTelemetry
//! backend the operator exports to).
//!
//! ```
//! # let items = ["tea", "cake"];
//! let span = plughost_sdk::trace::span("price cart").attribute("items", &items.len().to_string());
//! let total: u32 = items.iter().map(|_| 3).sum(); // kv, blob, queue and HTTP calls here are its children
//! drop(span); // the span ends here (or where it goes out of scope)
//! # assert_eq!(plughost_sdk::testing::take_spans()[0].attributes, [("items".to_owned(), "2".to_owned())]);
//! ```
//!
//! A span ends when its guard is dropped; spans opened inside it are its children. Where
//! the operator exports no traces, spans cost next to nothing. The host cuts names and
//! keys at 64 bytes, values at 256, 32 attributes per span and 64 spans per request.
//! Compiled natively, finished spans are kept for [`crate::testing::take_spans`].

/// An open span; it ends when dropped.
#[must_use = "a span ends when dropped: bind it (`let _span = ...`) to keep it open"]
pub struct Span {
    #[cfg(target_arch = "wasm32")]
    inner: crate::bindings::plughost::plugin::trace::Span,
    #[cfg(not(target_arch = "wasm32"))]
    recorded: crate::testing::SpanRecord,
}

/// Starts a span called `name`, a child of the innermost span this plugin has open (else
/// of the host's span for the request).
pub fn span(name: &str) -> Span {
    Span {
        #[cfg(target_arch = "wasm32")]
        inner: crate::bindings::plughost::plugin::trace::Span::new(name),
        #[cfg(not(target_arch = "wasm32"))]
        recorded: crate::testing::SpanRecord { name: name.to_owned(), attributes: Vec::new() },
    }
}

impl Span {
    /// Sets attribute `key` to `value`, and returns the span (to chain on [`span`]).
    pub fn attribute(mut self, key: &str, value: &str) -> Self {
        self.set_attribute(key, value);
        self
    }

    /// Sets attribute `key` to `value` (again: replaces it).
    pub fn set_attribute(&mut self, key: &str, value: &str) {
        #[cfg(target_arch = "wasm32")]
        self.inner.set_attribute(key, value);
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.recorded.attributes.retain(|(k, _)| k != key);
            self.recorded.attributes.push((key.to_owned(), value.to_owned()));
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Span {
    fn drop(&mut self) {
        crate::testing::record_span(std::mem::take(&mut self.recorded));
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use crate::testing::{SpanRecord, take_spans};

    #[test]
    fn spans_are_kept_natively_as_they_end_with_their_attributes() {
        {
            let _outer = super::span("outer").attribute("a", "1");
            let mut inner = super::span("inner");
            inner.set_attribute("k", "first");
            inner.set_attribute("k", "second");
        }
        let record = |name: &str, attributes: &[(&str, &str)]| SpanRecord {
            name: name.to_owned(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        };
        assert_eq!(take_spans(), [record("inner", &[("k", "second")]), record("outer", &[("a", "1")])]);
        assert!(take_spans().is_empty());
    }
}
