//! [`FsBlob`]: the embedded blob backend of `plughost serve` — a folder of immutable body
//! files plus a SQLite index, so data survives restarts and a crash mid-write never
//! leaves a torn object. The only file that touches the blob folder.
//!
//! Layout under the root (`<data-dir>/blobs`):
//!
//! | path                | what                                                          |
//! |---------------------|---------------------------------------------------------------|
//! | `index.sqlite3`     | `blobs(namespace, key, file, size, content_type, etag, ...)`  |
//! | `objects/<uuid>`    | bodies, written once, never modified                          |
//! | `tmp/<uuid>`        | bodies being written                                          |
//! | `presign.key`       | the secret that signs this folder's presigned URLs            |
//!
//! A write goes to `tmp/`, is fsynced and renamed into `objects/`, and only then becomes
//! visible by committing its index row (one SQLite transaction, which also checks the
//! put condition); the replaced body is deleted after the commit. Readers open the body
//! file while holding the index lock, so a concurrent overwrite never tears a read (on
//! Unix an open file survives its deletion). A crash leaves at most an unreferenced file,
//! swept when a later process opens the folder.
//!
//! Presigned URLs point at this host's own `/_plughost/blob/...` endpoint (`routes.rs`,
//! which `plughost serve` mounts), signed by `presign.rs`, so plugins use them exactly as
//! they use S3's. Every file operation runs on the storage pool (`capability/storage_pool.rs`), never on an async worker.

use super::backend::*;
use super::limits::check_object_size;
use super::presign::{PresignedGrant, Presigner};
use crate::bindings::plughost::plugin::blob::{
    Listing, Object, ObjectInfo, ObjectSummary, PresignMethod, PutCondition,
};
use crate::capability::clock::unix_seconds;
use crate::capability::error::StorageError;
use crate::capability::event::Event;
use crate::capability::event_log;
use crate::capability::sqlite_file::{self, Migration};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Unreferenced body files older than this are swept at open (younger ones may belong
/// to a write another process has not committed yet).
const SWEEP_AFTER: Duration = Duration::from_secs(3600);

pub struct FsBlob {
    root: PathBuf,
    index: Arc<Mutex<Connection>>,
    /// Signs the presigned URLs of this folder (`presign.rs`).
    presigner: Presigner,
}

/// A body written to `tmp/`, not yet visible.
pub struct Staged {
    path: PathBuf,
    size: u64,
    etag: String,
}

/// Writes a body into `tmp/` while hashing it; `commit` makes it visible.
pub struct StagingWriter {
    file: File,
    hasher: Sha256,
    staged: Staged,
}

impl StagingWriter {
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.staged.size += bytes.len() as u64;
        Ok(())
    }

    /// Flushes the body to disk; after this it survives a crash (until swept).
    pub fn finish(mut self) -> std::io::Result<Staged> {
        self.file.sync_all()?;
        self.staged.etag = format!("\"{}\"", hex::encode(&self.hasher.finalize()[..16]));
        Ok(self.staged)
    }

    /// Number of bytes written so far.
    pub fn size(&self) -> u64 {
        self.staged.size
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // A staged body that was committed has been renamed away; otherwise discard it,
        // on the storage pool (an upload cut short).
        let path = std::mem::take(&mut self.path);
        if path.as_os_str().is_empty() {
            return;
        }
        drop(crate::capability::storage_pool::spawn(move || std::fs::remove_file(path)));
    }
}

/// The index's schema (`sqlite_file.rs`).
const MIGRATIONS: &[Migration] = &[Migration {
    sql: "CREATE TABLE IF NOT EXISTS blobs (
              namespace     TEXT    NOT NULL,
              key           TEXT    NOT NULL,
              file          TEXT    NOT NULL,
              size          INTEGER NOT NULL,
              content_type  TEXT    NOT NULL,
              etag          TEXT    NOT NULL,
              last_modified INTEGER NOT NULL,
              metadata      TEXT    NOT NULL,
              PRIMARY KEY (namespace, key)
          ) WITHOUT ROWID;",
    then: None,
}];

impl FsBlob {
    /// Opens (creating if needed) the blob folder at `root`; presigned URLs start with
    /// `public_url`.
    pub fn open(root: &Path, public_url: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root.join("objects"))?;
        std::fs::create_dir_all(root.join("tmp"))?;
        let index = sqlite_file::open(&root.join("index.sqlite3"), MIGRATIONS)?;
        event_log::create(&index)?;
        let blob = Self {
            root: root.to_path_buf(),
            presigner: Presigner::open(&root.join("presign.key"), public_url)?,
            index: Arc::new(Mutex::new(index)),
        };
        blob.sweep()?;
        Ok(blob)
    }

    /// Starts writing a body (see [`StagingWriter`]).
    pub async fn stage(&self) -> std::io::Result<StagingWriter> {
        let root = self.root.clone();
        crate::capability::storage_pool::spawn(move || stage_in(&root)).await.map_err(std::io::Error::other)?
    }

    /// The signer of this folder's presigned URLs (the local routes verify with it).
    pub fn presigner(&self) -> &Presigner {
        &self.presigner
    }

    /// Makes a staged body visible under `key` if `request.condition` holds.
    pub async fn commit(
        &self,
        namespace: &str,
        key: &str,
        staged: Staged,
        request: PutRequest,
    ) -> Result<ObjectInfo, StorageError> {
        let (root, index) = (self.root.clone(), self.index.clone());
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        blocking(move || {
            let mut index = index.lock().unwrap_or_else(|p| p.into_inner());
            let tx = index.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(unavailable)?;
            let existing = row(&tx, &namespace, &key)?;
            let holds = match (&request.condition, &existing) {
                (PutCondition::Always, _) => true,
                (PutCondition::Absent, existing) => existing.is_none(),
                (PutCondition::Etag(expected), Some(row)) => *expected == row.info.etag,
                (PutCondition::Etag(_), None) => false,
            };
            if !holds {
                return Err(StorageError::Conflict);
            }
            let file = uuid::Uuid::new_v4().simple().to_string();
            let target = root.join("objects").join(&file);
            let mut staged = staged;
            std::fs::rename(&staged.path, &target).map_err(io_unavailable)?;
            staged.path = PathBuf::new(); // renamed away: nothing left to discard
            sync_dir(&root.join("objects"));
            let info = ObjectInfo {
                key: key.clone(),
                size: staged.size,
                content_type: request.content_type,
                etag: staged.etag.clone(),
                last_modified: unix_seconds(),
                metadata: request.metadata,
            };
            let metadata = serde_json::to_string(&info.metadata).unwrap_or_else(|_| "[]".into());
            record_object_event(&tx, &namespace, &key, "created", info.size, &info.etag)?;
            let written = tx
                .execute(
                    "INSERT OR REPLACE INTO blobs
                       (namespace, key, file, size, content_type, etag, last_modified, metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        namespace,
                        key,
                        file,
                        info.size as i64,
                        info.content_type,
                        info.etag,
                        info.last_modified as i64,
                        metadata
                    ],
                )
                .and_then(|_| tx.commit());
            if let Err(error) = written {
                let _ = std::fs::remove_file(&target);
                return Err(unavailable(error));
            }
            if let Some(old) = existing {
                let _ = std::fs::remove_file(root.join("objects").join(old.file));
            }
            Ok(info)
        })
        .await
    }

    /// Removes unreferenced body files and abandoned staging files older than
    /// [`SWEEP_AFTER`]: what a crash between writing a body and committing it leaves.
    fn sweep(&self) -> anyhow::Result<()> {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let mut referenced = std::collections::HashSet::new();
        let mut statement = index.prepare("SELECT file FROM blobs")?;
        for file in statement.query_map([], |row| row.get::<_, String>(0))? {
            referenced.insert(file?);
        }
        for dir in ["objects", "tmp"] {
            for entry in std::fs::read_dir(self.root.join(dir))? {
                let entry = entry?;
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > SWEEP_AFTER));
                let name = entry.file_name().to_string_lossy().into_owned();
                if old && (dir == "tmp" || !referenced.contains(&name)) {
                    tracing::info!(file = %entry.path().display(), "removing a blob file no object refers to");
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }
}

struct Row {
    info: ObjectInfo,
    file: String,
}

fn row(connection: &Connection, namespace: &str, key: &str) -> Result<Option<Row>, StorageError> {
    connection
        .query_row(
            "SELECT file, size, content_type, etag, last_modified, metadata FROM blobs
              WHERE namespace = ?1 AND key = ?2",
            params![namespace, key],
            |r| {
                Ok(Row {
                    file: r.get(0)?,
                    info: ObjectInfo {
                        key: key.to_owned(),
                        size: r.get::<_, i64>(1)? as u64,
                        content_type: r.get(2)?,
                        etag: r.get(3)?,
                        last_modified: r.get::<_, i64>(4)? as u64,
                        metadata: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                    },
                })
            },
        )
        .optional()
        .map_err(unavailable)
}

#[async_trait::async_trait]
impl BlobBackend for FsBlob {
    async fn put(
        &self,
        namespace: &str,
        key: &str,
        body: Vec<u8>,
        request: PutRequest,
    ) -> Result<ObjectInfo, StorageError> {
        let root = self.root.clone();
        let staged = blocking(move || {
            let mut writer = stage_in(&root).map_err(io_unavailable)?;
            writer.write(&body).map_err(io_unavailable)?;
            writer.finish().map_err(io_unavailable)
        })
        .await?;
        self.commit(namespace, key, staged, request).await
    }

    async fn get(&self, namespace: &str, key: &str, range: Option<ByteRange>) -> Result<Option<Object>, StorageError> {
        let Some((info, mut file)) = self.open_body(namespace, key).await? else {
            return Ok(None);
        };
        blocking(move || {
            let (offset, length) = match range {
                None => {
                    check_object_size(&info.key, info.size)?;
                    (0, info.size)
                }
                Some(range) if range.offset >= info.size => {
                    return Err(StorageError::InvalidInput(format!(
                        "range starts at {} but the object is {} bytes",
                        range.offset, info.size
                    )));
                }
                Some(range) => (range.offset, range.length.min(info.size - range.offset)),
            };
            let mut body = vec![0; length as usize];
            file.seek(SeekFrom::Start(offset)).map_err(io_unavailable)?;
            file.read_exact(&mut body).map_err(io_unavailable)?;
            Ok(Some(Object { info, body }))
        })
        .await
    }

    async fn head(&self, namespace: &str, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        let (index, namespace, key) = (self.index.clone(), namespace.to_owned(), key.to_owned());
        blocking(move || {
            let index = index.lock().unwrap_or_else(|p| p.into_inner());
            Ok(row(&index, &namespace, &key)?.map(|row| row.info))
        })
        .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StorageError> {
        let (root, index, namespace, key) =
            (self.root.clone(), self.index.clone(), namespace.to_owned(), key.to_owned());
        blocking(move || {
            let mut index = index.lock().unwrap_or_else(|p| p.into_inner());
            let tx = index.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(unavailable)?;
            let file: Option<String> = tx
                .query_row(
                    "DELETE FROM blobs WHERE namespace = ?1 AND key = ?2 RETURNING file",
                    params![namespace, key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if file.is_some() {
                record_object_event(&tx, &namespace, &key, "removed", 0, "")?;
            }
            tx.commit().map_err(unavailable)?;
            if let Some(file) = file {
                let _ = std::fs::remove_file(root.join("objects").join(file));
            }
            Ok(())
        })
        .await
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Listing, StorageError> {
        let (index, namespace, prefix) = (self.index.clone(), namespace.to_owned(), prefix.to_owned());
        blocking(move || {
            let index = index.lock().unwrap_or_else(|p| p.into_inner());
            // Keys at or after the prefix (after the cursor on later pages) that start
            // with it, one more than asked for to learn whether another page exists.
            let (comparison, after) = match cursor {
                Some(cursor) => (">", cursor),
                None => (">=", prefix.clone()),
            };
            let mut statement = index
                .prepare_cached(&format!(
                    "SELECT key FROM blobs
                      WHERE namespace = ?1 AND key {comparison} ?2 AND substr(key, 1, ?3) = ?4
                      ORDER BY key LIMIT ?5"
                ))
                .map_err(unavailable)?;
            let keys = statement
                .query_map(
                    params![namespace, after, prefix.chars().count() as i64, prefix, i64::from(limit) + 1],
                    |r| r.get::<_, String>(0),
                )
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let more = keys.len() > limit as usize;
            let mut objects = Vec::with_capacity(keys.len());
            for key in keys.iter().take(limit as usize) {
                if let Some(Row { info, .. }) = row(&index, &namespace, key)? {
                    let ObjectInfo { key, size, etag, last_modified, .. } = info;
                    objects.push(ObjectSummary { key, size, etag, last_modified });
                }
            }
            let cursor = if more { objects.last().map(|o| o.key.clone()) } else { None };
            Ok(Listing { objects, cursor })
        })
        .await
    }

    async fn presign(
        &self,
        namespace: &str,
        key: &str,
        method: PresignMethod,
        expires_in: Duration,
        content_type: Option<&str>,
        max_upload: u64,
    ) -> Result<String, StorageError> {
        let grant = PresignedGrant {
            method,
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            content_type: content_type.map(str::to_owned),
            max_size: max_upload,
        };
        Ok(self.presigner.url(&grant, unix_seconds() + expires_in.as_secs()))
    }
}

impl FsBlob {
    /// The object's info and its body file, opened under the index lock so a concurrent
    /// overwrite cannot delete the file between finding and opening it.
    pub async fn open_body(&self, namespace: &str, key: &str) -> Result<Option<(ObjectInfo, File)>, StorageError> {
        let (root, index, namespace, key) =
            (self.root.clone(), self.index.clone(), namespace.to_owned(), key.to_owned());
        blocking(move || {
            let index = index.lock().unwrap_or_else(|p| p.into_inner());
            let Some(row) = row(&index, &namespace, &key)? else {
                return Ok(None);
            };
            let file = File::open(root.join("objects").join(&row.file)).map_err(io_unavailable)?;
            Ok(Some((row.info, file)))
        })
        .await
    }
}

/// A new staging file under `root/tmp` (blocking).
fn stage_in(root: &Path) -> std::io::Result<StagingWriter> {
    let path = root.join("tmp").join(uuid::Uuid::new_v4().simple().to_string());
    let file = File::create(&path)?;
    Ok(StagingWriter { file, hasher: Sha256::new(), staged: Staged { path, size: 0, etag: String::new() } })
}

/// Records an object event of a watched container in the write's own transaction (see
/// `capability/event_log.rs`).
fn record_object_event(
    tx: &rusqlite::Transaction<'_>,
    namespace: &str,
    key: &str,
    change: &str,
    size: u64,
    etag: &str,
) -> Result<(), StorageError> {
    if !event_log::is_watched(tx, namespace).map_err(unavailable)? {
        return Ok(());
    }
    let row =
        event_log::Row { size, etag: etag.to_owned(), ..event_log::Row::new(namespace, key, change, unix_seconds()) };
    event_log::record(tx, &row).map_err(unavailable)
}

/// The object events of watched containers, for `plughost serve`'s local event pump (the
/// `EventFeed` impl is `event_log`'s).
#[async_trait::async_trait]
impl event_log::LoggingBackend for FsBlob {
    async fn on_log_connection<R: Send + 'static>(
        &self,
        work: Box<dyn for<'c> FnOnce(&'c Connection) -> rusqlite::Result<R> + Send + 'static>,
    ) -> anyhow::Result<R> {
        let index = self.index.clone();
        Ok(crate::capability::storage_pool::spawn(move || work(&index.lock().unwrap_or_else(|p| p.into_inner())))
            .await??)
    }

    fn event_of(row: event_log::Row) -> Event {
        object_event(row)
    }
}

fn object_event(row: event_log::Row) -> Event {
    Event::Object {
        id: row.id,
        container: row.namespace,
        key: row.key,
        created: row.change != "removed",
        size: row.size,
        etag: row.etag,
        time: row.time,
    }
}

async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, StorageError> + Send + 'static,
) -> Result<R, StorageError> {
    crate::capability::storage_pool::spawn(work)
        .await
        .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; best effort (not every file system supports it).
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn unavailable(error: rusqlite::Error) -> StorageError {
    tracing::error!(%error, "embedded blob index error");
    StorageError::Unavailable("embedded storage error".into())
}

fn io_unavailable(error: std::io::Error) -> StorageError {
    tracing::error!(%error, "embedded blob file error");
    StorageError::Unavailable("embedded storage error".into())
}
