//! [`App`]: the whole request path, transport-agnostic — route, convert, invoke, convert
//! back, map failures to JSON errors, log the outcome. `serve/` and (later) the Lambda
//! entry only adapt their transport to `App::handle`; tests and benchmarks drive it
//! directly, without a socket.
//!
//! It also owns reloading: [`App::reload`] builds a complete new table off the request
//! path and publishes it only if every plugin loaded.

use crate::capability::Storage;
use crate::engine::PluginEngine;
use crate::http::{HostError, from_wit_response, to_wit_request};
use crate::invoke::{InvokeError, invoke};
use crate::loader::Loader;
use crate::manifest::{LimitBounds, Manifest};
use crate::registry::{Lookup, Registry, RoutingTable};
use bytes::Bytes;
use http::HeaderValue;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

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
    manifest_path: PathBuf,
    bounds: LimitBounds,
    max_body: usize,
    generation: AtomicU64,
    /// Serialises reloads so two file events cannot publish out of order.
    reload_lock: tokio::sync::Mutex<()>,
}

impl App {
    /// Loads the manifest at `manifest_path` and every plugin it names. Fails (naming the
    /// file, plugin and problem) if any of them cannot load.
    /// Secrets the manifest references are fetched first (async: they may come from AWS);
    /// compiling then runs on this task, as nothing is served yet.
    pub async fn load(
        engine: Arc<PluginEngine>,
        storage: Storage,
        manifest_path: &Path,
        max_body: usize,
    ) -> anyhow::Result<Self> {
        let bounds = LimitBounds { max_memory: engine.settings().max_memory_per_instance, ..LimitBounds::default() };
        let loader = Loader::new(engine, storage);
        let manifest = Manifest::load(manifest_path, &bounds)?;
        let secrets = loader.storage().secrets().fetch(&manifest).await?;
        let table = loader.build_table(&manifest, &secrets, 1)?;
        Ok(Self {
            loader,
            registry: Registry::new(table),
            manifest_path: manifest_path.to_path_buf(),
            bounds,
            max_body,
            generation: AtomicU64::new(1),
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The process's storage backends (the same for every table).
    pub fn storage(&self) -> &Storage {
        self.loader.storage()
    }

    /// The table serving requests now.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.registry.current()
    }

    /// The largest request body `handle` accepts; transports enforce it while reading.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// Re-reads the manifest and every plugin, and publishes the new table if all of it
    /// loads and something changed. On error nothing changes: the current table keeps
    /// serving.
    pub async fn reload(self: &Arc<Self>) -> anyhow::Result<Reload> {
        let _guard = self.reload_lock.lock().await;
        let app = self.clone();
        let generation = self.generation.load(Ordering::SeqCst) + 1;
        let manifest = Manifest::load(&self.manifest_path, &self.bounds)?;
        let secrets = self.loader.storage().secrets().fetch(&manifest).await?;
        let table =
            tokio::task::spawn_blocking(move || app.loader.build_table(&manifest, &secrets, generation)).await??;
        if table.same_content_as(&self.registry.current()) {
            return Ok(Reload::Unchanged);
        }
        self.generation.store(generation, Ordering::SeqCst);
        self.registry.publish(table);
        Ok(Reload::Published(self.registry.current()))
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
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let table = self.registry.current();
        let mut plugin_id = None;
        let result = match table.lookup(&parts.method, parts.uri.path()) {
            Lookup::NotFound => Err(HostError::NotFound),
            Lookup::MethodNotAllowed(allow) => Err(HostError::MethodNotAllowed { allow }),
            Lookup::Found(_) if body.len() > self.max_body => Err(HostError::PayloadTooLarge { limit: self.max_body }),
            Lookup::Found(matched) => {
                let plugin = matched.plugin;
                plugin_id = Some(plugin.id.clone());
                let wit_request = to_wit_request(&parts, body, &matched, request_id);
                let name = || plugin.id.to_string();
                match invoke(self.loader.engine().engine(), plugin, wit_request, deadline).await {
                    Ok(response) => from_wit_response(response).map_err(|detail| {
                        tracing::warn!(plugin = %plugin.id, request_id, detail, "plugin returned an invalid response");
                        HostError::InvalidResponse { plugin: name() }
                    }),
                    Err(error) => Err(self.log_failure(&plugin.id, request_id, error)),
                }
            }
        };
        let mut response = result.unwrap_or_else(|error| error.into_response(request_id));
        tag_request_id(&mut response, request_id);
        tracing::info!(
            target: "plughost::access",
            method = %parts.method,
            path = parts.uri.path(),
            status = response.status().as_u16(),
            plugin = plugin_id.as_ref().map(|p| p.as_str()),
            request_id,
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
        response
    }

    /// The response for a request refused before it reached `handle_with_id` (e.g. a
    /// body over the limit while reading it), tagged like every other response.
    pub fn refuse(&self, error: HostError, request_id: &str) -> http::Response<Bytes> {
        let mut response = error.into_response(request_id);
        tag_request_id(&mut response, request_id);
        response
    }

    fn log_failure(&self, plugin: &crate::manifest::PluginId, request_id: &str, error: InvokeError) -> HostError {
        let name = plugin.to_string();
        match error {
            InvokeError::Timeout => {
                tracing::warn!(plugin = %plugin, request_id, "plugin timed out");
                HostError::Timeout { plugin: name }
            }
            InvokeError::MemoryLimit => {
                tracing::warn!(plugin = %plugin, request_id, "plugin exceeded its memory limit");
                HostError::MemoryLimit { plugin: name }
            }
            InvokeError::Trapped(detail) => {
                tracing::error!(plugin = %plugin, request_id, detail, "plugin trapped");
                HostError::PluginFailed { plugin: name }
            }
            InvokeError::ResponseTooLarge { size, limit } => {
                tracing::warn!(plugin = %plugin, request_id, size, limit, "plugin response over max_response");
                HostError::ResponseTooLarge { plugin: name }
            }
            InvokeError::AtCapacity => {
                tracing::warn!(plugin = %plugin, request_id, "instance pool exhausted");
                HostError::AtCapacity
            }
        }
    }
}

/// Every response carries its request id, to match client reports with host logs.
pub fn tag_request_id(response: &mut http::Response<Bytes>, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}
