//! [`MemoryStore`]: the kv stores natively — what `kv::Store` talks to when a plugin's
//! logic runs under plain `cargo test`. Per thread, like the rest of [`crate::testing`],
//! with the host's rules: key and value limits, conditions and versions, TTLs on the
//! testing clock ([`super::set_now`]), `increment` on decimal text, paged listing,
//! all-or-nothing transactions. Any label opens (grants are the manifest's business and
//! are tested against the real host).

use crate::bindings::plughost::plugin::kv::{Condition, Entry, Page, Write, WriteOptions};
use crate::bindings::plughost::plugin::types::Error as StorageError;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The host's limits (`wit/kv.wit`).
const MAX_KEY_BYTES: usize = 1024;
const MAX_VALUE_BYTES: usize = 350 * 1024;
const MAX_BATCH: usize = 100;

struct Item {
    value: Vec<u8>,
    version: u64,
    /// Unix milliseconds; absent from then on.
    expires_ms: Option<u64>,
}

#[derive(Default)]
struct Stores {
    /// label -> key -> item
    items: BTreeMap<String, BTreeMap<String, Item>>,
    /// Versions grow across every store, so a key written again never repeats one.
    last_version: u64,
}

thread_local! {
    static STORES: RefCell<Stores> = RefCell::default();
}

/// Forgets every native kv store of this thread.
pub fn clear_kv() {
    STORES.with(|s| *s.borrow_mut() = Stores::default());
}

/// One store, by label.
pub struct MemoryStore {
    label: String,
}

fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(StorageError::InvalidInput(format!(
            "a key must be 1..={MAX_KEY_BYTES} bytes of UTF-8 without control characters"
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), StorageError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StorageError::LimitExceeded(format!("a value is at most {MAX_VALUE_BYTES} bytes")));
    }
    Ok(())
}

impl Stores {
    fn live(&self, label: &str, key: &str, now: u64) -> Option<&Item> {
        self.items.get(label)?.get(key).filter(|item| item.expires_ms.is_none_or(|at| at > now))
    }

    fn holds(&self, label: &str, key: &str, condition: &Condition, now: u64) -> bool {
        let live = self.live(label, key, now);
        match condition {
            Condition::Always => true,
            Condition::Absent => live.is_none(),
            Condition::Version(version) => live.is_some_and(|item| item.version == *version),
        }
    }

    fn put(&mut self, label: &str, key: &str, value: Vec<u8>, expires_ms: Option<u64>) -> u64 {
        self.last_version += 1;
        let item = Item { value, version: self.last_version, expires_ms };
        self.items.entry(label.to_owned()).or_default().insert(key.to_owned(), item);
        self.last_version
    }

    fn remove(&mut self, label: &str, key: &str, now: u64) -> bool {
        let existed = self.live(label, key, now).is_some();
        if let Some(store) = self.items.get_mut(label) {
            store.remove(key);
        }
        existed
    }
}

fn expiry(options: &WriteOptions, now: u64) -> Option<u64> {
    options.ttl_seconds.map(|seconds| now + u64::from(seconds.max(1)) * 1000)
}

fn with_stores<T>(work: impl FnOnce(&mut Stores, u64) -> T) -> T {
    let now = super::now_ms();
    STORES.with(|s| work(&mut s.borrow_mut(), now))
}

impl MemoryStore {
    pub fn open(label: &str) -> Result<Self, StorageError> {
        Ok(Self { label: label.to_owned() })
    }

    pub fn get(&self, key: &str) -> Result<Option<Entry>, StorageError> {
        check_key(key)?;
        Ok(with_stores(|s, now| {
            s.live(&self.label, key, now).map(|item| Entry { value: item.value.clone(), version: item.version })
        }))
    }

    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, StorageError> {
        if keys.len() > MAX_BATCH {
            return Err(StorageError::LimitExceeded(format!("at most {MAX_BATCH} keys at once")));
        }
        keys.iter().map(|key| self.get(key)).collect()
    }

    pub fn exists(&self, key: &str) -> Result<bool, StorageError> {
        self.get(key).map(|entry| entry.is_some())
    }

    pub fn set(&self, key: &str, value: &[u8], options: WriteOptions) -> Result<u64, StorageError> {
        check_key(key)?;
        check_value(value)?;
        with_stores(|s, now| {
            if !s.holds(&self.label, key, &options.condition, now) {
                return Err(StorageError::Conflict);
            }
            Ok(s.put(&self.label, key, value.to_vec(), expiry(&options, now)))
        })
    }

    pub fn delete(&self, key: &str, condition: Condition) -> Result<bool, StorageError> {
        check_key(key)?;
        with_stores(|s, now| {
            if !s.holds(&self.label, key, &condition, now) {
                return Err(StorageError::Conflict);
            }
            Ok(s.remove(&self.label, key, now))
        })
    }

    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, StorageError> {
        check_key(key)?;
        with_stores(|s, now| {
            let (current, expires_ms) = match s.live(&self.label, key, now) {
                None => (0, None),
                Some(item) => {
                    let text = std::str::from_utf8(&item.value).ok();
                    let number = text.and_then(|t| t.parse::<i64>().ok());
                    let number =
                        number.ok_or_else(|| StorageError::InvalidInput("the value is not an integer".into()))?;
                    (number, item.expires_ms)
                }
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| StorageError::InvalidInput("the counter would overflow".into()))?;
            s.put(&self.label, key, next.to_string().into_bytes(), expires_ms);
            Ok(next)
        })
    }

    pub fn list_keys(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<Page, StorageError> {
        if !(1..=1000).contains(&limit) {
            return Err(StorageError::InvalidInput("limit must be within 1..=1000".into()));
        }
        Ok(with_stores(|s, now| {
            let Some(store) = s.items.get(&self.label) else {
                return Page { keys: Vec::new(), cursor: None };
            };
            let mut keys = store
                .range(prefix.to_owned()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .filter(|(key, item)| {
                    cursor.is_none_or(|c| key.as_str() > c) && item.expires_ms.is_none_or(|at| at > now)
                })
                .map(|(key, _)| key.clone())
                .take(limit as usize + 1)
                .collect::<Vec<_>>();
            let more = keys.len() > limit as usize;
            keys.truncate(limit as usize);
            let cursor = if more { keys.last().cloned() } else { None };
            Page { keys, cursor }
        }))
    }

    pub fn transact(&self, writes: &[Write]) -> Result<Vec<u64>, StorageError> {
        if writes.is_empty() || writes.len() > MAX_BATCH {
            return Err(StorageError::InvalidInput(format!("a transaction holds 1..={MAX_BATCH} writes")));
        }
        for write in writes {
            match write {
                Write::Set((key, value, _)) => {
                    check_key(key)?;
                    check_value(value)?;
                }
                Write::Delete((key, _)) => check_key(key)?,
            }
        }
        with_stores(|s, now| {
            let all_hold = writes.iter().all(|write| match write {
                Write::Set((key, _, options)) => s.holds(&self.label, key, &options.condition, now),
                Write::Delete((key, condition)) => s.holds(&self.label, key, condition, now),
            });
            if !all_hold {
                return Err(StorageError::Conflict);
            }
            Ok(writes
                .iter()
                .map(|write| match write {
                    Write::Set((key, value, options)) => s.put(&self.label, key, value.clone(), expiry(options, now)),
                    Write::Delete((key, _)) => {
                        s.remove(&self.label, key, now);
                        0
                    }
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::kv::{Condition, StorageError, Store, Write, WriteOptions};
    use crate::testing::{advance, clear_clock, clear_kv};
    use std::time::Duration;

    fn options(condition: Condition, ttl_seconds: Option<u32>) -> WriteOptions {
        WriteOptions { condition, ttl_seconds }
    }

    #[test]
    fn writes_follow_their_conditions_and_versions_like_the_hosts_stores() {
        clear_kv();
        let store = Store::open("s").unwrap();
        let v1 = store.set_with("k", b"a", options(Condition::Absent, None)).unwrap();
        assert_eq!(store.set_with("k", b"b", options(Condition::Absent, None)), Err(StorageError::Conflict));
        assert_eq!(store.set_with("k", b"b", options(Condition::Version(v1 + 1), None)), Err(StorageError::Conflict));
        let v2 = store.set_with("k", b"b", options(Condition::Version(v1), None)).unwrap();
        assert!(v2 > v1);
        assert_eq!(store.get("k").unwrap().unwrap().value, b"b");
        assert_eq!(store.increment("n", 2).unwrap(), 2);
        assert!(matches!(store.increment("k", 1), Err(StorageError::InvalidInput(_))));
        assert!(matches!(store.set("", b"x"), Err(StorageError::InvalidInput(_))));
        assert!(matches!(store.set("big", &vec![0; 350 * 1024 + 1]), Err(StorageError::LimitExceeded(_))));
        // Labels are apart.
        assert_eq!(Store::open("other").unwrap().get("k").unwrap(), None);
    }

    #[test]
    fn a_value_expires_on_the_testing_clock() {
        clear_kv();
        let store = Store::open("s").unwrap();
        store.set_with("k", b"v", options(Condition::Always, Some(10))).unwrap();
        advance(Duration::from_secs(9));
        assert!(store.exists("k").unwrap());
        advance(Duration::from_secs(2));
        assert!(!store.exists("k").unwrap());
        // Expired counts as absent for a create-only write.
        assert!(store.set_with("k", b"again", options(Condition::Absent, None)).is_ok());
        clear_clock();
    }

    #[test]
    fn a_transaction_writes_all_or_nothing_and_listing_pages_in_key_order() {
        clear_kv();
        let store = Store::open("s").unwrap();
        store.set("taken", b"1").unwrap();
        let set = |key: &str, condition| Write::Set((key.into(), b"x".to_vec(), options(condition, None)));
        assert_eq!(
            store.transact(&[set("a", Condition::Always), set("taken", Condition::Absent)]),
            Err(StorageError::Conflict)
        );
        assert!(!store.exists("a").unwrap(), "nothing written");
        assert_eq!(
            store.transact(&[set("a", Condition::Always), Write::Delete(("taken".into(), Condition::Always))]).unwrap()
                [1],
            0
        );
        for key in ["p/1", "p/2", "p/3", "q/1"] {
            store.set(key, b"v").unwrap();
        }
        let first = store.list("p/", None, 2).unwrap();
        assert_eq!(
            (first.keys.as_slice(), first.cursor.as_deref()),
            (&["p/1".to_owned(), "p/2".to_owned()][..], Some("p/2"))
        );
        let second = store.list("p/", first.cursor.as_deref(), 2).unwrap();
        assert_eq!((second.keys, second.cursor), (vec!["p/3".to_owned()], None));
    }
}
