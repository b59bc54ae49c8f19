//! The event log of an embedded backend (`plughost serve`): the object or change events of
//! its watched namespaces, written into the backend's own SQLite database **in the same
//! transaction as the write they describe** — so an event exists exactly when its write
//! committed: none lost to a crash after the commit, none invented by one before it.
//!
//! Only namespaces some plugin has a trigger on are watched (`watch`, from the local
//! event pump; a TEMP table of the writing connection, so a process that does not pump —
//! `plughost check`, tests, Lambda — never records anything). The pump moves recorded
//! events into its outbox (`serve/sources/`) and then forgets them here (`done`).
//!
//! Used by the embedded backends of the capabilities that emit events (`Kind::events`);
//! each turns [`Row`]s into its WIT events.

use super::labelled::EventFeed;
use crate::capability::event::Event;
use rusqlite::{Connection, params};
use std::collections::BTreeSet;

/// An embedded backend with an event log: where its log lives, and what a row means. Each
/// such backend is an [`EventFeed`] through this (the impl below), written once.
#[async_trait::async_trait]
pub trait LoggingBackend: Send + Sync {
    /// Runs `work` on the connection that writes (it holds the watch list), on the
    /// blocking pool.
    async fn on_log_connection<R: Send + 'static>(
        &self,
        work: Box<dyn for<'c> FnOnce(&'c Connection) -> rusqlite::Result<R> + Send + 'static>,
    ) -> anyhow::Result<R>;

    /// A recorded row as the capability's WIT event. The embedded backend keeps each label
    /// in the namespace named after it.
    fn event_of(row: Row) -> Event;
}

#[async_trait::async_trait]
impl<T: LoggingBackend> EventFeed for T {
    async fn watch(&self, labels: BTreeSet<String>) -> anyhow::Result<()> {
        self.on_log_connection(Box::new(move |connection| watch(connection, &labels))).await
    }

    async fn pending(&self, max: u32) -> anyhow::Result<Vec<(i64, Event)>> {
        let rows = self.on_log_connection(Box::new(move |connection| pending(connection, max))).await?;
        Ok(rows.into_iter().map(|row| (row.seq, T::event_of(row))).collect())
    }

    async fn done(&self, seq: i64) -> anyhow::Result<()> {
        self.on_log_connection(Box::new(move |connection| done(connection, seq))).await
    }
}

/// Creates the log (persistent) and the watch list (this connection only).
pub fn create(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS plughost_events (
             seq       INTEGER PRIMARY KEY AUTOINCREMENT,
             id        TEXT    NOT NULL,
             namespace TEXT    NOT NULL,
             key       TEXT    NOT NULL,
             change    TEXT    NOT NULL,
             old       BLOB,
             new       BLOB,
             size      INTEGER NOT NULL DEFAULT 0,
             etag      TEXT    NOT NULL DEFAULT '',
             time      INTEGER NOT NULL
         );
         CREATE TEMP TABLE IF NOT EXISTS plughost_watched (namespace TEXT PRIMARY KEY) WITHOUT ROWID;",
    )
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub seq: i64,
    /// Unique per event (a UUID), stable until it is delivered.
    pub id: String,
    pub namespace: String,
    pub key: String,
    /// What happened, in the capability's words (`created`, `inserted`, ...).
    pub change: String,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
    pub size: u64,
    pub etag: String,
    pub time: u64,
}

impl Row {
    /// An event to [`record`] (its `seq` and `id` are assigned there): `change` of `key`
    /// in `namespace` at `time`, with no values, size or etag until set.
    pub fn new(namespace: &str, key: &str, change: &str, time: u64) -> Self {
        Self {
            seq: 0,
            id: String::new(),
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            change: change.to_owned(),
            old: None,
            new: None,
            size: 0,
            etag: String::new(),
            time,
        }
    }
}

/// Whether writes to `namespace` are recorded (called inside the write's transaction).
pub fn is_watched(connection: &Connection, namespace: &str) -> rusqlite::Result<bool> {
    connection.prepare_cached("SELECT 1 FROM temp.plughost_watched WHERE namespace = ?1")?.exists(params![namespace])
}

/// Records one event, in the caller's transaction. `row.seq` and `row.id` are assigned.
pub fn record(connection: &Connection, row: &Row) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO plughost_events (id, namespace, key, change, old, new, size, etag, time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            uuid::Uuid::new_v4().to_string(),
            row.namespace,
            row.key,
            row.change,
            row.old,
            row.new,
            row.size as i64,
            row.etag,
            row.time as i64
        ])
        .map(drop)
}

/// Makes `namespaces` the watched ones.
pub fn watch(connection: &Connection, namespaces: &BTreeSet<String>) -> rusqlite::Result<()> {
    connection.execute("DELETE FROM temp.plughost_watched", [])?;
    let mut insert = connection.prepare_cached("INSERT INTO temp.plughost_watched (namespace) VALUES (?1)")?;
    for namespace in namespaces {
        insert.execute(params![namespace])?;
    }
    Ok(())
}

/// Up to `max` recorded events, oldest first.
pub fn pending(connection: &Connection, max: u32) -> rusqlite::Result<Vec<Row>> {
    let mut select = connection.prepare_cached(
        "SELECT seq, id, namespace, key, change, old, new, size, etag, time
           FROM plughost_events ORDER BY seq LIMIT ?1",
    )?;
    let rows = select.query_map(params![max], |row| {
        Ok(Row {
            seq: row.get(0)?,
            id: row.get(1)?,
            namespace: row.get(2)?,
            key: row.get(3)?,
            change: row.get(4)?,
            old: row.get(5)?,
            new: row.get(6)?,
            size: row.get::<_, i64>(7)?.max(0) as u64,
            etag: row.get(8)?,
            time: row.get::<_, i64>(9)?.max(0) as u64,
        })
    })?;
    rows.collect()
}

/// Forgets event `seq` (the pump has it).
pub fn done(connection: &Connection, seq: i64) -> rusqlite::Result<()> {
    connection.execute("DELETE FROM plughost_events WHERE seq = ?1", params![seq]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(namespace: &str, key: &str) -> Row {
        Row { new: Some(b"v".to_vec()), ..Row::new(namespace, key, "inserted", 1) }
    }

    #[test]
    fn only_watched_namespaces_are_recorded_and_a_rolled_back_write_records_nothing() {
        let mut connection = Connection::open_in_memory().unwrap();
        create(&connection).unwrap();
        assert!(!is_watched(&connection, "users").unwrap());
        watch(&connection, &BTreeSet::from(["users".to_owned()])).unwrap();
        assert!(is_watched(&connection, "users").unwrap() && !is_watched(&connection, "orders").unwrap());

        let tx = connection.transaction().unwrap();
        record(&tx, &row("users", "a")).unwrap();
        drop(tx); // rolled back: the write did not happen, so neither did its event
        let tx = connection.transaction().unwrap();
        record(&tx, &row("users", "b")).unwrap();
        tx.commit().unwrap();

        let pending = pending(&connection, 10).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].key.as_str(), pending[0].new.as_deref()), ("b", Some(&b"v"[..])));
        assert!(!pending[0].id.is_empty());
        done(&connection, pending[0].seq).unwrap();
        assert!(super::pending(&connection, 10).unwrap().is_empty());
    }
}
