//! What operators see, beside every layer (anything may record into it; it uses only
//! `platform/` and `spec/`):
//!
//! - `escape.rs`        — plugin-supplied strings made safe for a log line, header or URL;
//! - `trace_context.rs` — the trace an invocation arrives in (W3C, X-Ray), and the trace
//!   ids and `traceparent` plughost writes;
//! - `logging/`         — tracing setup (text or JSON), the buffered line writer of `serve`,
//!   the access record;
//! - `telemetry/`       — per-plugin metrics (Prometheus, CloudWatch EMF), traces (OTLP), the
//!   console's recent lines and reloads.

pub mod escape;
pub mod logging;
pub mod telemetry;
pub mod trace_context;
