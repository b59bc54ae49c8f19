//! Host logging: `tracing` to stderr, human-readable by default or one JSON object per
//! line (`--log-format json`) for CloudWatch and log shippers. `RUST_LOG` filters
//! (default `info`). Plugin lines use the target `plugin` and carry `plugin` and
//! `request_id` fields. Everything a plugin supplies is escaped before it gets here
//! (`capability/log`), and colours are written only to a terminal.

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// so tests can call it freely.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: in a file or a log shipper, ANSI codes are
    // noise a reader cannot tell from content.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
