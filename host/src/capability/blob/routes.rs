//! The local stand-in for S3 presigned URLs: `GET`/`PUT /_plughost/blob/<namespace>/<key>`
//! with the query that `presign.rs` signed for the embedded backend (`fs.rs`). Lets a
//! plugin hand a client a download or upload URL under `plughost serve` exactly as it
//! would in AWS. `plughost serve` mounts these routes through [`Backends::local_routes`](
//! crate::capability::labelled::Backends::local_routes).
//!
//! Answers like S3 does: 403 for a bad signature, an expired URL, or a PUT whose
//! `content-type` differs from the signed one; 404 for a missing object; 200 with the
//! body (GET) or the new etag (PUT). Errors are the host's JSON errors.

use super::declaration::MAX_PRESIGNED_UPLOAD;
use super::limits::check_content_type;
use super::{FsBlob, PRESIGNED_PATH, PresignedGrant, PutRequest, Staged};
use crate::bindings::plughost::plugin::blob::{PresignMethod, PutCondition};
use crate::http::{HostError, REQUEST_ID_HEADER, access_log, tag_request_id};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;

/// The routes that answer the embedded backend's presigned URLs; `serve` mounts them, and
/// so does the blob conformance suite (which needs them without a whole app).
pub fn router(blob: Arc<FsBlob>) -> axum::Router {
    axum::Router::new()
        .route(&format!("{PRESIGNED_PATH}/{{*path}}"), get(download).put(upload))
        .with_state(blob)
        .layer(axum::middleware::from_fn(log_access))
}

/// One access line per presigned request, as for every other request the host answers
/// (the id is the one the answer carries, when it carries one).
async fn log_access(request: Request, next: axum::middleware::Next) -> Response {
    let (method, path, started) = (request.method().clone(), request.uri().path().to_owned(), Instant::now());
    let response = next.run(request).await;
    let request_id = response.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    access_log(&method, &path, response.status(), None, None, &request_id, started);
    response
}

async fn download(State(blob): State<Arc<FsBlob>>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let result = async move {
        let grant = verify(&blob, &request, PresignMethod::Get)?;
        let (info, file) = blob
            .open_body(&grant.namespace, &grant.key)
            .await
            .map_err(|_| HostError::StorageUnavailable)?
            .ok_or(HostError::ObjectNotFound)?;
        let mut response = http::Response::builder()
            .header(http::header::CONTENT_TYPE, &info.content_type)
            .header(http::header::CONTENT_LENGTH, info.size)
            .header(http::header::ETAG, &info.etag);
        for (name, value) in &info.metadata {
            response = response.header(format!("x-amz-meta-{name}"), value);
        }
        let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
        response.body(Body::from_stream(stream)).map_err(|_| HostError::StorageUnavailable)
    }
    .await;
    result.unwrap_or_else(|error| refuse(error, &request_id))
}

async fn upload(State(blob): State<Arc<FsBlob>>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let result = async move {
        let grant = verify(&blob, &request, PresignMethod::Put)?;
        let sent_type = request.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if let Some(signed) = &grant.content_type
            && sent_type != Some(signed.as_str())
        {
            return Err(HostError::PresignedUrlRejected {
                reason: format!("this URL requires `content-type: {signed}`"),
            });
        }
        let content_type = sent_type.unwrap_or("application/octet-stream").to_owned();
        // The same rule as `put`: a URL signed without a type still stores only a media type.
        check_content_type(&content_type)
            .map_err(|error| HostError::BadRequest { reason: format!("content-type: {error}") })?;
        let staged = receive(&blob, request.into_body(), grant.max_size).await?;
        let put = PutRequest { content_type, metadata: Vec::new(), condition: PutCondition::Always };
        let info = blob.commit(&grant.namespace, &grant.key, staged, put).await.map_err(|error| {
            tracing::error!(%error, key = grant.key, "presigned PUT could not be stored");
            HostError::StorageUnavailable
        })?;
        tracing::info!(
            namespace = grant.namespace,
            key = grant.key,
            size = info.size,
            "object stored through a presigned URL"
        );
        http::Response::builder()
            .header(http::header::ETAG, &info.etag)
            .body(Body::empty())
            .map_err(|_| HostError::StorageUnavailable)
    }
    .await;
    result.unwrap_or_else(|error| refuse(error, &request_id))
}

fn verify(blob: &FsBlob, request: &Request, method: PresignMethod) -> Result<PresignedGrant, HostError> {
    let path = request.uri().path().strip_prefix(PRESIGNED_PATH).and_then(|p| p.strip_prefix('/')).unwrap_or("");
    let grant = blob
        .presigner()
        .verify(path, request.uri().query().unwrap_or(""))
        .map_err(|reason| HostError::PresignedUrlRejected { reason })?;
    if grant.method != method {
        return Err(HostError::PresignedUrlRejected { reason: "this URL was signed for another method".into() });
    }
    Ok(grant)
}

/// Streams the request body into a staged file, refusing past the URL's `max_size` (and
/// never past [`MAX_PRESIGNED_UPLOAD`], S3's single-PUT limit).
async fn receive(blob: &FsBlob, body: Body, max_size: u64) -> Result<Staged, HostError> {
    let limit = max_size.min(MAX_PRESIGNED_UPLOAD);
    let storage_error = |error: std::io::Error| {
        tracing::error!(%error, "presigned PUT could not be staged");
        HostError::StorageUnavailable
    };
    let mut writer = blob.stage().await.map_err(storage_error)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| HostError::BadRequest { reason: format!("could not read the request body: {e}") })?;
        if writer.size() + chunk.len() as u64 > limit {
            return Err(HostError::PayloadTooLarge { limit: limit as usize });
        }
        writer = crate::capability::storage_pool::spawn(move || writer.write(&chunk).map(|()| writer))
            .await
            .map_err(|_| HostError::StorageUnavailable)?
            .map_err(storage_error)?;
    }
    crate::capability::storage_pool::spawn(move || writer.finish())
        .await
        .map_err(|_| HostError::StorageUnavailable)?
        .map_err(storage_error)
}

fn refuse(error: HostError, request_id: &str) -> Response {
    let mut response = error.into_response(request_id);
    tag_request_id(&mut response, request_id);
    response.map(Body::from)
}
