//! Host logging: `tracing` to stderr, human-readable by default or one JSON object per
//! line (`--log-format json`) for CloudWatch and log shippers. `RUST_LOG` filters
//! (default `info`). Plugin lines use the target `plugin` and carry `plugin` and
//! `request_id` fields. Everything a plugin supplies is escaped before it gets here
//! (`capability/log`), and colours are written only to a terminal.
//!
//! `serve` also keeps each plugin's last lines for its console
//! ([`RecentLogs`](crate::telemetry::RecentLogs)), a layer beside the writer.

use crate::telemetry::RecentLogs;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// so tests can call it freely. `recent`: also keep each plugin's last lines there.
pub fn init(format: LogFormat, recent: Option<RecentLogs>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: in a file or a log shipper, ANSI codes are
    // noise a reader cannot tell from content.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let writer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let writer = match format {
        LogFormat::Text => writer.boxed(),
        LogFormat::Json => writer.json().flatten_event(true).with_current_span(false).with_span_list(false).boxed(),
    };
    let _already_set = tracing_subscriber::registry().with(filter).with(writer).with(recent).try_init();
}
