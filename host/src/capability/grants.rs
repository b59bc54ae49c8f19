//! The grant machinery every labelled capability shares, written once:
//!
//! - [`Placement`] — where a capability's labels live: the embedded backend (each label
//!   its own namespace) unless the operator bound the label elsewhere;
//! - [`Grant`] / [`Granted`] — what one plugin may do with one label / with all its
//!   labels of one capability; an open `Grant` is the WIT resource (a `store`, a
//!   `container`);
//! - [`GrantSlot`] — where a capability's `Granted` sits among a plugin's grants
//!   (`capability::PluginGrants`, one typed field per capability);
//! - [`LabelView`] — what a capability's host functions run on: the plugin's grants, the
//!   request's resource table and its I/O budget. `open_label` checks the grant (an ungranted
//!   label is `access-denied`), [`LabelView::writable`] the access.

use super::error::StorageError;
use super::io_budget::IoBudget;
use super::request_context::RequestContext;
use crate::bindings::plughost::plugin::types::{Error as WitError, Host as TypesHost};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{Resource, ResourceTable};

/// Where a capability's labels live.
pub struct Placement<B: ?Sized> {
    /// Labels without a binding: each one a namespace (the label) of this backend.
    embedded: Arc<B>,
    /// Labels the operator bound: label -> (backend, namespace).
    bound: BTreeMap<String, (Arc<B>, Arc<str>)>,
    /// Where each bound label lives, as AWS names it in events.
    addresses: Vec<Address>,
}

/// Where a bound label lives: the AWS resource (a bucket, a table) and the namespace in
/// it. How an event from AWS (an S3 notification, a stream record) finds its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub label: String,
    /// The bucket or table name.
    pub resource: String,
    pub namespace: String,
}

impl<B: ?Sized> Placement<B> {
    pub fn new(embedded: Arc<B>) -> Self {
        Self { embedded, bound: BTreeMap::new(), addresses: Vec::new() }
    }

    /// Puts `label` in `namespace` of `backend` (the AWS `resource`) instead of the
    /// embedded backend.
    pub fn bind(&mut self, label: String, backend: Arc<B>, resource: &str, namespace: &str) {
        self.addresses.push(Address {
            label: label.clone(),
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
        });
        self.bound.insert(label, (backend, namespace.into()));
    }

    /// Where every bound label lives.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    pub fn is_bound(&self, label: &str) -> bool {
        self.bound.contains_key(label)
    }

    /// The backend and namespace of `label`. Distinct labels get distinct namespaces, so
    /// they never see each other's data.
    pub fn locate(&self, label: &str) -> (Arc<B>, Arc<str>) {
        match self.bound.get(label) {
            Some((backend, namespace)) => (backend.clone(), namespace.clone()),
            None => (self.embedded.clone(), label.into()),
        }
    }

    /// One plugin's grants of this capability: each granted label located, with the
    /// quota its declaration sets (`quota`) and whether its access writes (`writes`).
    pub fn grant<Q: Clone>(
        &self,
        declared: &BTreeMap<String, toml::Table>,
        granted: &BTreeMap<String, &'static str>,
        quota: fn(&toml::Table) -> Result<Q, String>,
        writes: fn(&str) -> bool,
    ) -> Result<Granted<B, Q>, String> {
        let mut by_label = BTreeMap::new();
        for (label, access) in granted {
            let declaration = declared.get(label).ok_or_else(|| format!("`{label}` is granted but not declared"))?;
            let (backend, namespace) = self.locate(label);
            let quota = quota(declaration)?;
            let grant = Grant { label: label.as_str().into(), backend, namespace, writable: writes(access), quota };
            by_label.insert(label.clone(), grant);
        }
        Ok(Granted { by_label })
    }
}

/// What one plugin may do with one label. Once opened, the WIT resource.
pub struct Grant<B: ?Sized, Q> {
    pub label: Arc<str>,
    pub backend: Arc<B>,
    /// Keeps this label's data apart from every other label's in a shared backend.
    pub namespace: Arc<str>,
    pub writable: bool,
    /// The label's quotas (its `[<capability>.<label>]` declaration).
    pub quota: Q,
}

impl<B: ?Sized, Q: Clone> Clone for Grant<B, Q> {
    fn clone(&self) -> Self {
        Self {
            label: self.label.clone(),
            backend: self.backend.clone(),
            namespace: self.namespace.clone(),
            writable: self.writable,
            quota: self.quota.clone(),
        }
    }
}

/// One plugin's grants of one capability, by label.
pub struct Granted<B: ?Sized, Q> {
    by_label: BTreeMap<String, Grant<B, Q>>,
}

impl<B: ?Sized, Q> Default for Granted<B, Q> {
    fn default() -> Self {
        Self { by_label: BTreeMap::new() }
    }
}

impl<B: ?Sized, Q> Granted<B, Q> {
    /// Grants built by hand (unit and conformance tests; the host uses [`Placement::grant`]).
    pub fn new(grants: impl IntoIterator<Item = Grant<B, Q>>) -> Self {
        Self { by_label: grants.into_iter().map(|grant| (grant.label.to_string(), grant)).collect() }
    }
}

/// Where one labelled capability's grants live among a plugin's grants
/// ([`PluginGrants`](super::PluginGrants), a typed field per capability): implemented for
/// each capability's `Granted<B, Q>` by the registration list in `capability/mod.rs`, so a
/// capability finds its own grants by type at compile time — no downcast, and no way for
/// a grant of the wrong type to read as "not granted".
pub trait GrantSlot: Sized + Send + Sync + 'static {
    fn slot(grants: &mut super::GrantSlots) -> &mut Option<Self>;
    fn get(grants: &super::GrantSlots) -> Option<&Self>;
}

/// What a labelled capability's generated `Host` traits are implemented on.
pub struct LabelView<'a, B: ?Sized, Q> {
    granted: Option<&'a Granted<B, Q>>,
    table: &'a mut ResourceTable,
    /// This request's bytes through host calls (shared by every capability).
    pub io: &'a IoBudget,
    /// What its host calls run under (`RequestContext::host_call`).
    pub request: &'a RequestContext,
}

impl<'a, B: ?Sized + Send + Sync + 'static, Q: Clone + Send + Sync + 'static> LabelView<'a, B, Q> {
    pub fn new(
        granted: Option<&'a Granted<B, Q>>,
        table: &'a mut ResourceTable,
        io: &'a IoBudget,
        request: &'a RequestContext,
    ) -> Self {
        Self { granted, table, io, request }
    }

    /// Opens `label` if the plugin is granted it (else `access-denied`).
    pub fn open_label(&mut self, label: &str) -> Result<Resource<Grant<B, Q>>, StorageError> {
        let grant = self.granted.and_then(|granted| granted.by_label.get(label)).ok_or(StorageError::AccessDenied)?;
        self.table.push(grant.clone()).map_err(|_| StorageError::LimitExceeded("too many open handles".into()))
    }

    /// The grant behind an open handle. A handle the guest could not have received from
    /// `open` is a broken guest: a trap, not an error it could handle.
    pub fn grant(&self, handle: &Resource<Grant<B, Q>>) -> Result<&Grant<B, Q>, StorageError> {
        self.table.get(handle).map_err(|e| StorageError::Trap(format!("invalid handle: {e}")))
    }

    /// As [`Self::grant`], for a call that writes: `access-denied` through a read grant.
    pub fn writable(&self, handle: &Resource<Grant<B, Q>>) -> Result<&Grant<B, Q>, StorageError> {
        let grant = self.grant(handle)?;
        if grant.writable { Ok(grant) } else { Err(StorageError::AccessDenied) }
    }

    /// Drops an open handle (the guest dropped its resource).
    pub fn close(&mut self, handle: Resource<Grant<B, Q>>) -> wasmtime::Result<()> {
        let grant = self.table.delete(handle)?;
        tracing::trace!(label = %grant.label, "handle closed");
        Ok(())
    }
}

impl<B: ?Sized + Send, Q: Send> TypesHost for LabelView<'_, B, Q> {
    /// Expected failures reach the guest as the WIT `error`; a broken guest traps.
    fn convert_error(&mut self, error: StorageError) -> wasmtime::Result<WitError> {
        error.into_wit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_checks_the_grant_writes_need_write_access_and_a_forged_handle_traps() {
        let read =
            Grant { label: "r".into(), backend: Arc::new(()), namespace: "r".into(), writable: false, quota: () };
        let write =
            Grant { label: "w".into(), backend: Arc::new(()), namespace: "w".into(), writable: true, quota: () };
        let granted = Granted::new([read, write]);
        let (mut table, io) = (ResourceTable::new(), IoBudget::new(0));
        let request = RequestContext::default();
        let mut view = LabelView::new(Some(&granted), &mut table, &io, &request);

        assert_eq!(view.open_label("other").err(), Some(StorageError::AccessDenied));
        let r = view.open_label("r").unwrap();
        let w = view.open_label("w").unwrap();
        assert_eq!(&*view.grant(&r).unwrap().namespace, "r");
        assert_eq!(view.writable(&r).err(), Some(StorageError::AccessDenied), "a read grant does not write");
        assert!(view.writable(&w).is_ok());

        // A handle `open` never gave out is a broken guest: a trap, not an error value.
        let forged = Resource::<Grant<(), ()>>::new_own(w.rep() + 100);
        let error = view.grant(&forged).err().unwrap();
        assert!(matches!(error, StorageError::Trap(_)), "{error:?}");
        assert!(error.into_wit().is_err(), "a trap never reaches the guest as a WIT error");
        assert!(StorageError::Conflict.into_wit().is_ok());

        // Without grants of this capability nothing opens.
        let mut table = ResourceTable::new();
        let mut none = LabelView::<(), ()>::new(None, &mut table, &io, &request);
        assert_eq!(none.open_label("r").err(), Some(StorageError::AccessDenied));
    }
}
