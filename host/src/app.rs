//! [`App`]: the whole request path, transport-agnostic — route, convert, invoke, convert
//! back, map failures to JSON errors, log the outcome. `serve/` and the Lambda entry
//! (`lambda/`) only adapt their transport to `App::handle`; tests and benchmarks drive it
//! directly, without a socket.
//!
//! It also owns reloading: [`App::reload`] fetches the manifest from its source (a file,
//! or a deployment in S3, conditionally on the version last seen), builds a complete new
//! table off the request path and publishes it only if every plugin loaded. A rejected
//! version is logged and counted (`metrics.rs`) once, and the current table keeps serving.

use crate::capability::Capabilities;
use crate::capability::config::secrets::Secrets;
use crate::capability::event::Event;
use crate::dispatch::Dispatcher;
use crate::http::{HostError, access_log, tag_request_id};
use crate::observability::escape::escape_controls;
use crate::observability::telemetry::{DeploymentOutcome, Entry, ErrorKind, ReloadHistory, traces};
use crate::observability::trace_context;
use crate::routing::registry::{Registry, RoutingTable};
use crate::runtime::engine::PluginEngine;
use crate::runtime::invoke::deliver;
use crate::runtime::loader::{Fetched, FetchedComponent, Loader};
use crate::runtime::source::{FetchError, ManifestSource, Snapshot};
use crate::spec::manifest::{LimitBounds, Manifest};
use bytes::Bytes;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

/// What a successful [`App::reload`] did.
pub enum Reload {
    /// A new table is serving.
    Published(Arc<RoutingTable>),
    /// The manifest and every component are as already served: nothing was published.
    Unchanged,
}

pub struct App {
    loader: Loader,
    registry: Registry,
    source: Arc<ManifestSource>,
    /// The deployment version (ETag) last fetched completely, published or rejected.
    version: Mutex<Option<String>>,
    bounds: LimitBounds,
    max_body: usize,
    generation: AtomicU64,
    /// Serialises reloads so two file events cannot publish out of order.
    reload_lock: tokio::sync::Mutex<()>,
    /// What became of each reload (the local console shows it).
    reloads: ReloadHistory,
}

impl App {
    /// Loads the manifest at `manifest_path` and every plugin it names. Fails (naming the
    /// file, plugin and problem) if any of them cannot load.
    /// Secrets the manifest references are fetched first (async: they may come from AWS);
    /// compiling then runs on this task, as nothing is served yet.
    pub async fn load(
        engine: Arc<PluginEngine>,
        capabilities: Capabilities,
        manifest_path: &Path,
        max_body: usize,
    ) -> anyhow::Result<Self> {
        Self::load_from(engine, capabilities, ManifestSource::File(manifest_path.to_path_buf()), max_body).await
    }

    /// [`App::load`] from any source: a file or a deployment in S3.
    pub async fn load_from(
        engine: Arc<PluginEngine>,
        capabilities: Capabilities,
        source: ManifestSource,
        max_body: usize,
    ) -> anyhow::Result<Self> {
        let bounds = engine.settings().limit_bounds();
        let loader = Loader::new(engine, capabilities);
        let snapshot = match source.fetch(&bounds, &loader, None).await {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => anyhow::bail!("{source}: no manifest"),
            Err(error) => return Err(anyhow::Error::new(error)),
        };
        let manifest = &snapshot.manifest;
        let secrets = loader.capabilities().secrets().fetch(&manifest.path, &manifest.configs()).await?;
        let table = build_table(&loader, manifest, &secrets, &snapshot.components, 1)?;
        let reloads = ReloadHistory::default();
        reloads.record("published", table.generation, describe_plugins(&table));
        let source = Arc::new(source);
        source.share_artifacts(&loader, compiled_here(&snapshot.components));
        Ok(Self {
            loader,
            registry: Registry::new(table),
            source,
            version: Mutex::new(snapshot.version),
            bounds,
            max_body,
            generation: AtomicU64::new(1),
            reload_lock: tokio::sync::Mutex::new(()),
            reloads,
        })
    }

    /// The process's capabilities (the same for every table).
    pub fn capabilities(&self) -> &Capabilities {
        self.loader.capabilities()
    }

    /// The engine every plugin of every table runs on (for calls that are not requests or
    /// events: `task.rs`).
    pub fn plugin_engine(&self) -> &Arc<PluginEngine> {
        self.loader.engine()
    }

    /// The table serving requests now.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.registry.current()
    }

    /// The largest request body `handle` accepts; transports enforce it while reading.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Where the manifest comes from.
    pub fn source(&self) -> &ManifestSource {
        &self.source
    }

    /// Re-reads the manifest and every plugin, and publishes the new table if all of it
    /// loads and something changed. On error nothing changes: the current table keeps
    /// serving. A deployment version that was rejected is not tried again until it
    /// changes; one that could not be read (S3 unavailable) is.
    pub async fn reload(self: &Arc<Self>) -> anyhow::Result<Reload> {
        let _guard = self.reload_lock.lock().await;
        let known = self.version.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let snapshot = match self.source.fetch(&self.bounds, &self.loader, known.as_deref()).await {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => return Ok(Reload::Unchanged),
            Err(FetchError::Rejected { version, error }) => return Err(self.reject(Some(version), error)),
            Err(FetchError::Unavailable(error)) => return Err(error),
        };
        let Snapshot { manifest, version, components } = snapshot;
        let downloaded = compiled_here(&components);
        let secrets = self.loader.capabilities().secrets().fetch(&manifest.path, &manifest.configs()).await?;
        let app = self.clone();
        let generation = self.generation.load(Ordering::SeqCst) + 1;
        let built =
            tokio::task::spawn_blocking(move || build_table(&app.loader, &manifest, &secrets, &components, generation))
                .await?;
        let table = match built {
            Ok(table) => table,
            Err(error) => return Err(self.reject(version, error)),
        };
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = version;
        self.source.share_artifacts(&self.loader, downloaded);
        if table.same_content_as(&self.registry.current()) {
            return Ok(Reload::Unchanged);
        }
        self.generation.store(generation, Ordering::SeqCst);
        self.registry.publish(table);
        self.loader.engine().metrics().deployment(DeploymentOutcome::Published);
        Ok(Reload::Published(self.registry.current()))
    }

    /// One reload, logged the same way for every trigger (file change, poll, S3 event);
    /// "nothing changed" only when `log_unchanged` (not on every poll). Returns whether a new
    /// table was published.
    pub async fn reload_and_log(self: &Arc<Self>, log_unchanged: bool) -> bool {
        let serving = self.table().generation;
        match self.reload().await {
            Ok(Reload::Published(table)) => {
                let plugins = describe_plugins(&table);
                tracing::info!(generation = table.generation, plugins, "reloaded: new requests use the new table");
                self.reloads.record("published", table.generation, plugins);
                true
            }
            Ok(Reload::Unchanged) => {
                if log_unchanged {
                    tracing::info!(generation = serving, "nothing changed; still serving");
                }
                false
            }
            Err(error) => {
                tracing::error!(
                    serving_generation = serving,
                    "reload rejected, still serving the previous version: {error:#}"
                );
                self.reloads.record("rejected", serving, format!("{error:#}"));
                false
            }
        }
    }

    /// What became of the reloads so far (the first load included), oldest first.
    pub fn reloads(&self) -> Vec<crate::observability::telemetry::reloads::ReloadRecord> {
        self.reloads.all()
    }

    /// Remembers a bad version (so polling does not retry it) and counts it.
    fn reject(&self, version: Option<String>, error: anyhow::Error) -> anyhow::Error {
        if version.is_some() {
            *self.version.lock().unwrap_or_else(|p| p.into_inner()) = version;
        }
        self.loader.engine().metrics().deployment(DeploymentOutcome::Rejected);
        error
    }

    /// Handles one request with a fresh request id.
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        self.handle_with_id(request, &request_id).await
    }

    /// Handles one request: route, run the plugin, answer. Never panics on any input;
    /// every failure becomes a JSON error with the request id.
    pub async fn handle_with_id(&self, request: http::Request<Bytes>, request_id: &str) -> http::Response<Bytes> {
        self.handle_until(request, request_id, None).await
    }

    /// [`App::handle_with_id`], answering by `deadline` at the latest: the plugin's
    /// timeout is cut to what is left (the Lambda entry passes the invocation's deadline).
    pub async fn handle_until(
        &self,
        request: http::Request<Bytes>,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> http::Response<Bytes> {
        let dispatcher = self.dispatcher();
        // The trace id is the request span's (`Dispatcher::serve` continues the request's).
        let origin = dispatcher.origin("");
        dispatcher.serve(request, request_id, deadline, origin, None).await
    }

    /// The table serving now, with the engine, as plugins' in-process calls see it.
    fn dispatcher(&self) -> Arc<Dispatcher> {
        Dispatcher::new(self.registry.current(), self.loader.engine().clone(), self.max_body)
    }

    /// Where an invocation from outside (a task, an event) starts: in the current
    /// table, in trace `trace_id`.
    pub fn origin(&self, trace_id: &str) -> crate::capability::outbound::CallOrigin {
        self.dispatcher().origin(trace_id)
    }

    /// Delivers `event` to every plugin of the current table it goes to
    /// (`routing/event_table.rs`), each on a fresh instance under its limits, concurrently, by
    /// `deadline` at the latest. One `event` log line per plugin; `invocation` is the id of
    /// what carried the event (a Lambda request id, a local delivery).
    pub async fn deliver(&self, event: &Event, invocation: &str, deadline: Option<Instant>) -> Delivery {
        let dispatcher = self.dispatcher();
        let targets = crate::routing::event_table::targets(dispatcher.table().plugins(), event);
        let wit = match event.to_wit() {
            Ok(wit) => wit,
            Err(why) => {
                let why = format!("not deliverable: {why}");
                return Delivery {
                    targets: targets.len(),
                    failures: targets.iter().map(|p| (p.id.clone(), why.clone())).collect(),
                };
            }
        };
        let engine = self.loader.engine();
        // One trace for the event (the Lambda invocation's, if it is in one); a span per plugin.
        let kind = event.kind();
        let root = tracing::info_span!(
            "deliver",
            otel.name = %format!("event {kind}"),
            otel.kind = "consumer",
            event.kind = kind,
            event_id = %escape_controls(&wit.id),
            invocation,
            trace_id = tracing::field::Empty,
        );
        let trace_id = traces::start(&root, trace_context::lambda_invocation().as_ref(), || {
            trace_context::new_trace_id(invocation)
        });
        let call_origin = dispatcher.origin(&trace_id);
        let wit = &wit;
        let runs = targets.iter().map(|plugin| {
            let call_origin = call_origin.clone();
            let span = tracing::debug_span!(parent: &root, "event", plugin = %plugin.id);
            async move {
                let started = Instant::now();
                let outcome =
                    deliver(engine.engine(), engine.admission(), plugin, wit, &wit.id, deadline, call_origin).await;
                let (failure, kind) = match outcome {
                    Ok(Ok(())) => (None, Ok(())),
                    Ok(Err(reason)) => {
                        (Some(format!("the plugin asked for redelivery: {reason}")), Err(ErrorKind::Rejected))
                    }
                    Err(error) => (Some(format!("the plugin {error}")), Err(error.kind())),
                };
                plugin.metrics.invocation(Entry::Event, kind, started.elapsed());
                // One line per plugin and event: info when handled, warn when it will come again.
                let origin = event.origin();
                let (origin, event_id) = (escape_controls(&origin), escape_controls(&wit.id));
                let failure_text = failure.as_deref().map(escape_controls);
                macro_rules! event_line {
                    ($level:ident) => {
                        tracing::$level!(
                            target: "plughost::events",
                            plugin = %plugin.id,
                            kind = event.kind(),
                            origin = %origin,
                            event_id = %event_id,
                            invocation,
                            outcome = if failure.is_some() { "failed" } else { "ok" },
                            failure = failure_text.as_deref(),
                            micros = started.elapsed().as_micros() as u64,
                            "event"
                        )
                    };
                }
                if failure.is_some() {
                    event_line!(warn);
                } else {
                    event_line!(info);
                }
                failure.map(|why| (plugin.id.clone(), why))
            }
            .instrument(span)
        });
        let failures: Vec<_> =
            futures::future::join_all(runs).instrument(root.clone()).await.into_iter().flatten().collect();
        Delivery { targets: targets.len(), failures }
    }

    /// The response for a request refused before it reached `handle_with_id` (a body over
    /// the limit while reading it, an event that is not a valid request), tagged and
    /// logged like every other response. `path` is as received, however malformed.
    pub fn refuse(
        &self,
        error: HostError,
        method: &http::Method,
        path: &str,
        request_id: &str,
    ) -> http::Response<Bytes> {
        let mut response = error.into_response(request_id);
        tag_request_id(&mut response, request_id);
        access_log(method, path, response.status(), None, None, request_id, Instant::now());
        response
    }
}

/// What became of one event: how many plugins it went to, and which of them failed (and
/// why) — those want it again.
#[derive(Debug)]
pub struct Delivery {
    pub targets: usize,
    pub failures: Vec<(crate::spec::manifest::PluginId, String)>,
}

impl Delivery {
    /// Every plugin it went to handled it (trivially so when none wanted it).
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures on one line, for an error a source records.
    pub fn describe_failures(&self) -> String {
        self.failures.iter().map(|(plugin, why)| format!("plugin `{plugin}`: {why}")).collect::<Vec<_>>().join("; ")
    }
}

/// A table's plugins as `id@digest`, for log lines and the reload history.
fn describe_plugins(table: &RoutingTable) -> String {
    table.plugins().iter().map(|p| format!("{}@{}", p.id, p.digest.short())).collect::<Vec<_>>().join(" ")
}

/// The fetched components the loader compiles from their bytes (those that came compiled
/// from the artifact cache need no sharing).
fn compiled_here(components: &Fetched) -> Vec<crate::spec::manifest::Digest> {
    components
        .iter()
        .filter(|(_, component)| matches!(component, FetchedComponent::Bytes(_)))
        .map(|(digest, _)| digest.clone())
        .collect()
}

/// Loads `manifest`'s plugins and builds their routing table; then forgets the compilations
/// no plugin of it uses. CPU-heavy (compilation): call it from a blocking context.
fn build_table(
    loader: &Loader,
    manifest: &Manifest,
    secrets: &Secrets,
    fetched: &Fetched,
    generation: u64,
) -> anyhow::Result<RoutingTable> {
    let plugins = loader.load_plugins(manifest, secrets, fetched)?;
    let table = RoutingTable::build(manifest.clone(), plugins, generation)
        .map_err(|e| anyhow::anyhow!("{}: {e}", manifest.path.display()))?;
    loader.keep_only(table.plugins());
    Ok(table)
}
