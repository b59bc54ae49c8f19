//! [`SqliteKv`]: the embedded key-value backend of `plughost serve` — one SQLite file
//! (bundled SQLite, WAL, `synchronous=FULL`), so data survives restarts and a crash
//! mid-write never leaves a torn value (every operation is one SQLite transaction).
//!
//! The only file that talks to SQLite. Calls run on the storage pool
//! (`capability/storage_pool.rs`), but for a single-key read when a read connection is
//! free (bounded work: see `read_one`).
//!
//! Writes go through one connection in `IMMEDIATE` transactions (SQLite has one writer);
//! reads use a small set of their own connections in deferred (read-only) transactions,
//! which WAL lets run beside a write — so a plugin writing large values never makes
//! another plugin's `get` wait for the write lock.
//!
//! Waiting for the writer is async and fair across namespaces (stores): each namespace
//! has at most one transaction in line for the writer, and a write whose request is
//! gone (timed out) leaves the line without running. So one store's flood of large
//! transactions delays another store's write by at most one of them, and nothing piles
//! up on the storage pool holding memory after its request ended.
//!
//! Layout: `kv(namespace, key, value, version, expires_at)`, primary key
//! (namespace, key). Versions come from one database-wide sequence, so a key deleted and
//! created again never reuses a version a guest may still hold. Expired rows read as
//! absent and are overwritten or removed lazily.

use super::backend::*;
use crate::bindings::plughost::plugin::kv::{Condition, Entry, Page, Write};
use crate::capability::clock::Clock;
use crate::capability::error::StorageError;
use crate::capability::event::{ChangeKind, Event};
use crate::capability::event_log;
use crate::capability::sqlite_file::{self, Migration};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct SqliteKv {
    /// The writer: taken asynchronously (FIFO), then used on the storage pool.
    connection: Arc<tokio::sync::Mutex<Connection>>,
    /// One place in the writer's line per namespace.
    lines: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
    readers: Arc<[Mutex<Connection>]>,
    next_reader: std::sync::atomic::AtomicUsize,
    /// "Now" for expiry: the system's, or a test's that it moves forward.
    clock: Clock,
}

/// Read connections: enough for the storage pool to serve concurrent reads on 2–4 cores.
const READERS: usize = 4;

/// The store's schema (`sqlite_file.rs`).
const MIGRATIONS: &[Migration] = &[Migration {
    sql: "CREATE TABLE IF NOT EXISTS kv (
              namespace  TEXT    NOT NULL,
              key        TEXT    NOT NULL,
              value      BLOB    NOT NULL,
              version    INTEGER NOT NULL,
              expires_at INTEGER,
              PRIMARY KEY (namespace, key)
          ) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS kv_version (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
          INSERT OR IGNORE INTO kv_version (id, last) VALUES (1, 0);",
    then: None,
}];

impl SqliteKv {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let connection = sqlite_file::open(path, MIGRATIONS)?;
        event_log::create(&connection)?;
        let readers = (0..READERS)
            .map(|_| Ok(Mutex::new(sqlite_file::open_reader(path)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            connection: Arc::new(tokio::sync::Mutex::new(connection)),
            lines: Mutex::new(std::collections::HashMap::new()),
            readers: readers.into(),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            clock: Clock::system(),
        })
    }

    /// The same store reading expiry against `clock` (a test's, moved forward at will).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs `work` in one deferred (read) transaction on a read connection, on the
    /// storage pool. WAL gives it a consistent snapshot without the write lock.
    async fn read<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>, i64) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        let (readers, clock) = (self.readers.clone(), self.clock.clone());
        let first = self.next_reader.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::capability::storage_pool::spawn(move || {
            // The first free reader from a rotating start; wait on ours if all are busy.
            let index = (0..readers.len())
                .map(|i| (first + i) % readers.len())
                .find(|&i| !matches!(readers[i].try_lock(), Err(std::sync::TryLockError::WouldBlock)))
                .unwrap_or(first % readers.len());
            let mut connection = readers[index].lock().unwrap_or_else(|p| p.into_inner());
            run_in_transaction(&mut connection, TransactionBehavior::Deferred, &clock, work)
        })
        .await
        .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
    }

    /// One key's entry. A point read is bounded work — one primary-key lookup, one value
    /// of at most `MAX_VALUE_BYTES` — so when a read connection is free at once it runs
    /// right here, on the async worker: handing it to the storage pool (two thread
    /// wake-ups) cost several times the lookup. When every reader is busy it waits on
    /// the storage pool like any other read.
    ///
    /// It is one `SELECT` in autocommit mode, itself a consistent snapshot: wrapping it in
    /// `BEGIN`/`COMMIT` ran two more statements per read for nothing.
    async fn read_one(&self, namespace: &str, key: &str) -> Result<Option<Entry>, StorageError> {
        let first = self.next_reader.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(connection) = self.readers[(first + i) % self.readers.len()].try_lock() {
                return current(&connection, namespace, key, self.clock.unix_seconds() as i64);
            }
        }
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.read(move |tx, now| current(tx, &namespace, &key, now)).await
    }

    /// Runs `work` in one immediate (write-locking) transaction of `namespace` on the
    /// storage pool, after waiting (async, cancellable) for the namespace's place in the
    /// writer's line and then the writer.
    async fn transaction<R: Send + 'static>(
        &self,
        namespace: &str,
        work: impl FnOnce(&Transaction<'_>, i64) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        let line = {
            let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
            lines.entry(namespace.to_owned()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1))).clone()
        };
        let _place = line.acquire_owned().await.map_err(|_| StorageError::Unavailable("storage closed".into()))?;
        let mut connection = self.connection.clone().lock_owned().await;
        let clock = self.clock.clone();
        crate::capability::storage_pool::spawn(move || {
            run_in_transaction(&mut connection, TransactionBehavior::Immediate, &clock, work)
        })
        .await
        .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
    }
}

/// `work` in one transaction of `behavior` on `connection`, committed if it succeeds
/// (dropped, so rolled back, if it fails). Runs on the storage pool.
fn run_in_transaction<R>(
    connection: &mut Connection,
    behavior: TransactionBehavior,
    clock: &Clock,
    work: impl FnOnce(&Transaction<'_>, i64) -> Result<R, StorageError>,
) -> Result<R, StorageError> {
    let tx = connection.transaction_with_behavior(behavior).map_err(unavailable)?;
    let result = work(&tx, clock.unix_seconds() as i64)?;
    tx.commit().map_err(unavailable)?;
    Ok(result)
}

fn unavailable(error: rusqlite::Error) -> StorageError {
    tracing::error!(%error, "embedded kv store error");
    StorageError::Unavailable("embedded storage error".into())
}

/// The live (not expired) value and version of a key (in a transaction, or on its own).
fn current(db: &Connection, namespace: &str, key: &str, now: i64) -> Result<Option<Entry>, StorageError> {
    // Cached statements (here and below): parsing and planning the SQL again for every
    // call cost more than the lookup itself.
    db.prepare_cached(
        "SELECT value, version FROM kv
          WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
    )
    .and_then(|mut select| {
        select
            .query_row(params![namespace, key, now], |row| {
                Ok(Entry { value: row.get(0)?, version: row.get::<_, i64>(1)? as u64 })
            })
            .optional()
    })
    .map_err(unavailable)
}

fn next_version(tx: &Transaction<'_>) -> Result<u64, StorageError> {
    tx.prepare_cached("UPDATE kv_version SET last = last + 1 WHERE id = 1 RETURNING last")
        .and_then(|mut next| next.query_row([], |row| row.get::<_, i64>(0)))
        .map(|v| v as u64)
        .map_err(unavailable)
}

fn put(
    tx: &Transaction<'_>,
    namespace: &str,
    key: &str,
    value: &[u8],
    expires_at: Option<i64>,
    now: i64,
) -> Result<u64, StorageError> {
    if event_log::is_watched(tx, namespace).map_err(unavailable)? {
        let old = current(tx, namespace, key, now)?.map(|entry| entry.value);
        let change = if old.is_some() { "modified" } else { "inserted" };
        record_change(tx, namespace, key, change, old, Some(value.to_vec()), now)?;
    }
    let version = next_version(tx)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO kv (namespace, key, value, version, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut insert| insert.execute(params![namespace, key, value, version as i64, expires_at]))
    .map_err(unavailable)?;
    Ok(version)
}

fn remove(tx: &Transaction<'_>, namespace: &str, key: &str, now: i64) -> Result<(), StorageError> {
    if event_log::is_watched(tx, namespace).map_err(unavailable)?
        && let Some(old) = current(tx, namespace, key, now)?
    {
        record_change(tx, namespace, key, "removed", Some(old.value), None, now)?;
    }
    tx.prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")
        .and_then(|mut delete| delete.execute(params![namespace, key]))
        .map_err(unavailable)?;
    Ok(())
}

/// Records a change of a watched namespace in the write's own transaction (see
/// `capability/event_log.rs`).
fn record_change(
    tx: &Transaction<'_>,
    namespace: &str,
    key: &str,
    change: &str,
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
    now: i64,
) -> Result<(), StorageError> {
    let row = event_log::Row { old, new, ..event_log::Row::new(namespace, key, change, now.max(0) as u64) };
    event_log::record(tx, &row).map_err(unavailable)
}

fn expiry(now: i64, ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|ttl| expires_at(now, ttl))
}

#[async_trait::async_trait]
impl KvBackend for SqliteKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>, StorageError> {
        self.read_one(namespace, key).await
    }

    async fn get_many(&self, namespace: &str, keys: &[String]) -> Result<Vec<Option<Entry>>, StorageError> {
        let (namespace, keys) = (namespace.to_owned(), keys.to_vec());
        self.read(move |tx, now| keys.iter().map(|k| current(tx, &namespace, k, now)).collect()).await
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.transaction(&namespace.clone(), move |tx, now| {
            let existing = current(tx, &namespace, &key, now)?.map(|e| e.version);
            if !condition_holds(&condition, existing) {
                return Err(StorageError::Conflict);
            }
            put(tx, &namespace, &key, &value, expiry(now, ttl), now)
        })
        .await
    }

    async fn delete(&self, namespace: &str, key: &str, condition: Condition) -> Result<bool, StorageError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.transaction(&namespace.clone(), move |tx, now| {
            let existing = current(tx, &namespace, &key, now)?.map(|e| e.version);
            if !condition_holds(&condition, existing) {
                return Err(StorageError::Conflict);
            }
            remove(tx, &namespace, &key, now)?;
            Ok(existing.is_some())
        })
        .await
    }

    async fn increment(&self, namespace: &str, key: &str, delta: i64) -> Result<i64, StorageError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.transaction(&namespace.clone(), move |tx, now| {
            let existing = current(tx, &namespace, &key, now)?;
            let new = next_counter_value(&key, existing.as_ref().map(|e| e.value.as_slice()), delta)?;
            // Keep an existing expiry: a counter with a TTL (a rate limit window) must
            // still expire when incremented.
            let expires_at: Option<i64> = tx
                .query_row(
                    "SELECT expires_at FROM kv WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                    params![namespace, key, now],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?
                .flatten();
            put(tx, &namespace, &key, new.to_string().as_bytes(), expires_at, now)?;
            Ok(new)
        })
        .await
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StorageError> {
        let (namespace, prefix) = (namespace.to_owned(), prefix.to_owned());
        self.read(move |tx, now| {
            // Keys after the cursor (or from the prefix on), that start with the prefix,
            // one more than asked for to learn whether another page exists.
            let mut statement = tx
                .prepare_cached(
                    "SELECT key FROM kv
                      WHERE namespace = ?1 AND key > ?2 AND substr(key, 1, ?3) = ?4
                        AND (expires_at IS NULL OR expires_at > ?5)
                      ORDER BY key LIMIT ?6",
                )
                .map_err(unavailable)?;
            let mut keys: Vec<String> = Vec::new();
            // On the first page, `key > prefix` would skip a key equal to the prefix
            // itself: fetch that one apart.
            if cursor.is_none() && !prefix.is_empty() && current(tx, &namespace, &prefix, now)?.is_some() {
                keys.push(prefix.clone());
            }
            let after = cursor.unwrap_or_else(|| prefix.clone());
            let rows = statement
                .query_map(
                    params![namespace, after, prefix.chars().count() as i64, prefix, now, i64::from(limit) + 1],
                    |row| row.get::<_, String>(0),
                )
                .map_err(unavailable)?;
            for row in rows {
                keys.push(row.map_err(unavailable)?);
            }
            let more = keys.len() > limit as usize;
            keys.truncate(limit as usize);
            let cursor = if more { keys.last().cloned() } else { None };
            Ok(Page { keys, cursor })
        })
        .await
    }

    async fn transact(&self, namespace: &str, writes: Vec<Write>) -> Result<Vec<u64>, StorageError> {
        let namespace = namespace.to_owned();
        self.transaction(&namespace.clone(), move |tx, now| {
            for write in &writes {
                let (key, condition) = match write {
                    Write::Set((key, _, options)) => (key, &options.condition),
                    Write::Delete((key, condition)) => (key, condition),
                };
                let existing = current(tx, &namespace, key, now)?.map(|e| e.version);
                if !condition_holds(condition, existing) {
                    // Returning an error drops the transaction: nothing is written.
                    return Err(StorageError::Conflict);
                }
            }
            writes
                .iter()
                .map(|write| match write {
                    Write::Set((key, value, options)) => {
                        let ttl = options.ttl_seconds.map(|s| Duration::from_secs(s.into()));
                        put(tx, &namespace, key, value, expiry(now, ttl), now)
                    }
                    Write::Delete((key, _)) => remove(tx, &namespace, key, now).map(|()| 0),
                })
                .collect()
        })
        .await
    }
}

/// The change events of watched stores, for `plughost serve`'s local event pump (the
/// `EventFeed` impl is `event_log`'s).
#[async_trait::async_trait]
impl event_log::LoggingBackend for SqliteKv {
    async fn on_log_connection<R: Send + 'static>(
        &self,
        work: Box<dyn for<'c> FnOnce(&'c Connection) -> rusqlite::Result<R> + Send + 'static>,
    ) -> anyhow::Result<R> {
        let connection = self.connection.clone().lock_owned().await;
        Ok(crate::capability::storage_pool::spawn(move || work(&connection)).await??)
    }

    fn event_of(row: event_log::Row) -> Event {
        change_event(row)
    }
}

fn change_event(row: event_log::Row) -> Event {
    let kind = match row.change.as_str() {
        "inserted" => ChangeKind::Inserted,
        "removed" => ChangeKind::Removed,
        _ => ChangeKind::Modified,
    };
    Event::Change { id: row.id, store: row.namespace, key: row.key, kind, old: row.old, new: row.new, time: row.time }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::plughost::plugin::kv::Condition;

    #[tokio::test]
    async fn reads_do_not_wait_for_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.sqlite3");
        let kv = SqliteKv::open(&path).unwrap();
        kv.set("ns", "k", b"before".to_vec(), Condition::Always, None).await.unwrap();

        // Another writer holds SQLite's write lock (as a long transaction would).
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE; UPDATE kv SET value = x'00' WHERE key = 'k';").unwrap();

        // Reads see the last committed state instead of waiting (5 s busy timeout) and
        // then failing with `unavailable`, as an IMMEDIATE read transaction would.
        let entry = kv.get("ns", "k").await.unwrap().unwrap();
        assert_eq!(entry.value, b"before");
        assert_eq!(kv.list("ns", "", None, 10).await.unwrap().keys, ["k"]);
        assert_eq!(kv.get_many("ns", &["k".to_owned(), "x".to_owned()]).await.unwrap().len(), 2);
        holder.execute_batch("ROLLBACK").unwrap();
    }

    #[tokio::test]
    async fn writes_whose_request_is_gone_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteKv::open(&dir.path().join("kv.sqlite3")).unwrap();
        // The writer is busy: every write below waits in line.
        let busy = kv.connection.clone().lock_owned().await;
        let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let mut waiting: Vec<_> =
            keys.iter().map(|key| Box::pin(kv.set("a", key, vec![1; 1024], Condition::Always, None))).collect();
        for write in &mut waiting {
            assert!(futures::poll!(write).is_pending());
        }
        // Their requests time out: the futures are dropped while they wait.
        drop(waiting);
        drop(busy);
        // A later write (of another store) gets the writer, and none of the abandoned ones ran.
        kv.set("b", "k", b"v".to_vec(), Condition::Always, None).await.unwrap();
        assert!(kv.list("a", "", None, 100).await.unwrap().keys.is_empty());
    }
}
