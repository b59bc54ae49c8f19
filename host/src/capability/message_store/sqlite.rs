//! [`LocalEvents`]: the durable state of `plughost serve`'s event sources, in one SQLite
//! file (`<data-dir>/events.sqlite3`, WAL, `synchronous=FULL`) so nothing accepted is lost
//! by a restart or a crash:
//!
//! - `messages` — the embedded queues (SQS semantics): a received message is invisible
//!   for the queue's `visibility_timeout`, then visible again unless it was acknowledged;
//!   a message that failed `max_receives` times moves to `dead_letters`; a FIFO queue's
//!   messages carry a group (only the oldest message of a group is ever received, so a
//!   group is handled in order, one at a time) and a deduplication id (`deduplication`
//!   remembers each for five minutes);
//! - `outbox` — every other accepted event (topic notifications, bus events, schedule
//!   firings, test events) until each of its plugins handled it: a failed delivery is
//!   retried with backoff, [`MAX_ATTEMPTS`] times in all, then dead-lettered;
//! - `dead_letters` — what gave up, with the reason, for the operator to look at
//!   (`GET /_plughost/events`).
//!
//! The only file of the local event sources that talks to SQLite; every call runs on
//! the storage pool (`capability/storage_pool.rs`).

use crate::capability::event::Event;
use crate::capability::sqlite_file::{self, Migration};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a FIFO queue remembers a deduplication id (SQS's five minutes).
const DEDUPLICATION_WINDOW_MILLIS: i64 = 5 * 60 * 1000;

/// One message to put on a queue.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub body: Vec<u8>,
    pub attributes: Vec<(String, String)>,
    /// Invisible to consumers for this long.
    pub delay: Duration,
    /// FIFO queues: the message group.
    pub group: Option<String>,
    /// FIFO queues: delivered once per id within five minutes.
    pub deduplication: Option<String>,
}

/// Deliveries of an outbox event before it is dead-lettered (EventBridge and SNS give an
/// asynchronous Lambda invocation three, too).
pub const MAX_ATTEMPTS: u32 = 3;

/// One message handed to a consumer.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub body: Vec<u8>,
    pub attributes: Vec<(String, String)>,
    /// This delivery included.
    pub receive_count: u32,
}

/// One outbox event handed to the pump.
#[derive(Debug, Clone)]
pub struct Due {
    pub seq: i64,
    pub event: Event,
    /// Earlier failed deliveries.
    pub attempts: u32,
}

/// What the status endpoint shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// queue label -> (visible, in flight)
    pub queues: std::collections::BTreeMap<String, QueueDepth>,
    pub outbox: u64,
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    /// `queue <label>` or the outbox event's kind.
    pub source: String,
    pub id: String,
    /// The message body or the event, as text (lossy), at most 1 KiB.
    pub body: String,
    pub receives: u32,
    pub reason: String,
    pub failed_at: u64,
}

#[derive(Clone)]
pub struct LocalEvents {
    connection: Arc<Mutex<Connection>>,
    /// Wakes the consumers when something was sent.
    pub wake: Arc<tokio::sync::Notify>,
}

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The store's schema (`sqlite_file.rs`).
const MIGRATIONS: &[Migration] = &[Migration {
    sql: "CREATE TABLE IF NOT EXISTS messages (
                 seq           INTEGER PRIMARY KEY AUTOINCREMENT,
                 queue         TEXT    NOT NULL,
                 id            TEXT    NOT NULL UNIQUE,
                 body          BLOB    NOT NULL,
                 attributes    TEXT    NOT NULL,
                 receive_count INTEGER NOT NULL DEFAULT 0,
                 visible_at    INTEGER NOT NULL,
                 sent_at       INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at, seq);
             CREATE TABLE IF NOT EXISTS outbox (
                 seq      INTEGER PRIMARY KEY AUTOINCREMENT,
                 event    TEXT    NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 due_at   INTEGER NOT NULL,
                 leased   INTEGER NOT NULL DEFAULT 0
             );
             CREATE TABLE IF NOT EXISTS dead_letters (
                 seq       INTEGER PRIMARY KEY AUTOINCREMENT,
                 source    TEXT    NOT NULL,
                 id        TEXT    NOT NULL,
                 body      BLOB    NOT NULL,
                 receives  INTEGER NOT NULL,
                 reason    TEXT    NOT NULL,
                 failed_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS deduplication (
                 queue   TEXT    NOT NULL,
                 id      TEXT    NOT NULL,
                 message TEXT    NOT NULL,
                 sent_at INTEGER NOT NULL,
                 PRIMARY KEY (queue, id)
             );",
    then: Some(|transaction| {
        // Files written before FIFO queues existed lack the group column.
        let has_group: bool = transaction.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('messages') WHERE name = 'grp'",
            [],
            |row| row.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has_group {
            transaction.execute_batch("ALTER TABLE messages ADD COLUMN grp TEXT;")?;
        }
        Ok(())
    }),
}];

impl LocalEvents {
    /// Opens (creating if needed) `<data_dir>/events.sqlite3`. Outbox events a previous
    /// process was delivering when it stopped are due again at once.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("events.sqlite3");
        let connection = sqlite_file::open(&path, MIGRATIONS)?;
        // Deliveries a previous process had leased when it stopped are due again at once.
        connection.execute_batch("UPDATE outbox SET leased = 0, due_at = 0 WHERE leased = 1;")?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)), wake: Arc::new(tokio::sync::Notify::new()) })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let connection = self.connection.clone();
        crate::capability::storage_pool::spawn(move || {
            let mut connection = connection.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut connection)
        })
        .await?
        .map_err(|e| anyhow::anyhow!("local event store: {e}"))
    }

    /// Puts a message on `queue`; returns its id.
    pub async fn send(&self, queue: &str, body: Vec<u8>, attributes: Vec<(String, String)>) -> anyhow::Result<String> {
        let mut ids = self.send_all(queue, vec![Outgoing { body, attributes, ..Outgoing::default() }]).await?;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Puts `messages` on `queue` in one transaction (all or none); returns their ids in
    /// order. A FIFO message whose deduplication id was sent in the last five minutes is
    /// not put again: its id is the earlier message's.
    pub async fn send_all(&self, queue: &str, messages: Vec<Outgoing>) -> anyhow::Result<Vec<String>> {
        let queue = queue.to_owned();
        let ids = self
            .run(move |c| {
                let transaction = c.transaction()?;
                let now = now_millis();
                transaction.execute(
                    "DELETE FROM deduplication WHERE queue = ?1 AND sent_at < ?2",
                    params![queue, now - DEDUPLICATION_WINDOW_MILLIS],
                )?;
                let mut ids = Vec::with_capacity(messages.len());
                for message in messages {
                    if let Some(dedup) = &message.deduplication {
                        let earlier: Option<String> = transaction
                            .query_row(
                                "SELECT message FROM deduplication WHERE queue = ?1 AND id = ?2",
                                params![queue, dedup],
                                |row| row.get(0),
                            )
                            .optional()?;
                        if let Some(earlier) = earlier {
                            ids.push(earlier);
                            continue;
                        }
                    }
                    let id = uuid::Uuid::new_v4().to_string();
                    let attributes = serde_json::to_string(&message.attributes).unwrap_or_else(|_| "[]".into());
                    let visible_at = now + message.delay.as_millis().min(i64::MAX as u128) as i64;
                    transaction.execute(
                        "INSERT INTO messages (queue, id, body, attributes, visible_at, sent_at, grp)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![queue, id, message.body, attributes, visible_at, now, message.group],
                    )?;
                    if let Some(dedup) = &message.deduplication {
                        transaction.execute(
                            "INSERT INTO deduplication (queue, id, message, sent_at) VALUES (?1, ?2, ?3, ?4)",
                            params![queue, dedup, id, now],
                        )?;
                    }
                    ids.push(id);
                }
                transaction.commit()?;
                Ok(ids)
            })
            .await?;
        self.wake.notify_one();
        Ok(ids)
    }

    /// Up to `max` visible messages of `queue`, oldest first, each now invisible for
    /// `visibility` and counted as received once more. Of a message group (FIFO queues)
    /// only the oldest message is received, and only when it is visible: a group is
    /// handled in order, one message at a time.
    pub async fn receive(&self, queue: &str, max: u32, visibility: Duration) -> anyhow::Result<Vec<Received>> {
        let queue = queue.to_owned();
        self.run(move |c| {
            let transaction = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_millis();
            let received = {
                let mut select = transaction.prepare_cached(
                    "SELECT seq, id, body, attributes, receive_count FROM messages m
                     WHERE queue = ?1 AND visible_at <= ?2
                       AND (grp IS NULL OR NOT EXISTS (
                             SELECT 1 FROM messages e WHERE e.queue = m.queue AND e.grp = m.grp AND e.seq < m.seq))
                     ORDER BY seq LIMIT ?3",
                )?;
                let rows = select.query_map(params![queue, now, max], |row| {
                    let attributes: String = row.get(3)?;
                    Ok((
                        row.get::<_, i64>(0)?,
                        Received {
                            id: row.get(1)?,
                            body: row.get(2)?,
                            attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                            receive_count: row.get::<_, u32>(4)? + 1,
                        },
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let hidden_until = now + visibility.as_millis() as i64;
            for (seq, _) in &received {
                transaction.execute(
                    "UPDATE messages SET receive_count = receive_count + 1, visible_at = ?2 WHERE seq = ?1",
                    params![seq, hidden_until],
                )?;
            }
            transaction.commit()?;
            Ok(received.into_iter().map(|(_, message)| message).collect())
        })
        .await
    }

    /// A consumer handled messages `ids`: they are gone (one transaction for the batch).
    pub async fn acknowledge(&self, ids: Vec<String>) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.run(move |c| {
            let transaction = c.transaction()?;
            for id in &ids {
                transaction.execute("DELETE FROM messages WHERE id = ?1", params![id])?;
            }
            transaction.commit()
        })
        .await
    }

    /// A consumer failed message `id` on its `receive_count`th receive: it comes back
    /// after its visibility timeout, or, at `max_receives`, moves to the dead letters.
    /// Returns whether it was dead-lettered.
    pub async fn failed(
        &self,
        queue: &str,
        message: &Received,
        max_receives: u32,
        reason: &str,
    ) -> anyhow::Result<bool> {
        if message.receive_count < max_receives {
            return Ok(false);
        }
        let (source, id, body, receives, reason) = (
            format!("queue {queue}"),
            message.id.clone(),
            message.body.clone(),
            message.receive_count,
            reason.to_owned(),
        );
        self.run(move |c| {
            let transaction = c.transaction()?;
            transaction.execute(
                "INSERT INTO dead_letters (source, id, body, receives, reason, failed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![source, id, body, receives, reason, now_millis() / 1000],
            )?;
            transaction.execute("DELETE FROM messages WHERE id = ?1", params![id])?;
            transaction.commit()
        })
        .await?;
        Ok(true)
    }

    /// Accepts `event` for delivery (at least once, in the background).
    pub async fn enqueue(&self, event: &Event) -> anyhow::Result<()> {
        self.enqueue_all(std::slice::from_ref(event)).await
    }

    /// Accepts `events` for delivery in one transaction (all or none).
    pub async fn enqueue_all(&self, events: &[Event]) -> anyhow::Result<()> {
        let texts = events.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?;
        self.run(move |c| {
            let transaction = c.transaction()?;
            let now = now_millis();
            for text in texts {
                transaction.execute("INSERT INTO outbox (event, due_at) VALUES (?1, ?2)", params![text, now])?;
            }
            transaction.commit()
        })
        .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Up to `max` due outbox events, leased to the caller until [`Self::delivered`] or
    /// [`Self::retry`] (or the next process start).
    pub async fn due(&self, max: u32) -> anyhow::Result<Vec<Due>> {
        self.run(move |c| {
            let transaction = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let due = {
                let mut select = transaction.prepare_cached(
                    "SELECT seq, event, attempts FROM outbox WHERE leased = 0 AND due_at <= ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = select.query_map(params![now_millis(), max], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, u32>(2)?))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut events = Vec::with_capacity(due.len());
            for (seq, text, attempts) in due {
                transaction.execute("UPDATE outbox SET leased = 1 WHERE seq = ?1", params![seq])?;
                match serde_json::from_str::<Event>(&text) {
                    Ok(event) => events.push(Due { seq, event, attempts }),
                    // Written by another version of plughost: keep it where someone can see it.
                    Err(error) => {
                        transaction.execute(
                            "INSERT INTO dead_letters (source, id, body, receives, reason, failed_at)
                             VALUES ('outbox', ?1, ?2, ?3, ?4, ?5)",
                            params![
                                seq.to_string(),
                                text,
                                attempts,
                                format!("unreadable: {error}"),
                                now_millis() / 1000
                            ],
                        )?;
                        transaction.execute("DELETE FROM outbox WHERE seq = ?1", params![seq])?;
                    }
                }
            }
            transaction.commit()?;
            Ok(events)
        })
        .await
    }

    /// Replaces outbox event `seq` with `event` (the same event, with what was done for it
    /// recorded), keeping its attempts and lease.
    pub async fn update(&self, seq: i64, event: &Event) -> anyhow::Result<()> {
        let text = serde_json::to_string(event)?;
        self.run(move |c| c.execute("UPDATE outbox SET event = ?2 WHERE seq = ?1", params![seq, text]).map(drop)).await
    }

    /// Every plugin handled outbox event `seq`.
    pub async fn delivered(&self, seq: i64) -> anyhow::Result<()> {
        self.run(move |c| c.execute("DELETE FROM outbox WHERE seq = ?1", params![seq]).map(drop)).await
    }

    /// Outbox event `due` failed (`reason`): due again after a backoff (1 s, 2 s, 4 s ...),
    /// or dead-lettered after [`MAX_ATTEMPTS`]. Returns whether it was dead-lettered.
    pub async fn retry(&self, due: &Due, reason: &str) -> anyhow::Result<bool> {
        let (seq, attempts, reason) = (due.seq, due.attempts + 1, reason.to_owned());
        let (kind, id, text) = (due.event.kind().to_owned(), due.event.id(), serde_json::to_string(&due.event)?);
        self.run(move |c| {
            if attempts >= MAX_ATTEMPTS {
                let transaction = c.transaction()?;
                transaction.execute(
                    "INSERT INTO dead_letters (source, id, body, receives, reason, failed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![kind, id, text, attempts, reason, now_millis() / 1000],
                )?;
                transaction.execute("DELETE FROM outbox WHERE seq = ?1", params![seq])?;
                transaction.commit()?;
                return Ok(true);
            }
            let backoff = 1000i64 << (attempts - 1).min(10);
            c.execute(
                "UPDATE outbox SET leased = 0, attempts = ?2, due_at = ?3 WHERE seq = ?1",
                params![seq, attempts, now_millis() + backoff],
            )?;
            Ok(false)
        })
        .await
    }

    /// Queue depths, the outbox's size and the newest 100 dead letters.
    pub async fn status(&self) -> anyhow::Result<Status> {
        self.run(|c| {
            let now = now_millis();
            let mut queues = std::collections::BTreeMap::<String, QueueDepth>::new();
            let mut select =
                c.prepare("SELECT queue, SUM(visible_at <= ?1), SUM(visible_at > ?1) FROM messages GROUP BY queue")?;
            let rows = select.query_map(params![now], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64))
            })?;
            for row in rows {
                let (queue, visible, in_flight) = row?;
                queues.insert(queue, QueueDepth { visible, in_flight });
            }
            let outbox = c.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get::<_, i64>(0))? as u64;
            let mut select = c.prepare(
                "SELECT source, id, body, receives, reason, failed_at FROM dead_letters ORDER BY seq DESC LIMIT 100",
            )?;
            let dead_letters = select
                .query_map([], |row| {
                    let body: Vec<u8> = row.get::<_, rusqlite::types::Value>(2).map(|v| match v {
                        rusqlite::types::Value::Blob(bytes) => bytes,
                        rusqlite::types::Value::Text(text) => text.into_bytes(),
                        _ => Vec::new(),
                    })?;
                    let mut body = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
                    body.retain(|c| !c.is_control() || c == '\n');
                    Ok(DeadLetter {
                        source: row.get(0)?,
                        id: row.get(1)?,
                        body,
                        receives: row.get(3)?,
                        reason: row.get(4)?,
                        failed_at: row.get::<_, i64>(5)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Status { queues, outbox, dead_letters })
        })
        .await
    }
}

/// The process's [`LocalEvents`], opened on first use (`<data-dir>/events.sqlite3`): the
/// embedded queue, topic and bus backends and `serve`'s event sources share it (and its
/// wake-up), while a process that never needs it (Lambda, with every label bound to AWS)
/// never creates the file.
#[derive(Clone)]
pub struct SharedLocalEvents {
    data_dir: Arc<PathBuf>,
    cell: Arc<tokio::sync::OnceCell<LocalEvents>>,
}

impl SharedLocalEvents {
    pub fn new(data_dir: &Path) -> Self {
        Self { data_dir: Arc::new(data_dir.to_path_buf()), cell: Arc::default() }
    }

    /// The store, opened now if this is the first use.
    pub async fn get(&self) -> anyhow::Result<&LocalEvents> {
        let data_dir = self.data_dir.clone();
        self.cell
            .get_or_try_init(|| async move {
                crate::capability::storage_pool::spawn(move || LocalEvents::open(&data_dir))
                    .await
                    .map_err(anyhow::Error::from)?
            })
            .await
    }
}
