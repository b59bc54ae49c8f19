//! `plughost:plugin/invocation` over an [`InvocationCtx`].

use super::InvocationCtx;
use crate::bindings::plughost::plugin::invocation::Host;

impl Host for &InvocationCtx {
    fn deadline(&mut self) -> u64 {
        self.deadline_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn the_deadline_is_the_timeout_from_now_in_unix_milliseconds() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let ctx = InvocationCtx::ending_in(Duration::from_millis(2_500));
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let mut host = &ctx;
        let deadline = host.deadline();
        assert!((before + 2_500..=after + 2_501).contains(&deadline), "{before} {deadline} {after}");
    }
}
