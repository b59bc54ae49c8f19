//! Outgoing HTTP: plugins import the standard `wasi:http/outgoing-handler` (wasmtime's
//! `wasmtime-wasi-http`, so ordinary crates built on it work), and the host decides every
//! request in [`WasiHttpHooks::send_request`] — here, in [`OutboundCtx`].
//!
//! - `allow_list`    — the manifest's `allowed_outbound_hosts` (Spin's syntax), matched by
//!   scheme, host and port (`spec/allow_list.rs`: manifest data, in the spec layer);
//! - `fence.rs`      — which resolved addresses may be connected to (not private, loopback,
//!   link-local, metadata or the Lambda runtime API, unless named);
//! - `resolve.rs`    — name lookups: asynchronous, a bounded share per plugin;
//! - `header_limits.rs` — a header set over its size limit: an error, never a trap;
//! - `send.rs`       — the network path: resolve once, connect to the checked address,
//!   TLS with the system roots, the response capped; the only file opening sockets;
//! - `chain.rs`      — `http://<plugin>.plughost.internal/...`: another plugin of the
//!   deployment, in-process, on its own fresh instance with its own grants;
//! - `trace.rs`      — the `x-request-id` / `traceparent` headers, sent only where the
//!   allow-list marks an entry `trace = true` (and on in-process calls).
//!
//! Every refusal — not allowed, a fenced address, too many requests, a chain too deep — is
//! a `wasi:http` error the plugin can handle (`HTTP-request-denied`, `loop-detected`),
//! logged with the plugin, request id and the target; never a trap.

pub mod address_kind;
pub use crate::spec::allow_list;
pub mod chain;
pub mod fence;
pub mod header_limits;
pub mod resolve;
pub mod send;
pub mod trace;

pub use allow_list::AllowList;
pub use chain::{CallOrigin, Chain};

use crate::capability::log::LogSink;
use crate::capability::request_context::RequestContext;
use crate::observability::telemetry::{ErrorKind, PluginMetrics};
use allow_list::target_of;
use bytes::Bytes;
use std::sync::Arc;
use tracing::Instrument;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks, WasiHttpView};

/// The interface a component imports to send requests (any 0.2.x version).
pub const IMPORT_PREFIX: &str = "wasi:http/outgoing-handler@0.2";

/// How deep plugins may call each other in-process (`a -> b -> c -> d` is 3 hops): enough
/// for a gateway in front of services; a loop stops here with `loop-detected`.
pub const MAX_CHAIN_DEPTH: u8 = 4;

/// Request headers a plugin may not set: the connection's own (hop-by-hop) and `host`,
/// which the host sets from the URL so an allowed name cannot address another.
const FORBIDDEN: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
    "te",
    "trailer",
];

/// What one invocation's outbound requests run under: the plugin's allow-list and limits,
/// where the call came from, and how many requests it has made.
pub struct OutboundCtx {
    /// The plugin and request the lines are about, and the secrets they must not show.
    sink: Arc<LogSink>,
    allow: Arc<AllowList>,
    max_requests: u32,
    max_response: u64,
    origin: CallOrigin,
    resolver: resolve::Resolver,
    /// The plugin's share of name lookups.
    lookups: resolve::Lookups,
    sent: u32,
    /// Where its outgoing requests and refusals are counted.
    metrics: Arc<PluginMetrics>,
    /// The request's storage deadline (outgoing calls are cut off there too) and open spans.
    request: RequestContext,
}

impl OutboundCtx {
    /// `sink` is the request's log sink (whose plugin, request id and secrets the lines use).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sink: &Arc<LogSink>,
        allow: Arc<AllowList>,
        max_requests: u32,
        max_response: u64,
        origin: CallOrigin,
        metrics: Arc<PluginMetrics>,
        lookups: resolve::Lookups,
        request: RequestContext,
    ) -> Self {
        Self {
            sink: sink.clone(),
            allow,
            max_requests,
            max_response,
            origin,
            resolver: resolve::system_resolver(),
            lookups,
            sent: 0,
            metrics,
            request,
        }
    }

    /// The request's log sink: its plugin, request id and secrets.
    pub fn sink(&self) -> &LogSink {
        &self.sink
    }

    /// Logs a refusal and returns the error the plugin receives.
    fn refuse(&self, target: &str, reason: &str, error: Error) -> Box<dyn Future<Output = SendResult> + Send> {
        log_refusal(&self.sink, target, reason);
        self.metrics.error(ErrorKind::OutboundDenied);
        Box::new(std::future::ready(Err(error)))
    }
}

type SendResult = wasmtime_wasi_http::Result<(http::Response<WasiBody>, send::Io)>;

/// The `outbound request denied` line. The URL and the reason carry what the plugin wrote
/// (a host name built from a secret, say): redacted and escaped like its own lines.
fn log_refusal(sink: &LogSink, target: &str, reason: &str) {
    tracing::warn!(
        plugin = %sink.plugin(),
        request_id = sink.request_id(),
        url = %sink.clean(target),
        reason = %sink.clean(reason),
        "outbound request denied"
    );
}

impl WasiHttpHooks for OutboundCtx {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(|name| FORBIDDEN.contains(&name.as_str()))
    }

    /// A request must say `http` or `https`: nothing is assumed.
    fn default_scheme(&mut self) -> Option<http::uri::Scheme> {
        None
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let Some(target) = target_of(request.uri()) else {
            // Only scheme and host are logged: user info may hold a password.
            let shown = self.sink.clean(&format!(
                "{}://{}",
                request.uri().scheme_str().unwrap_or("?"),
                request.uri().host().unwrap_or("?")
            ));
            return self.refuse(
                &shown,
                "not an http(s) URL with a host (and no user info)",
                Error::HttpRequestUriInvalid,
            );
        };
        // What the plugin asked for, as logs and spans may show it.
        let shown = self.sink.clean(&target.to_string());
        if self.sent >= self.max_requests {
            let why = format!("over max_outbound_requests ({}) in one invocation", self.max_requests);
            return self.refuse(&shown, &why, Error::HttpRequestDenied);
        }
        self.sent += 1;
        let Some(entry) = self.allow.allowing(&target) else {
            return self.refuse(&shown, "not in the plugin's allowed_outbound_hosts", Error::HttpRequestDenied);
        };
        let internal = target.internal_plugin().map(str::to_owned);
        // The call's span, entered while the request is tagged: its id is the parent the
        // receiver continues from.
        let span = host_call_span(&self.request, if internal.is_some() { "call" } else { "send" }, &shown);
        let _in_call = span.enter();
        if entry.trace() || internal.is_some() {
            trace::tag(request.headers_mut(), self.sink.request_id(), &self.origin.trace_id);
        }
        let bounds = send::Bounds {
            deadline: self.request.storage_deadline,
            connect_timeout: options.and_then(|o| o.connect_timeout),
            first_byte_timeout: options.and_then(|o| o.first_byte_timeout),
            between_bytes_timeout: options.and_then(|o| o.between_bytes_timeout),
            max_response: self.max_response,
        };

        if let Some(callee) = internal {
            return match chain::prepare(&self.origin, &callee, self.sink.clone()) {
                Ok(call) => self.measured("call", span.clone(), call.run(request, bounds)),
                Err((reason, error)) => self.refuse(&shown, &reason, error),
            };
        }
        if target.host.ends_with(allow_list::INTERNAL_SUFFIX) {
            return self.refuse(&shown, "not a plugin name", Error::DestinationNotFound);
        }
        let sink = self.sink.clone();
        let (allow, resolver, lookups) = (self.allow.clone(), self.resolver.clone(), self.lookups.clone());
        self.measured("send", span.clone(), async move {
            match send::send(request, target, allow, resolver, lookups, bounds).await {
                Ok(sent) => Ok(sent),
                Err(Ok(send::Refused(why))) => {
                    log_refusal(&sink, &shown, &why);
                    Err(Error::HttpRequestDenied)
                }
                Err(Err(error)) => {
                    tracing::debug!(
                        plugin = %sink.plugin(),
                        request_id = sink.request_id(),
                        url = %sink.clean(&shown),
                        error = %sink.clean(&error.to_string()),
                        "outbound request failed"
                    );
                    Err(error)
                }
            }
        })
    }
}

/// The `host_call` span of one outgoing request (`operation`: `send`, or `call` for an
/// in-process one) to `url` (scheme, host and port only; cleaned by the caller).
fn host_call_span(request: &RequestContext, operation: &'static str, url: &str) -> tracing::Span {
    request.in_innermost(|| {
        tracing::debug_span!(
            "host_call",
            otel.kind = "client",
            capability = "http",
            operation,
            url = %url,
            outcome = tracing::field::Empty
        )
    })
}

impl OutboundCtx {
    /// `request` (until its response head arrives) as a host call of capability `http`:
    /// timed into the plugin's metrics, traced as a `host_call` span under the plugin's
    /// innermost open span or its call (made here, before wasmtime-wasi-http runs the request on a task of its
    /// own), and a refusal made on the
    /// way (a fenced address, no such plugin) counted as one.
    fn measured(
        &self,
        operation: &'static str,
        span: tracing::Span,
        request: impl Future<Output = SendResult> + Send + 'static,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let metrics = self.metrics.clone();
        Box::new(
            async move {
                let started = std::time::Instant::now();
                let result = request.await;
                let took = started.elapsed();
                if matches!(result, Err(Error::HttpRequestDenied | Error::DestinationNotFound)) {
                    metrics.error(ErrorKind::OutboundDenied);
                }
                tracing::Span::current().record("outcome", if result.is_ok() { "ok" } else { "error" });
                metrics.host_call("http", operation, result.is_ok(), took);
                result
            }
            .instrument(span),
        )
    }
}

/// A body for a response built whole (in-process calls).
fn full_body(bytes: Bytes) -> WasiBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

/// What this capability needs of a store's data: `wasi:http`'s view, and the request's
/// outbound context (whose log sink its own lines use).
pub trait OutboundView: WasiHttpView {
    fn outbound_log(&self) -> &LogSink;
}

/// Adds `wasi:http/types` and `wasi:http/outgoing-handler`. Called once, by `capability/mod.rs`.
pub fn add_to_linker<T: OutboundView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    header_limits::add_to_linker(linker)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_from_the_uri_with_default_ports() {
        let target = target_of(&"https://API.Example.com/v1".parse().unwrap()).unwrap();
        assert_eq!((target.https, target.host.as_str(), target.port), (true, "api.example.com", 443));
        let target = target_of(&"http://[::1]:8080/".parse().unwrap()).unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 8080));
        assert!(target_of(&"ftp://example.com/".parse().unwrap()).is_none());
        assert!(target_of(&"/relative".parse().unwrap()).is_none());
        assert!(target_of(&"https://user:secret@api.example.com/".parse().unwrap()).is_none());
    }
}
