//! A loaded plugin: what the loader (`loader.rs`) produces and the routing table
//! (`routing/registry.rs`) points at — its manifest entry, its bound grants and its component,
//! prepared for per-request instantiation or compiled on its first request.
//!
//! [`prepare`] is the one place a compiled component becomes runnable: the grant check
//! ("imported but not granted"), then the world check and `InstancePre`. The loader, lazy
//! compilation and the operator's pre-upload check (`check_component`) all go through it.

use crate::capability::LABELLED;
use crate::capability::PluginGrants;
use crate::capability::config::secrets::Resolved;
use crate::capability::labelled::GrantedAccess;
use crate::capability::outbound::{self, AllowList};
use crate::observability::telemetry::{self, PluginMetrics};
use crate::runtime::admission::PluginGate;
use crate::runtime::engine::{PluginEngine, PreparedPlugin};
use crate::spec::manifest::{ComponentRef, Digest, Limits, PluginId, PluginSpec, RouteSpec};
use crate::spec::triggers::Trigger;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::Component;

/// A plugin ready to serve: its manifest entry and its prepared component.
pub struct LoadedPlugin {
    pub id: PluginId,
    pub source: ComponentRef,
    /// The component bytes' sha256.
    pub digest: Digest,
    pub routes: Vec<RouteSpec>,
    /// The events it receives.
    pub triggers: Vec<Trigger>,
    /// Config values as the plugin reads them (secrets resolved).
    pub config: Arc<BTreeMap<String, String>>,
    /// The secret values among them, redacted from the plugin's log lines.
    pub secret_values: Arc<[String]>,
    pub limits: Limits,
    /// How many of this plugin's requests may run at once (`limits.max_concurrency`).
    pub gate: PluginGate,
    /// The labels this plugin may open, bound to their backends.
    pub grants: PluginGrants,
    /// The same grants as the manifest states them (capability -> label -> access), to show.
    pub granted: GrantedAccess,
    /// Where its outgoing HTTP requests may go.
    pub outbound: Arc<AllowList>,
    /// Its share of outbound name lookups (`capability/outbound/resolve.rs`).
    pub lookups: crate::capability::outbound::resolve::Lookups,
    pub pre: Prepared,
    /// Where its invocations, host calls and failures are counted.
    pub metrics: Arc<PluginMetrics>,
}

impl LoadedPlugin {
    pub fn new(
        spec: &PluginSpec,
        digest: Digest,
        pre: Prepared,
        grants: PluginGrants,
        config: Resolved,
        max_concurrency: u32,
        metrics: Arc<PluginMetrics>,
    ) -> Self {
        Self {
            id: spec.id.clone(),
            source: spec.source.clone(),
            digest,
            routes: spec.routes.clone(),
            triggers: spec.triggers.clone(),
            config: config.values,
            secret_values: config.secret_values,
            limits: spec.limits,
            gate: PluginGate::new(max_concurrency),
            grants,
            granted: spec.grants.clone(),
            outbound: spec.outbound.clone(),
            lookups: Default::default(),
            pre,
            metrics,
        }
    }
}

/// A plugin's component, ready to instantiate, or compiled on its first request.
pub enum Prepared {
    Ready(PreparedPlugin),
    Lazy(Arc<LazyComponent>),
}

/// A checked (digest, header) component waiting for its first request to compile.
pub struct LazyComponent {
    pub engine: Arc<PluginEngine>,
    pub spec: PluginSpec,
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub prepared: tokio::sync::OnceCell<Result<PreparedPlugin, String>>,
}

impl Prepared {
    /// The prepared component; a lazy one is compiled (once, off the async workers) by
    /// the first request that needs it, and concurrent requests wait for that compile.
    /// The error says why it cannot run (logged once, when compiling fails).
    pub async fn get(&self) -> Result<&PreparedPlugin, &str> {
        let lazy = match self {
            Self::Ready(pre) => return Ok(pre),
            Self::Lazy(lazy) => lazy,
        };
        let prepared = lazy
            .prepared
            .get_or_init(|| {
                let lazy = lazy.clone();
                async move {
                    tokio::task::spawn_blocking(move || lazy.compile())
                        .await
                        .unwrap_or_else(|e| Err(format!("compiling was interrupted: {e}")))
                }
            })
            .await;
        prepared.as_ref().map_err(String::as_str)
    }
}

impl LazyComponent {
    fn compile(&self) -> Result<PreparedPlugin, String> {
        let started = std::time::Instant::now();
        let metrics = self.engine.metrics();
        let result =
            self.engine.compile(&self.digest, &self.bytes).map_err(|e| format!("invalid component: {e:#}")).and_then(
                |(component, from)| {
                    let compiled = matches!(from, crate::runtime::artifact_cache::LoadedFrom::Compiled);
                    metrics.component_loaded(self.spec.id.as_str(), compiled, started.elapsed());
                    prepare(&self.engine, &component, &self.spec)
                },
            );
        match &result {
            Ok(_) => tracing::info!(
                plugin = %self.spec.id,
                digest = self.digest.short(),
                millis = started.elapsed().as_millis() as u64,
                "component compiled on its first request"
            ),
            Err(error) => {
                tracing::error!(plugin = %self.spec.id, digest = self.digest.short(), "component cannot run: {error}");
                metrics.deployment(telemetry::DeploymentOutcome::Unavailable);
            }
        }
        result
    }
}

/// Makes a compiled component runnable for `spec`: every capability it imports must be
/// granted, every import provided, and it must export what the manifest uses — `handler`
/// for routes, `events` for triggers.
pub fn prepare(engine: &PluginEngine, component: &Component, spec: &PluginSpec) -> Result<PreparedPlugin, String> {
    check_imports_are_granted(engine, component, spec)?;
    let prepared =
        engine.prepare(component).map_err(|e| format!("does not fit the `plughost:plugin` worlds: {e:#}"))?;
    if !spec.routes.is_empty() && prepared.handler.is_none() {
        return Err(format!(
            "the manifest gives it routes, but the component does not export `{}` \
             (export a request handler with `plughost_sdk::plugin!`, or remove `routes`)",
            crate::bindings::HANDLER_EXPORT
        ));
    }
    if !spec.triggers.is_empty() && prepared.events.is_none() {
        return Err(format!(
            "the manifest gives it events ({}), but the component does not export `{}` \
             (export an event handler with `plughost_sdk::events!`, or remove `events`)",
            spec.triggers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            crate::bindings::EVENTS_EXPORT
        ));
    }
    Ok(prepared)
}

/// A component that imports a labelled capability but is granted none of its labels, or
/// outgoing HTTP with no `allowed_outbound_hosts`,
/// could only fail at run time, on a request: refuse it at load time instead, saying what
/// to grant. (Components import only what they use: unused imports are dropped when they
/// are built.)
fn check_imports_are_granted(engine: &PluginEngine, component: &Component, spec: &PluginSpec) -> Result<(), String> {
    for (name, _) in component.component_type().imports(engine.engine()) {
        if name.starts_with(outbound::IMPORT_PREFIX) && spec.outbound.is_empty() {
            return Err(format!(
                "the component imports `{name}` (outgoing HTTP) but the manifest allows it no hosts \
                 (add e.g. `allowed_outbound_hosts = [\"https://api.example.com\"]` to the plugin)"
            ));
        }
        let Some(kind) = LABELLED.iter().find(|kind| kind.is_imported_as(name)) else { continue };
        if spec.grants.get(kind.name).is_none_or(BTreeMap::is_empty) {
            return Err(format!(
                "the component imports `{name}` but the manifest grants it no {} \
                 (add e.g. `{} = {{ <label> = \"{}\" }}` to the plugin)",
                kind.noun, kind.name, kind.accesses[0]
            ));
        }
    }
    Ok(())
}
