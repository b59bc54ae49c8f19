//! [`Failure`]: why an invocation failed, as Lambda records it — the `errorType` operators
//! see in CloudWatch, a failure destination or a state machine's history, and filter on —
//! and the one log line that says so, at the level the failure deserves.
//!
//! | `errorType` | when | level |
//! |---|---|---|
//! | `plughost.InvalidEvent` | an event of a source plughost handles, malformed (a record without its id, an envelope without its fields) | error |
//! | `plughost.UnsupportedEvent` | a payload that is no event plughost handles | error |
//! | `plughost.UnboundSource` | an event for a queue, topic, bucket, table, bus or schedule this deployment does not bind | error |
//! | `plughost.PluginFailed` | a plugin failed (or asked for the event again): Lambda retries it | warn |
//!
//! Tasks (`task.rs`) name their failures the same way (`plughost.UnknownPlugin`,
//! `plughost.InvalidInput`, the plugin's own names).

use lambda_http::lambda_runtime::Diagnostic;

/// What kind of failure, and so its `errorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidEvent,
    UnsupportedEvent,
    UnboundSource,
    PluginFailed,
}

impl Kind {
    pub fn error_type(self) -> &'static str {
        match self {
            Self::InvalidEvent => "plughost.InvalidEvent",
            Self::UnsupportedEvent => "plughost.UnsupportedEvent",
            Self::UnboundSource => "plughost.UnboundSource",
            Self::PluginFailed => "plughost.PluginFailed",
        }
    }
}

/// A failed invocation: its kind and the message (escaped already where it quotes input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidEvent, message)
    }

    pub fn unbound(message: impl Into<String>) -> Self {
        Self::new(Kind::UnboundSource, message)
    }

    pub fn plugin_failed(message: impl Into<String>) -> Self {
        Self::new(Kind::PluginFailed, message)
    }

    /// The one line for this failure: with the event `source` (`aws:sqs`, `schedule`, ...)
    /// and Lambda's request id. A plugin's failure is retried (warn); the others need the
    /// operator (error).
    pub fn log(&self, source: &str, request_id: &str) {
        let error_type = self.kind.error_type();
        if self.kind == Kind::PluginFailed {
            tracing::warn!(error_type, source, request_id, "invocation failed, to be retried: {}", self.message);
        } else {
            tracing::error!(error_type, source, request_id, "invocation failed: {}", self.message);
        }
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Self {
        Diagnostic { error_type: failure.kind.error_type().to_owned(), error_message: failure.message }
    }
}
