//! [`State`]: the data of one request's `Store` — created when the request arrives,
//! dropped with the instance when the response is sent. Nothing here outlives a request.

use crate::capability::PluginGrants;
use crate::capability::config::ConfigCtx;
use crate::capability::grants::{GrantSlot, Granted, LabelView};
use crate::capability::invocation::InvocationCtx;
use crate::capability::io_budget::IoBudget;
use crate::capability::log::{LogCtx, LogSink};
use crate::capability::outbound::OutboundCtx;
use crate::capability::request_context::RequestContext;
use crate::capability::trace::TraceCtx;
use crate::capability::wasi;
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct State {
    pub config: ConfigCtx,
    pub log: LogCtx,
    pub trace: TraceCtx,
    /// The invocation's deadline, as the plugin may read it.
    pub invocation: InvocationCtx,
    /// The plugin's grants of every labelled capability (`capability/grants.rs`).
    grants: PluginGrants,
    /// What its host calls need of the request: storage deadline, metrics, open spans.
    pub request: RequestContext,
    pub limiter: MemoryLimiter,
    /// Bytes this request may still move through storage calls.
    pub io: IoBudget,
    wasi: WasiCtx,
    /// `wasi:http`'s per-request state, and the host's decisions on outgoing requests.
    http: WasiHttpCtx,
    outbound: OutboundCtx,
    table: ResourceTable,
}

impl State {
    /// A request's state: `max_memory` bounds each linear memory, `max_host_io` the bytes
    /// through host calls (the plugin's limits); `outbound` decides its HTTP requests;
    /// `invocation` says when the host stops it; `request` is what its host calls run under.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: ConfigCtx,
        invocation: InvocationCtx,
        grants: PluginGrants,
        sink: &Arc<LogSink>,
        max_memory: u64,
        max_host_io: u64,
        outbound: OutboundCtx,
        request: RequestContext,
    ) -> Self {
        Self {
            config,
            log: LogCtx::new(sink.clone()),
            trace: TraceCtx::new(sink.clone(), request.spans.clone()),
            invocation,
            grants,
            request,
            limiter: MemoryLimiter::new(max_memory),
            io: IoBudget::new(max_host_io),
            wasi: wasi::sandboxed_ctx(sink),
            http: WasiHttpCtx::new(),
            outbound,
            table: ResourceTable::new(),
        }
    }
}

impl State {
    /// What a labelled capability's host functions run on: the plugin's grants of it,
    /// this request's resource table (shared with WASI), its I/O budget and its context.
    pub fn label_view<B, Q>(&mut self) -> LabelView<'_, B, Q>
    where
        B: ?Sized + Send + Sync + 'static,
        Q: Clone + Send + Sync + 'static,
        Granted<B, Q>: GrantSlot,
    {
        LabelView::new(Granted::<B, Q>::get(&self.grants), &mut self.table, &self.io, &self.request)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

impl crate::capability::outbound::OutboundView for State {
    fn outbound_log(&self) -> &crate::capability::log::LogSink {
        self.outbound.sink()
    }
}

/// Caps each linear memory of the instance at the plugin's `max_memory`, and remembers
/// that it refused, so a trap that follows is reported as "memory limit", not a crash.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_memory: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub fn new(max_memory: u64) -> Self {
        Self { max_memory: usize::try_from(max_memory).unwrap_or(usize::MAX), hit: false }
    }

    /// Whether a memory growth was refused during this request.
    pub fn was_hit(&self) -> bool {
        self.hit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any real plugin.
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refuses_growth_past_max_and_records_it() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limiter.was_hit());
        assert!(!limiter.memory_growing(1 << 20, (1 << 20) + 65536, None).unwrap());
        assert!(limiter.was_hit());
    }
}
