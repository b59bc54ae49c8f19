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
//! Presigned URLs point at this host's own `/_plughost/blob/...` endpoint (served by
//! `serve/presigned.rs`), signed with HMAC-SHA256 over method, namespace, key, expiry and
//! content type, so plugins use them exactly as they use S3's.

use super::backend::*;
use crate::bindings::plughost::plugin::blob::{
    Listing, Object, ObjectInfo, ObjectSummary, PresignMethod, PutCondition,
};
use crate::capability::error::StorageError;
use hmac::{KeyInit, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The URL path under which presigned URLs of the embedded backend are served.
pub const PRESIGNED_PATH: &str = "/_plughost/blob";

/// Unreferenced body files older than this are swept at open (younger ones may belong
/// to a write another process has not committed yet).
const SWEEP_AFTER: Duration = Duration::from_secs(3600);

type HmacSha256 = hmac::Hmac<Sha256>;

pub struct FsBlob {
    root: PathBuf,
    index: Arc<Mutex<Connection>>,
    presign_key: [u8; 32],
    /// Where this host is reachable (`http://127.0.0.1:8080`): the base of presigned URLs.
    public_url: String,
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
        // A staged body that was committed has been renamed away; otherwise discard it.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a verified presigned URL allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedGrant {
    pub method: PresignMethod,
    pub namespace: String,
    pub key: String,
    /// A PUT must send exactly this content type (when set).
    pub content_type: Option<String>,
    /// The most bytes a PUT may store (the container's `max_presigned_upload`).
    pub max_size: u64,
}

impl FsBlob {
    /// Opens (creating if needed) the blob folder at `root`; presigned URLs start with
    /// `public_url`.
    pub fn open(root: &Path, public_url: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root.join("objects"))?;
        std::fs::create_dir_all(root.join("tmp"))?;
        let index = Connection::open(root.join("index.sqlite3"))?;
        index.execute_batch(
            "PRAGMA busy_timeout = 5000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS blobs (
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
        )?;
        let blob = Self {
            root: root.to_path_buf(),
            presign_key: presign_key(&root.join("presign.key"))?,
            index: Arc::new(Mutex::new(index)),
            public_url: public_url.trim_end_matches('/').to_owned(),
        };
        blob.sweep()?;
        Ok(blob)
    }

    /// Starts writing a body (see [`StagingWriter`]).
    pub fn stage(&self) -> std::io::Result<StagingWriter> {
        let path = self.root.join("tmp").join(uuid::Uuid::new_v4().simple().to_string());
        let file = File::create(&path)?;
        Ok(StagingWriter { file, hasher: Sha256::new(), staged: Staged { path, size: 0, etag: String::new() } })
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
            std::fs::rename(&staged.path, &target).map_err(io_unavailable)?;
            sync_dir(&root.join("objects"));
            let info = ObjectInfo {
                key: key.clone(),
                size: staged.size,
                content_type: request.content_type,
                etag: staged.etag.clone(),
                last_modified: now(),
                metadata: request.metadata,
            };
            let metadata = serde_json::to_string(&info.metadata).unwrap_or_else(|_| "[]".into());
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

    /// Checks a presigned URL's path (below [`PRESIGNED_PATH`]) and query against its
    /// signature and expiry. The error says why, for the 403 body.
    pub fn verify_presigned(&self, path: &str, query: &str) -> Result<PresignedGrant, String> {
        let path = percent_encoding::percent_decode_str(path).decode_utf8().map_err(|_| "path is not UTF-8")?;
        let (namespace, key) = path.split_once('/').ok_or("path must be <namespace>/<key>")?;
        let mut fields = std::collections::HashMap::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            fields.insert(name.into_owned(), value.into_owned());
        }
        let field = |name: &str| fields.get(name).ok_or_else(|| format!("missing `{name}` query parameter"));
        let method = match field("method")?.as_str() {
            "GET" => PresignMethod::Get,
            "PUT" => PresignMethod::Put,
            other => return Err(format!("unknown method `{other}`")),
        };
        let expires: u64 = field("expires")?.parse().map_err(|_| "`expires` is not a number")?;
        let content_type = fields.get("content-type").cloned();
        let max_size: u64 = field("max-size")?.parse().map_err(|_| "`max-size` is not a number")?;
        let signature = hex::decode(field("signature")?).map_err(|_| "`signature` is not hex")?;
        let grant = PresignedGrant { method, namespace: namespace.into(), key: key.into(), content_type, max_size };
        self.mac(&grant, expires).verify_slice(&signature).map_err(|_| "signature does not match")?;
        if now() >= expires {
            return Err("URL has expired".into());
        }
        Ok(grant)
    }

    fn mac(&self, grant: &PresignedGrant, expires: u64) -> HmacSha256 {
        let method = match grant.method {
            PresignMethod::Get => "GET",
            PresignMethod::Put => "PUT",
        };
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.presign_key).expect("HMAC takes any key length");
        let content_type = grant.content_type.as_deref().unwrap_or("");
        // Fields are newline-separated and none may contain a newline (keys and content
        // types refuse control characters), so no two grants sign the same text.
        mac.update(
            format!("v2\n{method}\n{}\n{}\n{expires}\n{content_type}\n{}", grant.namespace, grant.key, grant.max_size)
                .as_bytes(),
        );
        mac
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
        let request = validate_put(key, &body, request)?;
        let writer = self.stage().map_err(io_unavailable)?;
        let staged = blocking(move || {
            let mut writer = writer;
            writer.write(&body).map_err(io_unavailable)?;
            writer.finish().map_err(io_unavailable)
        })
        .await?;
        self.commit(namespace, key, staged, request).await
    }

    async fn get(&self, namespace: &str, key: &str, range: Option<ByteRange>) -> Result<Option<Object>, StorageError> {
        check_key(key)?;
        range.map_or(Ok(()), check_range)?;
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
        check_key(key)?;
        let (index, namespace, key) = (self.index.clone(), namespace.to_owned(), key.to_owned());
        blocking(move || {
            let index = index.lock().unwrap_or_else(|p| p.into_inner());
            Ok(row(&index, &namespace, &key)?.map(|row| row.info))
        })
        .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        let (root, index, namespace, key) =
            (self.root.clone(), self.index.clone(), namespace.to_owned(), key.to_owned());
        blocking(move || {
            let index = index.lock().unwrap_or_else(|p| p.into_inner());
            let file: Option<String> = index
                .query_row(
                    "DELETE FROM blobs WHERE namespace = ?1 AND key = ?2 RETURNING file",
                    params![namespace, key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
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
        check_list(prefix, cursor.as_deref(), limit)?;
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
        check_key(key)?;
        check_presign(expires_in, content_type)?;
        let expires = now() + expires_in.as_secs();
        let grant = PresignedGrant {
            method,
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            content_type: content_type.map(str::to_owned),
            max_size: max_upload,
        };
        let signature = hex::encode(self.mac(&grant, expires).finalize().into_bytes());
        let path: Vec<String> = std::iter::once(namespace)
            .chain(key.split('/'))
            .map(|segment| percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string())
            .collect();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("method", if method == PresignMethod::Get { "GET" } else { "PUT" });
        query.append_pair("expires", &expires.to_string());
        if let Some(content_type) = content_type {
            query.append_pair("content-type", content_type);
        }
        query.append_pair("max-size", &max_upload.to_string());
        query.append_pair("signature", &signature);
        Ok(format!("{}{PRESIGNED_PATH}/{}?{}", self.public_url, path.join("/"), query.finish()))
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

/// Characters escaped in one path segment of a presigned URL.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Reads the folder's signing secret, creating a random one (readable only by this user)
/// the first time, so presigned URLs survive a restart.
fn presign_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path) {
        return bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key: delete it to make a new one", path.display()));
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the presign key: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => presign_key(path),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, StorageError> + Send + 'static,
) -> Result<R, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; best effort (not every file system supports it).
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unavailable(error: rusqlite::Error) -> StorageError {
    tracing::error!(%error, "embedded blob index error");
    StorageError::Unavailable("embedded storage error".into())
}

fn io_unavailable(error: std::io::Error) -> StorageError {
    tracing::error!(%error, "embedded blob file error");
    StorageError::Unavailable("embedded storage error".into())
}
