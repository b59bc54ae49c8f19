//! `plughost:plugin/blob` over a [`BlobView`]: every call checks the grant, then hands
//! the input to the backend (which validates it, see `backend.rs`).

use super::backend::{ByteRange, PutRequest};
use super::{BlobContainer, BlobView};
use crate::bindings::plughost::plugin::blob::{
    Host, HostContainer, Listing, Object, ObjectInfo, PresignMethod, PutOptions,
};
use crate::bindings::plughost::plugin::types::{Error as WitError, Host as TypesHost};
use crate::capability::deadline::bounded;
use crate::capability::error::StorageError;
use std::time::Duration;
use wasmtime::component::Resource;

impl BlobView<'_> {
    fn container(&self, container: &Resource<BlobContainer>) -> Result<&BlobContainer, StorageError> {
        // A handle the guest could not have received from `open` is a broken guest.
        self.table.get(container).map_err(|_| StorageError::InvalidInput("unknown container handle".into()))
    }

    fn writable(&self, container: &Resource<BlobContainer>) -> Result<&BlobContainer, StorageError> {
        let container = self.container(container)?;
        if container.grant.writable { Ok(container) } else { Err(StorageError::AccessDenied) }
    }
}

impl Host for BlobView<'_> {}

impl TypesHost for BlobView<'_> {
    fn convert_error(&mut self, error: StorageError) -> wasmtime::Result<WitError> {
        Ok(error.into())
    }
}

impl HostContainer for BlobView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<BlobContainer>, StorageError> {
        let grant = self.ctx.grants.get(&label).cloned().ok_or(StorageError::AccessDenied)?;
        self.table
            .push(BlobContainer { label, grant })
            .map_err(|_| StorageError::LimitExceeded("too many open containers".into()))
    }

    async fn put(
        &mut self,
        container: Resource<BlobContainer>,
        key: String,
        body: Vec<u8>,
        options: PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        let container = self.writable(&container)?;
        let quota = container.grant.quota;
        if body.len() as u64 > quota.max_object {
            return Err(StorageError::LimitExceeded(format!(
                "body is {} bytes; container `{}` allows at most {} through `put` (use a presigned PUT URL)",
                body.len(),
                container.label,
                quota.max_object
            )));
        }
        self.io.take_written("blob", &container.label, quota.max_written_per_request, body.len())?;
        self.io.take(body.len())?;
        let request =
            PutRequest { content_type: options.content_type, metadata: options.metadata, condition: options.condition };
        bounded(container.grant.backend.put(&container.grant.namespace, &key, body, request)).await
    }

    async fn get(&mut self, container: Resource<BlobContainer>, key: String) -> Result<Option<Object>, StorageError> {
        let container = self.container(&container)?;
        let object = bounded(container.grant.backend.get(&container.grant.namespace, &key, None)).await?;
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
        let container = self.container(&container)?;
        let range = Some(ByteRange { offset, length });
        let object = bounded(container.grant.backend.get(&container.grant.namespace, &key, range)).await?;
        self.io.take(object.as_ref().map_or(0, |o| o.body.len()))?;
        Ok(object)
    }

    async fn head(
        &mut self,
        container: Resource<BlobContainer>,
        key: String,
    ) -> Result<Option<ObjectInfo>, StorageError> {
        let container = self.container(&container)?;
        bounded(container.grant.backend.head(&container.grant.namespace, &key)).await
    }

    async fn delete(&mut self, container: Resource<BlobContainer>, key: String) -> Result<(), StorageError> {
        let container = self.writable(&container)?;
        bounded(container.grant.backend.delete(&container.grant.namespace, &key)).await
    }

    async fn list_objects(
        &mut self,
        container: Resource<BlobContainer>,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Listing, StorageError> {
        let container = self.container(&container)?;
        bounded(container.grant.backend.list(&container.grant.namespace, &prefix, cursor, limit)).await
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
        let container =
            if method == PresignMethod::Put { self.writable(&container)? } else { self.container(&container)? };
        let expires_in = Duration::from_secs(expires_in_seconds.into());
        container
            .grant
            .backend
            .presign(
                &container.grant.namespace,
                &key,
                method,
                expires_in,
                content_type.as_deref(),
                container.grant.quota.max_presigned_upload,
            )
            .await
    }

    async fn drop(&mut self, container: Resource<BlobContainer>) -> wasmtime::Result<()> {
        let container = self.table.delete(container)?;
        tracing::trace!(label = container.label, "blob container closed");
        Ok(())
    }
}
