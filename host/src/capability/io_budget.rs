//! [`IoBudget`]: the bytes one request may move through labelled capabilities' host calls
//! (values and bodies, in both directions), from the plugin's `limits.max_host_io`.
//!
//! Every call is bounded on its own (a value, a transaction, a body); this bounds
//! their sum, so a plugin looping over large writes spends its own budget, not the
//! storage's and its neighbours' time. Past it, calls fail with `limit-exceeded` — an
//! error the plugin can handle — and nothing reaches the backend.
//!
//! It also counts the bytes written per store or container, for the quotas that bound
//! them (`max_written_per_request` in a `[<capability>.<label>]` declaration).

use super::error::StorageError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct IoBudget {
    limit: u64,
    used: AtomicU64,
    /// Bytes written this request, by (capability, label); only labels with a quota.
    written: Mutex<Vec<(&'static str, String, u64)>>,
}

impl IoBudget {
    pub fn new(limit: u64) -> Self {
        Self { limit, used: AtomicU64::new(0), written: Mutex::new(Vec::new()) }
    }

    /// Counts `bytes` written to `capability`'s `label` against its per-request `quota`
    /// (none: nothing to count), or refuses, counting nothing.
    pub fn take_written(
        &self,
        capability: &'static str,
        label: &str,
        quota: Option<u64>,
        bytes: usize,
    ) -> Result<(), StorageError> {
        let Some(quota) = quota else { return Ok(()) };
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let index = match written.iter().position(|(c, l, _)| *c == capability && l == label) {
            Some(index) => index,
            None => {
                written.push((capability, label.to_owned(), 0));
                written.len() - 1
            }
        };
        let total = written[index].2.saturating_add(bytes as u64);
        if total > quota {
            return Err(StorageError::LimitExceeded(format!(
                "writing {bytes} more bytes to {capability} `{label}` would pass its max_written_per_request of {quota}"
            )));
        }
        written[index].2 = total;
        Ok(())
    }

    /// Counts `bytes` against the budget, or refuses (counting nothing) if they would
    /// exceed it.
    pub fn take(&self, bytes: usize) -> Result<(), StorageError> {
        let bytes = bytes as u64;
        let limit = self.limit;
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .map(|_| ())
            .map_err(|used| {
                StorageError::LimitExceeded(format!(
                    "this request has moved {used} bytes through storage calls; {bytes} more would pass its max_host_io of {limit}"
                ))
            })
    }

    /// Bytes moved so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_what_would_pass_it_and_counts_nothing_then() {
        let budget = IoBudget::new(100);
        budget.take(60).unwrap();
        let refused = budget.take(41).unwrap_err();
        assert!(
            matches!(&refused, StorageError::LimitExceeded(why) if why.contains("max_host_io of 100")),
            "{refused}"
        );
        assert_eq!(budget.used(), 60);
        budget.take(40).unwrap();
        assert!(budget.take(1).is_err());
    }

    #[test]
    fn writes_are_counted_per_label_against_its_quota() {
        let budget = IoBudget::new(u64::MAX);
        budget.take_written("store", "a", Some(10), 8).unwrap();
        assert!(budget.take_written("store", "a", Some(10), 3).is_err());
        budget.take_written("store", "b", Some(10), 10).unwrap();
        budget.take_written("bucket", "a", Some(10), 10).unwrap();
        budget.take_written("store", "a", None, 1_000).unwrap();
        budget.take_written("store", "a", Some(10), 2).unwrap();
    }
}
