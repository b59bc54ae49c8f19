//! The wall clock as storage sees it: whole seconds since the Unix epoch, for expiry
//! (TTLs, presigned URLs) and `last-modified`. One definition for every backend, so
//! they agree on what "now" means.
//!
//! A storage backend may hold a [`Clock`] so a test can move *its* time forward — a TTL checked
//! without sleeping through it — while every other backend in the process keeps the
//! system's time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 on a clock set before it).
pub fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The system clock, plus however far this clock (and its clones) was moved ahead.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    ahead_seconds: Arc<AtomicU64>,
}

impl Clock {
    /// The system's time.
    pub fn system() -> Self {
        Self::default()
    }

    pub fn unix_seconds(&self) -> u64 {
        unix_seconds().saturating_add(self.ahead_seconds.load(Ordering::Relaxed))
    }

    /// Moves this clock and its clones forward by `by` (whole seconds, rounded up).
    pub fn advance(&self, by: Duration) {
        let seconds = by.as_secs() + u64::from(by.subsec_nanos() > 0);
        self.ahead_seconds.fetch_add(seconds, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_runs_ahead_and_only_its_clones_follow() {
        let moved = Clock::system();
        let clone = moved.clone();
        let other = Clock::system();
        moved.advance(Duration::from_millis(1500));
        let (now, ahead, other_now) = (unix_seconds(), clone.unix_seconds(), other.unix_seconds());
        assert!((now + 2..=now + 3).contains(&ahead), "{now} {ahead}");
        assert!((now..=now + 1).contains(&other_now), "{now} {other_now}");
    }
}
