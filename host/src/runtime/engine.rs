//! The process-wide wasmtime [`Engine`] and [`Linker`]: created once, shared by every
//! routing table the process builds.
//!
//! Configuration and why:
//! - **pooling allocator**: instance slots (memories, tables, fiber stacks) are reserved
//!   up front and reused, so a fresh instance per request costs no mmap/munmap;
//! - **copy-on-write memory init**: a module's data segments are mapped, not copied;
//! - **epoch interruption**: a background thread ticks the epoch; every store yields to
//!   tokio at each tick, so a guest that never returns cannot hold a worker thread and
//!   the request timeout in `invoke.rs` can cancel it.
//!
//! Which components to compile lives in `loader.rs`; keeping compiled ones on disk in
//! `artifact_cache.rs`.

use crate::capability;
use crate::capability::state::State;
use crate::observability::telemetry::Metrics;
use crate::runtime::admission::Admission;
use crate::runtime::artifact_cache::{ArtifactCache, LoadedFrom};
use crate::spec::manifest::{Digest, LimitBounds};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of timeouts and of guest yields. A
/// CPU-bound guest holds a worker for at most one tick before the other tasks on it
/// (other plugins' requests, connection I/O) get their turn, so this bounds how much
/// a crowd of busy plugins delays everyone else; a yield costs a few microseconds.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Process-level engine settings (not per manifest: the engine outlives manifests).
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// Concurrent plugin instances the pool holds; beyond it requests queue, then get 503.
    pub max_instances: u32,
    /// The largest `max_memory` any plugin may ask for.
    pub max_memory_per_instance: u64,
    /// The most the running instances' `max_memory` may add up to (`admission.rs`).
    pub memory_budget: u64,
    /// How long a request may wait for admission before it is refused with 503.
    pub queue_timeout: Duration,
    /// What the pool keeps of an instance slot between requests (`make bench` compares
    /// settings side by side; the default is what it measured best).
    pub pool: PoolTuning,
}

/// What the pooling allocator keeps mapped (and resets, rather than unmaps) of a slot
/// when an instance is dropped: the next request on the slot does not page-fault it back
/// in, but each dirty kept page is reset on every drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolTuning {
    pub linear_memory_keep_resident: usize,
    pub table_keep_resident: usize,
    pub async_stack_keep_resident: usize,
    /// Slots released together in one `madvise` batch (wasmtime's default is 1).
    pub decommit_batch_size: usize,
}

impl Default for PoolTuning {
    fn default() -> Self {
        Self {
            linear_memory_keep_resident: 2 * 1024 * 1024,
            table_keep_resident: 64 * 1024,
            async_stack_keep_resident: 64 * 1024,
            decommit_batch_size: 1,
        }
    }
}

impl EngineSettings {
    /// The bounds on manifest limits an engine with these settings can honour.
    pub fn limit_bounds(&self) -> LimitBounds {
        LimitBounds {
            max_memory: self.max_memory_per_instance.min(self.memory_budget),
            max_concurrency: self.max_instances,
            ..LimitBounds::default()
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_instances: 128,
            max_memory_per_instance: 256 * 1024 * 1024,
            memory_budget: crate::runtime::admission::default_memory_budget(),
            queue_timeout: Duration::from_secs(2),
            pool: PoolTuning::default(),
        }
    }
}

/// The engine, the linker with every capability, the epoch ticker, and (optionally) the
/// on-disk cache of compiled components.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<State>,
    settings: EngineSettings,
    ticker_stop: Arc<AtomicBool>,
    cache: Option<ArtifactCache>,
    lazy: bool,
    admission: Admission,
    /// Every plugin's metrics (one registry per process, like the engine).
    metrics: Arc<Metrics>,
}

impl PluginEngine {
    pub fn new(settings: EngineSettings) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(&settings))?;
        let mut linker = Linker::new(&engine);
        capability::add_to_linker(&mut linker)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone())?;
        let admission = Admission::new(settings.max_instances, settings.memory_budget, settings.queue_timeout);
        let metrics = Arc::new(Metrics::new(false));
        Ok(Self { engine, linker, settings, ticker_stop, cache: None, lazy: false, admission, metrics })
    }

    /// Also batch metrics per invocation for CloudWatch Embedded Metric Format lines
    /// (Lambda: `observability/telemetry/emf.rs`).
    pub fn with_embedded_metric_format(mut self, emf: bool) -> Self {
        self.metrics = Arc::new(Metrics::new(emf));
        self
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Keeps compiled components in `dir` (see `artifact_cache.rs`).
    pub fn with_artifact_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cache = Some(ArtifactCache::new(dir));
        self
    }

    /// Compile components on their first request instead of when a table is built
    /// (see `loader.rs` and `plugin.rs`).
    pub fn with_lazy_compilation(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    pub fn compiles_lazily(&self) -> bool {
        self.lazy
    }

    /// Compiles a component (`bytes`, whose sha256 is `digest`), or loads it from the
    /// artifact cache.
    pub fn compile(&self, digest: &Digest, bytes: &[u8]) -> anyhow::Result<(Component, LoadedFrom)> {
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, digest.hex(), bytes),
            None => Ok((Component::from_binary(&self.engine, bytes)?, LoadedFrom::Compiled)),
        }
    }

    /// The artifact cache, if there is one.
    pub fn artifact_cache(&self) -> Option<&ArtifactCache> {
        self.cache.as_ref()
    }

    /// The component for `digest` from the artifact cache alone (no bytes needed).
    /// Reads and checks the file once; blocking: call it off the async workers.
    pub fn load_cached(&self, digest: &Digest) -> Option<Component> {
        self.cache.as_ref()?.load_cached(&self.engine, digest.hex())
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Who may start an instance now (the pool's slots and the memory budget).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Checks that every import of a compiled component is provided and finds its exports
    /// (`handler`, `events`, `task`; any may be absent — `plugin.rs` checks which the manifest
    /// needs), prepared for cheap per-request instantiation.
    pub fn prepare(&self, component: &wasmtime::component::Component) -> anyhow::Result<PreparedPlugin> {
        use crate::bindings::{EVENTS_EXPORT, HANDLER_EXPORT, TASK_EXPORT, wit_events, wit_handler, wit_task};
        let instance_pre = self.linker.instantiate_pre(component)?;
        let exported = |name| component.get_export_index(None, name).is_some();
        // An export that is present but malformed (a missing function) is an error, not
        // an absent export.
        let handler =
            if exported(HANDLER_EXPORT) { Some(wit_handler::GuestIndices::new(&instance_pre)?) } else { None };
        let events = if exported(EVENTS_EXPORT) { Some(wit_events::GuestIndices::new(&instance_pre)?) } else { None };
        let task = if exported(TASK_EXPORT) { Some(wit_task::GuestIndices::new(&instance_pre)?) } else { None };
        Ok(PreparedPlugin { instance_pre, handler, events, task })
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn engine_config(settings: &EngineSettings) -> Config {
    let instances = settings.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A component built against wasip1 + adapter holds several core instances, memories
    // and tables; these multipliers leave room for that shape.
    pool.total_component_instances(instances)
        .total_core_instances(instances * 8)
        .total_memories(instances * 2)
        .total_tables(instances * 4)
        .total_stacks(instances)
        .max_memory_size(usize::try_from(settings.max_memory_per_instance).unwrap_or(usize::MAX))
        // Keep the first pages of each slot mapped between uses: the next request on the
        // slot does not page-fault its stack and data back in.
        .linear_memory_keep_resident(settings.pool.linear_memory_keep_resident)
        .table_keep_resident(settings.pool.table_keep_resident)
        .async_stack_keep_resident(settings.pool.async_stack_keep_resident)
        .decommit_batch_size(settings.pool.decommit_batch_size)
        // With PAGEMAP_SCAN (Linux >= 6.7) only the pages a request dirtied are reset,
        // instead of memsetting all of `keep_resident` for every request. Falls back to
        // that memset where the kernel lacks it.
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new().name("plughost-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    })?;
    Ok(())
}

/// A component whose imports are all provided, ready to instantiate per request, with
/// the exports it has.
#[derive(Clone)]
pub struct PreparedPlugin {
    pub instance_pre: wasmtime::component::InstancePre<State>,
    /// `plughost:plugin/handler`, if exported (HTTP requests).
    pub handler: Option<crate::bindings::wit_handler::GuestIndices>,
    /// `plughost:plugin/events`, if exported (events).
    pub events: Option<crate::bindings::wit_events::GuestIndices>,
    /// `plughost:plugin/task`, if exported (workflow tasks).
    pub task: Option<crate::bindings::wit_task::GuestIndices>,
}
