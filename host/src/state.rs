//! [`State`]: the data of one request's `Store` — created when the request arrives,
//! dropped with the instance when the response is sent. Nothing here outlives a request.

use crate::capability::blob::{BlobCtx, BlobView};
use crate::capability::config::ConfigCtx;
use crate::capability::io_budget::IoBudget;
use crate::capability::kv::{KvCtx, KvView};
use crate::capability::log::{LogCtx, LogSink};
use crate::capability::{StorageGrants, wasi};
use crate::manifest::Limits;
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub struct State {
    pub config: ConfigCtx,
    pub log: LogCtx,
    pub kv: KvCtx,
    pub blob: BlobCtx,
    pub limiter: MemoryLimiter,
    /// Bytes this request may still move through storage calls.
    pub io: IoBudget,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl State {
    pub fn new(config: ConfigCtx, storage: StorageGrants, sink: &Arc<LogSink>, limits: &Limits) -> Self {
        Self {
            config,
            log: LogCtx::new(sink.clone()),
            kv: storage.kv,
            blob: storage.blob,
            limiter: MemoryLimiter::new(limits.max_memory),
            io: IoBudget::new(limits.max_host_io),
            wasi: wasi::sandboxed_ctx(sink),
            table: ResourceTable::new(),
        }
    }
}

impl State {
    /// The kv capability's view: the plugin's grants and this request's resource table.
    pub fn kv_view(&mut self) -> KvView<'_> {
        KvView::new(&self.kv, &mut self.table, &self.io)
    }

    /// The blob capability's view: the plugin's grants and this request's resource table.
    pub fn blob_view(&mut self) -> BlobView<'_> {
        BlobView::new(&self.blob, &mut self.table, &self.io)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
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
