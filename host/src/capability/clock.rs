//! The wall clock as storage sees it: whole seconds since the Unix epoch, for expiry
//! (TTLs, presigned URLs) and `last-modified`. One definition for every backend, so
//! they agree on what "now" means.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 on a clock set before it).
pub fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
