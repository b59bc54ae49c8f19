//! `plughost:plugin/topic` over a [`TopicView`]: every call checks the grant and the
//! notification (`limits.rs`, the request's I/O budget), then hands it to the backend,
//! cut off at the request's storage deadline.

use super::limits::check_notification;
use super::{OpenTopic, TopicView};
use crate::bindings::plughost::plugin::topic::{Host, HostTopic, Notification};
use crate::capability::error::StorageError;
use wasmtime::component::Resource;

impl Host for TopicView<'_> {}

impl HostTopic for TopicView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<OpenTopic>, StorageError> {
        self.open_label(&label)
    }

    async fn publish(
        &mut self,
        topic: Resource<OpenTopic>,
        notification: Notification,
    ) -> Result<String, StorageError> {
        let topic = self.writable(&topic)?;
        let size = check_notification(&notification)?;
        self.io.take(size)?;
        self.request
            .host_call(super::KIND.name, "publish", &topic.label, topic.backend.publish(&topic.namespace, notification))
            .await
    }

    async fn drop(&mut self, topic: Resource<OpenTopic>) -> wasmtime::Result<()> {
        self.close(topic)
    }
}
