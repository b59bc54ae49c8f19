//! `plughost:plugin/blob` over a [`BlobView`]: every call checks the grant and its input
//! (`limits.rs`, the container's quota, the request's I/O budget), then hands valid input
//! to the backend, cut off at the request's storage deadline.

use super::backend::{ByteRange, PutRequest};
use super::limits::{check_key, check_list, check_presign, check_range, validate_put};
use super::{BlobContainer, BlobView};
use crate::bindings::plughost::plugin::blob::{
    Host, HostContainer, Listing, Object, ObjectInfo, PresignMethod, PutOptions,
};
use crate::capability::error::StorageError;
use std::time::Duration;
use wasmtime::component::Resource;

impl Host for BlobView<'_> {}

impl HostContainer for BlobView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<BlobContainer>, StorageError> {
        self.open_label(&label)
    }

    async fn put(
        &mut self,
        container: Resource<BlobContainer>,
        key: String,
        body: Vec<u8>,
        options: PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        let container = self.writable(&container)?;
        let quota = container.quota;
        if body.len() as u64 > quota.max_object {
            return Err(StorageError::LimitExceeded(format!(
                "body is {} bytes; container `{}` allows at most {} through `put` (use a presigned PUT URL)",
                body.len(),
                container.label,
                quota.max_object
            )));
        }
        let request =
            PutRequest { content_type: options.content_type, metadata: options.metadata, condition: options.condition };
        let request = validate_put(&key, &body, request)?;
        self.io.take_written(super::KIND.name, &container.label, quota.max_written_per_request, body.len())?;
        self.io.take(body.len())?;
        self.request
            .host_call(
                super::KIND.name,
                "put",
                &container.label,
                container.backend.put(&container.namespace, &key, body, request),
            )
            .await
    }

    async fn get(&mut self, container: Resource<BlobContainer>, key: String) -> Result<Option<Object>, StorageError> {
        let container = self.grant(&container)?;
        check_key(&key)?;
        let object = self
            .request
            .host_call(
                super::KIND.name,
                "get",
                &container.label,
                container.backend.get(&container.namespace, &key, None),
            )
            .await?;
        self.io.take(object.as_ref().map_or(0, |o| o.body.len()))?;
        Ok(object)
    }

    async fn get_range(
        &mut self,
        container: Resource<BlobContainer>,
        key: String,
        offset: u64,
        length: u64,
    ) -> Result<Option<Object>, StorageError> {
        let container = self.grant(&container)?;
        check_key(&key)?;
        let range = ByteRange { offset, length };
        check_range(range)?;
        let object = self
            .request
            .host_call(
                super::KIND.name,
                "get_range",
                &container.label,
                container.backend.get(&container.namespace, &key, Some(range)),
            )
            .await?;
        self.io.take(object.as_ref().map_or(0, |o| o.body.len()))?;
        Ok(object)
    }

    async fn head(
        &mut self,
        container: Resource<BlobContainer>,
        key: String,
    ) -> Result<Option<ObjectInfo>, StorageError> {
        let container = self.grant(&container)?;
        check_key(&key)?;
        self.request
            .host_call(super::KIND.name, "head", &container.label, container.backend.head(&container.namespace, &key))
            .await
    }

    async fn delete(&mut self, container: Resource<BlobContainer>, key: String) -> Result<(), StorageError> {
        let container = self.writable(&container)?;
        check_key(&key)?;
        self.request
            .host_call(
                super::KIND.name,
                "delete",
                &container.label,
                container.backend.delete(&container.namespace, &key),
            )
            .await
    }

    async fn list_objects(
        &mut self,
        container: Resource<BlobContainer>,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Listing, StorageError> {
        let container = self.grant(&container)?;
        check_list(&prefix, cursor.as_deref(), limit)?;
        self.request
            .host_call(
                super::KIND.name,
                "list_objects",
                &container.label,
                container.backend.list(&container.namespace, &prefix, cursor, limit),
            )
            .await
    }

    async fn presign(
        &mut self,
        container: Resource<BlobContainer>,
        key: String,
        method: PresignMethod,
        expires_in_seconds: u32,
        content_type: Option<String>,
    ) -> Result<String, StorageError> {
        // A PUT URL writes: only a read-write grant may hand one out.
        let container = if method == PresignMethod::Put { self.writable(&container)? } else { self.grant(&container)? };
        let expires_in = Duration::from_secs(expires_in_seconds.into());
        check_key(&key)?;
        check_presign(expires_in, content_type.as_deref())?;
        self.request
            .host_call(
                super::KIND.name,
                "presign",
                &container.label,
                container.backend.presign(
                    &container.namespace,
                    &key,
                    method,
                    expires_in,
                    content_type.as_deref(),
                    container.quota.max_presigned_upload,
                ),
            )
            .await
    }

    async fn drop(&mut self, container: Resource<BlobContainer>) -> wasmtime::Result<()> {
        self.close(container)
    }
}
