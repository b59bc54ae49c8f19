//! Every embedded backend's SQLite file, opened one way — the labelled capabilities'
//! embedded stores and indexes, and the messaging store (`message_store/sqlite.rs`): WAL,
//! `synchronous = FULL` (a commit survives a power cut: nothing accepted is lost), a busy
//! timeout first (switching to WAL takes a lock; a second process opening the same file
//! waits for it rather than failing), and the schema brought up to date by numbered
//! [`Migration`]s, the file's `user_version` recording how many it has.
//!
//! Why not `rusqlite_migration`, which does the last part: its newest release (2.6.0) is
//! built on rusqlite 0.40 and the host on 0.41, and two rusqlite versions cannot be linked
//! into one binary (`libsqlite3-sys` links SQLite once). The runner below is twenty lines;
//! move to the crate when it follows rusqlite.

use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;

/// One step of a file's schema, applied once, in order, in one transaction with the
/// `user_version` it brings the file to. The first migration of each file is written
/// with `IF NOT EXISTS`: files made before migrations were numbered (`user_version` 0)
/// already hold its tables.
pub struct Migration {
    pub sql: &'static str,
    /// Work SQL cannot say (a column added only where it is missing), after `sql`.
    pub then: Option<fn(&Transaction<'_>) -> rusqlite::Result<()>>,
}

/// Opens (creating it and its folder if needed) the database at `path` for writing, with
/// its schema brought up to date.
pub fn open(path: &Path, migrations: &[Migration]) -> anyhow::Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut connection = Connection::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    connection.execute_batch(
        "PRAGMA busy_timeout = 5000;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;",
    )?;
    migrate(&mut connection, migrations).map_err(|e| anyhow::anyhow!("{}: schema migration: {e:#}", path.display()))?;
    Ok(connection)
}

/// A read-only connection to the database at `path` (already opened by [`open`]).
pub fn open_reader(path: &Path) -> anyhow::Result<Connection> {
    let reader = Connection::open(path)?;
    reader.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
    Ok(reader)
}

fn migrate(connection: &mut Connection, migrations: &[Migration]) -> anyhow::Result<()> {
    let applied: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > migrations.len() {
        // Written by a newer plughost: its schema is not this one's to guess at.
        anyhow::bail!(
            "the file is at schema version {applied}, this plughost knows {}: use the newer plughost",
            migrations.len()
        );
    }
    for (index, migration) in migrations.iter().enumerate().skip(applied) {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        transaction.execute_batch(migration.sql)?;
        if let Some(then) = migration.then {
            then(&transaction)?;
        }
        transaction.pragma_update(None, "user_version", (index + 1) as i64)?;
        transaction.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: Migration = Migration { sql: "CREATE TABLE IF NOT EXISTS t (a INTEGER);", then: None };
    const V2: Migration = Migration { sql: "ALTER TABLE t ADD COLUMN b TEXT;", then: None };

    #[test]
    fn migrations_run_once_in_order_and_a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite3");
        drop(open(&path, &[V1]).unwrap());
        let connection = open(&path, &[V1, V2]).unwrap();
        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, 2);
        connection.execute("INSERT INTO t (a, b) VALUES (1, 'x')", []).unwrap();
        drop(connection);
        // Opening again applies nothing twice (the ALTER would fail).
        drop(open(&path, &[V1, V2]).unwrap());
        let error = open(&path, &[V1]).unwrap_err().to_string();
        assert!(error.contains("schema version 2, this plughost knows 1"), "{error}");
    }
}
