//! What became of each reload, newest last, for the local console: when, which
//! generation, published or rejected, and why (the same text as the log line). Bounded to
//! the last [`KEPT`].

use std::collections::VecDeque;
use std::sync::Mutex;

pub const KEPT: usize = 50;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadRecord {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `published` (a new table serves), `rejected` (the previous one keeps serving).
    pub outcome: &'static str,
    /// The generation serving afterwards.
    pub generation: u64,
    /// Published: the plugins and digests; rejected: why.
    pub detail: String,
}

#[derive(Default)]
pub struct ReloadHistory {
    records: Mutex<VecDeque<ReloadRecord>>,
}

impl ReloadHistory {
    pub fn record(&self, outcome: &'static str, generation: u64, detail: String) {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() == KEPT {
            records.pop_front();
        }
        records.push_back(ReloadRecord { at_ms, outcome, generation, detail });
    }

    /// Every record kept, oldest first.
    pub fn all(&self) -> Vec<ReloadRecord> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_records_are_kept_in_order() {
        let history = ReloadHistory::default();
        for generation in 0..(KEPT as u64 + 3) {
            history.record("published", generation, String::new());
        }
        let all = history.all();
        assert_eq!(all.len(), KEPT);
        assert_eq!((all[0].generation, all[KEPT - 1].generation), (3, KEPT as u64 + 2));
    }
}
