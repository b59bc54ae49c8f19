//! What operators see, beside every layer (anything may record into it; it uses only
//! `platform/` and `spec/`):
//!
//! - `escape.rs`  — plugin-supplied strings made safe for a log line, header or URL;
//! - `observability/logging/`   — tracing setup (text or JSON), the buffered line writer of `serve`, the
//!   access record;
//! - `observability/telemetry/` — per-plugin metrics (Prometheus, CloudWatch EMF), traces (OTLP), the
//!   console's recent lines and reloads.

pub mod escape;
pub mod logging;
pub mod telemetry;
