//! One HTTP request through one routing table: route, run the plugin on a fresh instance,
//! answer — for requests from outside (`App::handle`) and for
//! plugins calling each other in-process (`http://<plugin>.plughost.internal/...`, see
//! `capability/outbound/chain.rs`), which [`Dispatcher`] serves as the capability's
//! [`Chain`].
//!
//! A chained call is routed like an outside request but only to the callee's own routes,
//! gets its own request id (the caller's arrives as `x-request-id`) and its own access
//! line, and runs under the callee's grants and limits, never the caller's.
//!
//! - `wit_request.rs`  — `http::Request` + route match -> WIT `request`;
//! - `wit_response.rs` — WIT `response` -> `http::Response`, validated.

use crate::capability::outbound::{CallOrigin, Chain};
use crate::observability::escape::escape_controls;
use crate::runtime::engine::PluginEngine;
mod wit_request;
mod wit_response;

use crate::http::{HostError, access_log, tag_request_id};
use crate::observability::telemetry::{Entry, ErrorKind, traces};
use crate::observability::trace_context;
use crate::routing::registry::{Lookup, RoutingTable};
use crate::runtime::invoke::{InvokeError, invoke};
use crate::spec::manifest::PluginId;
use bytes::Bytes;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use wit_request::to_wit_request;
use wit_response::from_wit_response;

/// One routing table with the engine that runs its plugins: what a request, and every
/// plugin call it makes, runs in (in-flight calls keep theirs across a reload).
pub struct Dispatcher {
    table: Arc<RoutingTable>,
    engine: Arc<PluginEngine>,
    max_body: usize,
}

impl Dispatcher {
    pub fn new(table: Arc<RoutingTable>, engine: Arc<PluginEngine>, max_body: usize) -> Arc<Self> {
        Arc::new(Self { table, engine, max_body })
    }

    pub fn table(&self) -> &Arc<RoutingTable> {
        &self.table
    }

    /// Where an invocation from outside starts: in this deployment, at depth 0.
    pub fn origin(self: &Arc<Self>, trace_id: &str) -> CallOrigin {
        CallOrigin::outside(Some(self.clone() as Arc<dyn Chain>), trace_id)
    }

    /// Routes and runs one request (`only`: to that plugin's routes alone), tags the
    /// response with `request_id` and writes its access line. Never panics on any input.
    /// All of it runs in the request's root span (`observability/telemetry/traces.rs`), which continues
    /// the trace the request arrives in; `origin` takes that trace id.
    pub async fn serve(
        self: &Arc<Self>,
        request: http::Request<Bytes>,
        request_id: &str,
        deadline: Option<Instant>,
        mut origin: CallOrigin,
        only: Option<&str>,
    ) -> http::Response<Bytes> {
        let span = tracing::info_span!(
            "request",
            otel.name = %request.method(),
            otel.kind = "server",
            http.request.method = %request.method(),
            url.path = %escape_controls(request.uri().path()),
            http.route = tracing::field::Empty,
            plugin = tracing::field::Empty,
            request_id,
            trace_id = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        let incoming = trace_context::incoming(request.headers());
        let trace_id = traces::start(&span, incoming.as_ref(), || trace_context::new_trace_id(request_id));
        origin.trace_id = trace_id.into();
        // Boxed: the request's future is large, and wrapping it would copy all of it.
        Box::pin(self.route_and_run(request, request_id, deadline, origin, only)).instrument(span).await
    }

    async fn route_and_run(
        self: &Arc<Self>,
        request: http::Request<Bytes>,
        request_id: &str,
        deadline: Option<Instant>,
        origin: CallOrigin,
        only: Option<&str>,
    ) -> http::Response<Bytes> {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let (mut plugin_id, mut route) = (None, None);
        let lookup = tracing::debug_span!("route").in_scope(|| self.table.lookup(&parts.method, parts.uri.path()));
        let result = match lookup {
            Lookup::Found(matched) if only.is_some_and(|callee| matched.plugin.id.as_str() != callee) => {
                Err(HostError::NotFound)
            }
            Lookup::NotFound => Err(HostError::NotFound),
            Lookup::MethodNotAllowed(allow) => Err(HostError::MethodNotAllowed { allow }),
            Lookup::InvalidParam(reason) => Err(HostError::BadRequest { reason }),
            Lookup::Found(_) if body.len() > self.max_body => Err(HostError::PayloadTooLarge { limit: self.max_body }),
            Lookup::Found(matched) => {
                let plugin = matched.plugin;
                plugin_id = Some(plugin.id.clone());
                route = Some(matched.route.to_owned());
                if traces::exporting() {
                    // Span fields only the exporter reads (log lines print none): without
                    // one, each `record` would be a dispatch through every layer for nothing.
                    let span = tracing::Span::current();
                    span.record("http.route", matched.route);
                    span.record("plugin", plugin.id.as_str());
                    traces::rename(&span, || format!("{} {}", parts.method, matched.route));
                }
                let wit_request = to_wit_request(&parts, body, &matched, request_id);
                let engine = &self.engine;
                let invoked = Instant::now();
                let result = match invoke(engine.engine(), engine.admission(), plugin, wit_request, deadline, origin)
                    .await
                {
                    Ok(response) => from_wit_response(response).map_err(|detail| {
                        tracing::warn!(plugin = %plugin.id, request_id, detail, "plugin returned an invalid response");
                        (ErrorKind::InvalidResponse, HostError::InvalidResponse { plugin: plugin.id.to_string() })
                    }),
                    Err(error) => Err((error.kind(), failure(&plugin.id, request_id, error))),
                };
                let outcome = result.as_ref().map(|response| plugin.metrics.response_bytes(response.body().len()));
                plugin.metrics.invocation(Entry::Http, outcome.map_err(|(kind, _)| *kind), invoked.elapsed());
                result.map_err(|(_, error)| error)
            }
        };
        let mut response = result.unwrap_or_else(|error| error.into_response(request_id));
        tag_request_id(&mut response, request_id);
        if traces::exporting() {
            tracing::Span::current().record("http.response.status_code", response.status().as_u16());
        }
        let route = route.as_deref();
        access_log(&parts.method, parts.uri.path(), response.status(), plugin_id.as_ref(), route, request_id, started);
        response
    }
}

impl Chain for Dispatcher {
    fn call(
        self: Arc<Self>,
        callee: &str,
        request: http::Request<Bytes>,
        origin: CallOrigin,
        deadline: Option<Instant>,
    ) -> BoxFuture<'static, Option<http::Response<Bytes>>> {
        let callee = callee.to_owned();
        Box::pin(async move {
            if !self.table.plugins().iter().any(|plugin| plugin.id.as_str() == callee) {
                return None;
            }
            let request_id = uuid::Uuid::new_v4().simple().to_string();
            Some(self.serve(request, &request_id, deadline, origin, Some(&callee)).await)
        })
    }

    fn max_body(&self) -> usize {
        self.max_body
    }
}

/// Logs why a plugin gave no response, and the error the client gets instead.
pub fn failure(plugin: &PluginId, request_id: &str, error: InvokeError) -> HostError {
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
        InvokeError::Unavailable(detail) => {
            tracing::warn!(plugin = %plugin, request_id, detail, "plugin unavailable");
            HostError::PluginUnavailable { plugin: name }
        }
        InvokeError::Exited(status) => {
            // Not a crash: the plugin ended itself. Still no response, so still a 500.
            tracing::warn!(plugin = %plugin, request_id, status, "plugin exited with status {status} without responding");
            HostError::PluginFailed { plugin: name }
        }
        InvokeError::AtCapacity => {
            tracing::warn!(plugin = %plugin, request_id, "no instance slot or memory budget freed in time");
            HostError::AtCapacity
        }
        InvokeError::PluginAtCapacity { limit } => {
            tracing::warn!(plugin = %plugin, request_id, limit, "plugin at its max_concurrency; none ended in time");
            HostError::PluginAtCapacity { plugin: name }
        }
    }
}
