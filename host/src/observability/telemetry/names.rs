//! What the metrics are broken down by: an invocation's entry (HTTP, event, task), why it
//! failed, the phase a duration measures, what became of a deployment — each with the
//! label value `/_plughost/metrics` shows (the EMF names are built from them in `emf.rs`).

/// What started an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Http,
    Event,
    Task,
}

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Event => "event",
            Self::Task => "task",
        }
    }
}

/// Why an invocation (or an outgoing request) failed; one series each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The plugin trapped (panic, unreachable) or could not be instantiated.
    Trap,
    Timeout,
    MemoryLimit,
    /// The plugin's HTTP response was not valid (bad status or header).
    InvalidResponse,
    /// The response or task output was over `max_response`.
    ResponseTooLarge,
    /// No instance slot, memory budget or concurrency slot freed in time (503).
    AtCapacity,
    /// The component could not be compiled (`--compile lazy`).
    Unavailable,
    /// The plugin called `exit` before answering.
    Exited,
    /// The plugin itself failed the event (asked for redelivery) or the task.
    Rejected,
    /// An outgoing request the host refused (allow-list, fence, count, loop).
    OutboundDenied,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        Self::Trap,
        Self::Timeout,
        Self::MemoryLimit,
        Self::InvalidResponse,
        Self::ResponseTooLarge,
        Self::AtCapacity,
        Self::Unavailable,
        Self::Exited,
        Self::Rejected,
        Self::OutboundDenied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trap => "trap",
            Self::Timeout => "timeout",
            Self::MemoryLimit => "memory_limit",
            Self::InvalidResponse => "invalid_response",
            Self::ResponseTooLarge => "response_too_large",
            Self::AtCapacity => "at_capacity",
            Self::Unavailable => "unavailable",
            Self::Exited => "exited",
            Self::Rejected => "rejected",
            Self::OutboundDenied => "outbound_denied",
        }
    }
}

/// A phase of an invocation whose duration is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// From admission to the answer.
    Total,
    Instantiate,
    Call,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Instantiate => "instantiate",
            Self::Call => "call",
        }
    }
}

/// What became of a deployment (`plughost_deployments_total{outcome}`; in EMF the
/// process-wide metrics `DeploymentPublished`, `DeploymentRejected`, `PluginUnavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentOutcome {
    /// A new routing table went live.
    Published,
    /// A version (manifest or component) failed to load; the previous one keeps serving.
    Rejected,
    /// A lazily compiled component failed to compile on its first request.
    Unavailable,
}

impl DeploymentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Rejected => "rejected",
            Self::Unavailable => "unavailable",
        }
    }
}
