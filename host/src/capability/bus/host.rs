//! `plughost:plugin/bus` over a [`BusView`]: every call checks the grant and each entry
//! (`limits.rs`, the request's I/O budget), then hands them to the backend, cut off at the
//! request's storage deadline.

use super::limits::{check_entries, check_entry};
use super::{BusView, OpenBus};
use crate::bindings::plughost::plugin::bus::{Entry, Host, HostBus};
use crate::bindings::plughost::plugin::types::Error as WitError;
use crate::capability::error::StorageError;
use wasmtime::component::Resource;

impl Host for BusView<'_> {}

impl HostBus for BusView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<OpenBus>, StorageError> {
        self.open_label(&label)
    }

    async fn put(
        &mut self,
        bus: Resource<OpenBus>,
        entries: Vec<Entry>,
    ) -> Result<Vec<Result<String, WitError>>, StorageError> {
        let bus = self.writable(&bus)?;
        let sizes = entries.iter().map(check_entry).collect::<Result<Vec<_>, _>>()?;
        check_entries(&sizes)?;
        self.io.take(sizes.iter().sum())?;
        StorageError::per_item(
            self.request
                .host_call(super::KIND.name, "put", &bus.label, bus.backend.put(&bus.namespace, entries))
                .await?,
        )
    }

    async fn drop(&mut self, bus: Resource<OpenBus>) -> wasmtime::Result<()> {
        self.close(bus)
    }
}
