//! [`S3Blob`]: the blob backend on S3. The only file that talks to S3 for plugin data.
//!
//! A namespace is a key prefix: the object `key` of a label bound to
//! `{ bucket, prefix = "images" }` is `images/<key>` in the bucket. Keys are validated
//! before they get here (`limits.rs`, applied by `host.rs`) so they cannot climb out of it.
//!
//! Conditional puts use S3's own preconditions (`If-None-Match: *` for create-only,
//! `If-Match: <etag>` for compare-and-swap), so they are atomic on the server. Listing
//! uses `ListObjectsV2` with `StartAfter`, so a cursor is just the last key of a page.
//! Throttling and transient errors are retried by the SDK (standard retry mode); what is
//! left becomes `unavailable`, with the detail logged here.

use super::backend::*;
use super::limits::check_object_size;
use crate::bindings::plughost::plugin::blob::{
    Listing, Object, ObjectInfo, ObjectSummary, PresignMethod, PutCondition,
};
use crate::capability::clock::unix_seconds;
use crate::capability::error::StorageError;
use crate::platform::aws::http_status;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use std::time::Duration;

pub struct S3Blob {
    client: Client,
    bucket: String,
}

impl S3Blob {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

fn object_key(namespace: &str, key: &str) -> String {
    format!("{namespace}/{key}")
}

fn seconds(time: Option<&DateTime>) -> u64 {
    time.map_or(0, |t| t.secs().max(0) as u64)
}

fn is_not_found<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    http_status(error) == Some(404) || matches!(error.code(), Some("NoSuchKey" | "NotFound"))
}

/// Maps what S3 answered to what the guest may see; anything unexpected is logged here
/// and reported as `unavailable`.
fn failure<E>(operation: &str, error: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (http_status(&error), error.code()) {
        (Some(412), _) | (_, Some("PreconditionFailed")) => StorageError::Conflict,
        // A concurrent conditional write to the same key: one of them loses.
        (Some(409), _) | (_, Some("ConditionalRequestConflict")) => StorageError::Conflict,
        _ => {
            tracing::error!(operation, error = %DisplayErrorContext(&error), "S3 request failed");
            StorageError::Unavailable("blob storage is unavailable".into())
        }
    }
}

/// `Content-Range: bytes 0-9/1234` -> 1234.
fn total_size(content_range: Option<&str>) -> Option<u64> {
    content_range?.rsplit_once('/')?.1.parse().ok()
}

#[async_trait::async_trait]
impl BlobBackend for S3Blob {
    async fn put(
        &self,
        namespace: &str,
        key: &str,
        body: Vec<u8>,
        request: PutRequest,
    ) -> Result<ObjectInfo, StorageError> {
        let size = body.len() as u64;
        let metadata = request.metadata;
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(object_key(namespace, key))
            .content_type(&request.content_type)
            .set_metadata(Some(metadata.iter().cloned().collect()))
            .body(ByteStream::from(body));
        put = match &request.condition {
            PutCondition::Always => put,
            PutCondition::Absent => put.if_none_match("*"),
            PutCondition::Etag(etag) => put.if_match(etag),
        };
        let output = match put.send().await {
            Ok(output) => output,
            // S3 answers `If-Match` on a missing key with 404: the condition failed.
            Err(e) if is_not_found(&e) && matches!(request.condition, PutCondition::Etag(_)) => {
                return Err(StorageError::Conflict);
            }
            Err(e) => return Err(failure("PutObject", e)),
        };
        Ok(ObjectInfo {
            key: key.to_owned(),
            size,
            content_type: request.content_type,
            etag: output.e_tag().unwrap_or_default().to_owned(),
            last_modified: unix_seconds(),
            metadata,
        })
    }

    async fn get(&self, namespace: &str, key: &str, range: Option<ByteRange>) -> Result<Option<Object>, StorageError> {
        let mut get = self.client.get_object().bucket(&self.bucket).key(object_key(namespace, key));
        if let Some(ByteRange { offset, length }) = range {
            get = get.range(format!("bytes={offset}-{}", offset.saturating_add(length - 1)));
        }
        let output = match get.send().await {
            Ok(output) => output,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) if http_status(&e) == Some(416) => {
                return Err(StorageError::InvalidInput(format!(
                    "range starts at {} but the object is shorter",
                    range.map_or(0, |r| r.offset)
                )));
            }
            Err(e) => return Err(failure("GetObject", e)),
        };
        let length = output.content_length().unwrap_or(0).max(0) as u64;
        let size = if range.is_some() { total_size(output.content_range()).unwrap_or(length) } else { length };
        if range.is_none() {
            check_object_size(key, size)?;
        }
        let mut metadata: Vec<(String, String)> = output.metadata().cloned().unwrap_or_default().into_iter().collect();
        metadata.sort();
        let info = ObjectInfo {
            key: key.to_owned(),
            size,
            content_type: output.content_type().unwrap_or("application/octet-stream").to_owned(),
            etag: output.e_tag().unwrap_or_default().to_owned(),
            last_modified: seconds(output.last_modified()),
            metadata,
        };
        let body = output.body.collect().await.map_err(|error| {
            tracing::error!(%error, "reading an S3 object body failed");
            StorageError::Unavailable("blob storage is unavailable".into())
        })?;
        Ok(Some(Object { info, body: body.into_bytes().to_vec() }))
    }

    async fn head(&self, namespace: &str, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        let output = match self.client.head_object().bucket(&self.bucket).key(object_key(namespace, key)).send().await {
            Ok(output) => output,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(failure("HeadObject", e)),
        };
        let mut metadata: Vec<(String, String)> = output.metadata().cloned().unwrap_or_default().into_iter().collect();
        metadata.sort();
        Ok(Some(ObjectInfo {
            key: key.to_owned(),
            size: output.content_length().unwrap_or(0).max(0) as u64,
            content_type: output.content_type().unwrap_or("application/octet-stream").to_owned(),
            etag: output.e_tag().unwrap_or_default().to_owned(),
            last_modified: seconds(output.last_modified()),
            metadata,
        }))
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(object_key(namespace, key))
            .send()
            .await
            .map_err(|e| failure("DeleteObject", e))?;
        Ok(())
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Listing, StorageError> {
        let root = format!("{namespace}/");
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{root}{prefix}"))
            .set_start_after(cursor.map(|cursor| format!("{root}{cursor}")))
            .max_keys(limit as i32)
            .send()
            .await
            .map_err(|e| failure("ListObjectsV2", e))?;
        let objects: Vec<ObjectSummary> = output
            .contents()
            .iter()
            .filter_map(|object| {
                // Every key under the namespace has it as a prefix; anything else is not ours.
                let key = object.key()?.strip_prefix(&root)?.to_owned();
                Some(ObjectSummary {
                    key,
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: object.e_tag().unwrap_or_default().to_owned(),
                    last_modified: seconds(object.last_modified()),
                })
            })
            .collect();
        let cursor = if output.is_truncated() == Some(true) { objects.last().map(|o| o.key.clone()) } else { None };
        Ok(Listing { objects, cursor })
    }

    async fn presign(
        &self,
        namespace: &str,
        key: &str,
        method: PresignMethod,
        expires_in: Duration,
        content_type: Option<&str>,
        _max_upload: u64,
    ) -> Result<String, StorageError> {
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| StorageError::InvalidInput(format!("invalid expiry: {e}")))?;
        let key = object_key(namespace, key);
        let presign_failed = |error: &dyn std::error::Error| {
            tracing::error!(error = %DisplayErrorContext(error), "presigning failed");
            StorageError::Unavailable("cannot presign: the host has no usable credentials".into())
        };
        let request = match method {
            PresignMethod::Get => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(config)
                .await
                .map_err(|e| presign_failed(&e))?,
            PresignMethod::Put => self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .set_content_type(content_type.map(str::to_owned))
                .presigned(config)
                .await
                .map_err(|e| presign_failed(&e))?,
        };
        Ok(request.uri().to_owned())
    }
}
