//! Runs one request on one plugin: a fresh `Store` and instance, the handler call under
//! the plugin's limits, and a classification of every way that can end badly.
//!
//! Why each mechanism:
//! - admission first (`admission.rs`): the plugin's concurrency cap, an instance slot and
//!   its `max_memory` from the host's budget, or a 503 after a bounded wait — so no
//!   plugin takes what the others need;
//! - the storage deadline (`capability/deadline.rs`) cuts every storage call off before
//!   the timeout, so a hung backend is an error the plugin can answer, not a 504;
//! - the store's epoch callback yields to tokio every tick, so a guest that never returns
//!   cannot monopolise a worker thread, and `tokio::time::timeout` can drop (cancel) it at
//!   the deadline — the same timeout also covers host calls that hang;
//! - the [`MemoryLimiter`](crate::state::MemoryLimiter) refuses growth past the plugin's
//!   `max_memory` and remembers it, so the request reads as "memory limit" however it
//!   then ends (a trap, or under load the deadline);
//! - the store is dropped on return: the pooling allocator recycles the slot, nothing
//!   survives into the next request.

use crate::admission::{Admission, Refused};
use crate::bindings::{Request, Response};
use crate::capability::config::ConfigCtx;
use crate::capability::deadline;
use crate::capability::log::LogSink;
use crate::plugin::LoadedPlugin;
use crate::state::State;
use std::sync::Arc;
use wasmtime::{Engine, Store, UpdateDeadline};

/// How a plugin call failed. The detail strings are for the host's log only; clients
/// get the generic messages in `http/error.rs`.
#[derive(Debug)]
pub enum InvokeError {
    /// The plugin did not answer within its `timeout`.
    Timeout,
    /// The plugin tried to grow its memory past `max_memory`, and trapped.
    MemoryLimit,
    /// The plugin trapped (panic, unreachable, out-of-bounds, ...) or instantiation failed.
    Trapped(String),
    /// No instance slot or memory budget freed within the queue timeout.
    AtCapacity,
    /// The plugin ran `limit` requests already and none ended within the queue timeout.
    PluginAtCapacity { limit: u32 },
    /// The response body is larger than the plugin's `max_response`.
    ResponseTooLarge { size: usize, limit: u64 },
    /// The component could not be compiled on its first request (`--compile lazy`).
    Unavailable(String),
    /// The plugin called `exit` (WASI `exit` / `std::process::exit`) before answering.
    Exited(i32),
}

/// Waits for admission (`admission.rs`), then instantiates `plugin` in a fresh store and
/// calls its handler with `request`, for at most the plugin's timeout (counted from
/// admission), and never past `deadline`.
pub async fn invoke(
    engine: &Engine,
    admission: &Admission,
    plugin: &LoadedPlugin,
    request: Request,
    deadline: Option<std::time::Instant>,
) -> Result<Response, InvokeError> {
    let pre = plugin.pre.get().await.map_err(|why| InvokeError::Unavailable(why.to_owned()))?;
    let _admitted =
        admission.admit(&plugin.id, &plugin.gate, plugin.limits.max_memory, deadline).await.map_err(|refused| {
            match refused {
                Refused::PluginAtCapacity { limit } => InvokeError::PluginAtCapacity { limit },
                Refused::HostAtCapacity => InvokeError::AtCapacity,
            }
        })?;
    let request_id: Arc<str> = request.request_id.as_str().into();
    let sink = LogSink::new(plugin.id.clone(), request_id, plugin.secret_values.clone());
    let state = State::new(
        ConfigCtx::new(plugin.config.clone()),
        plugin.grants.clone(),
        &sink,
        plugin.limits.max_memory,
        plugin.limits.max_host_io,
    );
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));

    let call = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance.plughost_plugin_handler().call_handle(&mut store, &request).await
    };
    let timeout = deadline
        .map(|d| d.saturating_duration_since(std::time::Instant::now()))
        .map_or(plugin.limits.timeout, |left| left.min(plugin.limits.timeout));
    let storage_deadline = std::time::Instant::now() + timeout.saturating_sub(deadline::reserve(timeout));
    let outcome = tokio::time::timeout(timeout, deadline::scope(storage_deadline, call)).await;
    sink.finish();

    // A plugin that hit its memory limit is reported as such however the request ended:
    // under load the trap that follows a refused growth may come after the deadline, and
    // "timeout" would then blame the clock for what the memory limit did.
    let memory_limit_hit = store.data().limiter.was_hit();
    match outcome {
        Err(_elapsed) if memory_limit_hit => Err(InvokeError::MemoryLimit),
        Err(_elapsed) => Err(InvokeError::Timeout),
        Ok(Ok(response)) if response.body.len() as u64 > plugin.limits.max_response => {
            Err(InvokeError::ResponseTooLarge { size: response.body.len(), limit: plugin.limits.max_response })
        }
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) if error.is::<wasmtime_wasi::I32Exit>() => {
            Err(InvokeError::Exited(error.downcast_ref::<wasmtime_wasi::I32Exit>().map_or(0, |exit| exit.0)))
        }
        Ok(Err(error)) if memory_limit_hit => {
            tracing::debug!(plugin = %plugin.id, error = format!("{error:?}"), "trap after memory limit");
            Err(InvokeError::MemoryLimit)
        }
        Ok(Err(error)) if error.is::<wasmtime::PoolConcurrencyLimitError>() => Err(InvokeError::AtCapacity),
        Ok(Err(error)) => Err(InvokeError::Trapped(format!("{error:?}"))),
    }
}
