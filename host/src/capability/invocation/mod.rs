//! The `invocation` capability: what a plugin may know about the invocation running it —
//! today its deadline. Every plugin has it (no grant: it reveals only the plugin's own time
//! budget).
//!
//! - `mod.rs`  — [`InvocationCtx`] (set by `runtime/invoke.rs` when the call starts) and
//!   `add_to_linker`;
//! - `host.rs` — the `plughost:plugin/invocation` import over an [`InvocationCtx`].
//!
//! Why a plugin needs the deadline: an idempotency claim (the SDK's `events::once`) must
//! expire no later than the invocation that took it can still act — after that, a
//! redelivery of the event runs it again instead of taking the claim of a dead delivery
//! for a finished one (Powertools for AWS Lambda reads the same from the Lambda context).

mod host;

use std::time::{Duration, SystemTime};
use wasmtime::component::{HasData, Linker};

/// The per-invocation context held in the store.
#[derive(Debug, Clone, Copy)]
pub struct InvocationCtx {
    /// When the host stops the invocation, in milliseconds since the Unix epoch.
    deadline_ms: u64,
}

impl InvocationCtx {
    /// An invocation that the host stops `timeout` from now (the plugin's timeout, already
    /// capped by the Lambda invocation's own deadline). Call it just after taking the
    /// `Instant` the host stops the call at: the plugin's deadline is then never earlier
    /// than the host's (rounded up to the millisecond, too).
    pub fn ending_in(timeout: Duration) -> Self {
        let deadline = SystemTime::now() + timeout;
        let since_epoch = deadline.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let deadline_ms = since_epoch.as_micros().div_ceil(1000) as u64;
        Self { deadline_ms }
    }

    /// The deadline as the plugin receives it (Unix milliseconds).
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }
}

struct HasInvocation;

impl HasData for HasInvocation {
    type Data<'a> = &'a InvocationCtx;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &InvocationCtx,
) -> anyhow::Result<()> {
    crate::bindings::plughost::plugin::invocation::add_to_linker::<T, HasInvocation>(linker, get)?;
    Ok(())
}
