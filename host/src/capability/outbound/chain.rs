//! Service chaining: `http://<plugin>.plughost.internal/<path>` runs another plugin of the
//! same deployment in-process — a fresh instance under the callee's own grants and limits,
//! never the caller's — routed by the callee's own routes, answered as HTTP.
//!
//! The deployment is behind [`Chain`] (implemented by `dispatch/`, which owns routing
//! and invocation), so this capability never reaches into the request path it runs in.
//! [`CallOrigin`] travels with every invocation: how deep in a chain it is (a chain
//! deeper than [`MAX_CHAIN_DEPTH`] is `loop-detected`) and the
//! trace it belongs to.

use super::send::Bounds;
use super::{MAX_CHAIN_DEPTH, SendResult, full_body, log_refusal};
use crate::capability::log::LogSink;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Instant;
use wasmtime_wasi_http::{Error, WasiBody};

/// The deployment a plugin runs in, as chained calls see it.
pub trait Chain: Send + Sync {
    /// Runs `request` on plugin `callee` (its routes decide), with `origin` one hop deeper,
    /// answering by `deadline`. `None`: the deployment has no such plugin.
    fn call(
        self: Arc<Self>,
        callee: &str,
        request: http::Request<Bytes>,
        origin: CallOrigin,
        deadline: Option<Instant>,
    ) -> BoxFuture<'static, Option<http::Response<Bytes>>>;

    /// The largest request body the deployment accepts (as from outside).
    fn max_body(&self) -> usize;
}

/// Where an invocation comes from, as far as its own outbound calls care.
#[derive(Clone)]
pub struct CallOrigin {
    /// The deployment, for in-process calls (`None`: there is none to call into).
    pub chain: Option<Arc<dyn Chain>>,
    /// In-process calls that led here (0: the request, event or task came from outside).
    pub depth: u8,
    /// The trace this invocation belongs to (32 lower-case hex digits).
    pub trace_id: Arc<str>,
}

impl CallOrigin {
    /// An invocation from outside, in `chain`'s deployment.
    pub fn outside(chain: Option<Arc<dyn Chain>>, trace_id: &str) -> Self {
        Self { chain, depth: 0, trace_id: trace_id.into() }
    }
}

/// A chained call that passed the checks, ready to run.
pub(super) struct PreparedCall {
    chain: Arc<dyn Chain>,
    callee: String,
    origin: CallOrigin,
    caller: Arc<LogSink>,
}

/// Checks that `origin` may call one level deeper: `Err((reason, error))` otherwise.
pub(super) fn prepare(
    origin: &CallOrigin,
    callee: &str,
    caller: Arc<LogSink>,
) -> Result<PreparedCall, (String, Error)> {
    let Some(chain) = origin.chain.clone() else {
        return Err(("there is no deployment to call into here".into(), Error::DestinationNotFound));
    };
    if origin.depth >= MAX_CHAIN_DEPTH {
        let why = format!("a chain of more than {MAX_CHAIN_DEPTH} in-process calls (a loop?)");
        return Err((why, Error::LoopDetected));
    }
    let origin = CallOrigin { chain: Some(chain.clone()), depth: origin.depth + 1, trace_id: origin.trace_id.clone() };
    Ok(PreparedCall { chain, callee: callee.to_owned(), origin, caller })
}

impl PreparedCall {
    /// Reads the request body (as much as the deployment accepts from outside), runs the
    /// callee and hands its response back, capped like any response.
    pub(super) async fn run(self, request: http::Request<WasiBody>, bounds: Bounds) -> SendResult {
        let Self { chain, callee, origin, caller } = self;
        let (parts, body) = request.into_parts();
        let deadline = bounds.deadline;
        let limited = http_body_util::Limited::new(body, chain.max_body());
        let read = async {
            limited.collect().await.map(|collected| collected.to_bytes()).map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::HttpRequestBodySize(None)
                } else {
                    Error::InternalError(Some(format!("reading the request body: {e}")))
                }
            })
        };
        let body = match deadline {
            Some(at) => tokio::time::timeout_at(at.into(), read).await.unwrap_or(Err(Error::ConnectionWriteTimeout))?,
            None => read.await?,
        };
        let call = chain.call(&callee, http::Request::from_parts(parts, body), origin, deadline);
        let response = match deadline {
            Some(at) => tokio::time::timeout_at(at.into(), call).await.map_err(|_| Error::HttpResponseTimeout)?,
            None => call.await,
        };
        let Some(response) = response else {
            let target = format!("http://{callee}{}", super::allow_list::INTERNAL_SUFFIX);
            log_refusal(&caller, &target, "no plugin of that name in this deployment");
            return Err(Error::DestinationNotFound);
        };
        let size = response.body().len() as u64;
        if size > bounds.max_response {
            return Err(Error::HttpResponseBodySize(Some(size)));
        }
        let io: super::send::Io = Box::new(std::future::ready(Ok(())));
        Ok((response.map(full_body), io))
    }
}
