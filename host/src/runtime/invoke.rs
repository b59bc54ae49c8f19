//! Runs one request, event or task on one plugin: a fresh `Store` and instance, the call
//! of its `handler`, `events` or `task` export under the plugin's limits, and a
//! classification of every way that can end badly. HTTP, events and tasks share all of it
//! ([`invoke`], [`deliver`], [`run_task`]).
//!
//! Why each mechanism:
//! - admission first (`admission.rs`): the plugin's concurrency cap, an instance slot and
//!   its `max_memory` from the host's budget, or a 503 after a bounded wait — so no
//!   plugin takes what the others need;
//! - the storage deadline (`capability/request_context.rs`) cuts every storage call off before
//!   the timeout, so a hung backend is an error the plugin can answer, not a 504;
//! - the store's epoch callback yields to tokio every tick, so a guest that never returns
//!   cannot monopolise a worker thread, and `tokio::time::timeout` can drop (cancel) it at
//!   the deadline — the same timeout also covers host calls that hang;
//! - the [`MemoryLimiter`](crate::capability::state::MemoryLimiter) refuses growth past the plugin's
//!   `max_memory` and remembers it, so the request reads as "memory limit" however it
//!   then ends (a trap, or under load the deadline);
//! - the store is dropped on return: the pooling allocator recycles the slot, nothing
//!   survives into the next request.

use crate::bindings::{Request, Response, wit_events, wit_task};
use crate::capability::config::ConfigCtx;
use crate::capability::invocation::InvocationCtx;
use crate::capability::log::LogSink;
use crate::capability::outbound::{CallOrigin, OutboundCtx};
use crate::capability::request_context::RequestContext;
use crate::capability::state::State;
use crate::observability::telemetry::{ErrorKind, Phase};
use crate::runtime::admission::{Admission, Refused};
use crate::runtime::plugin::LoadedPlugin;
use std::time::Instant;
use tracing::Instrument;
use wasmtime::{Engine, Store, UpdateDeadline};

/// How a plugin call failed. The detail strings are for the host's log only; clients
/// get the generic messages in `http/host_error.rs`.
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

impl std::fmt::Display for InvokeError {
    /// For log lines and event failure reasons (never shown to HTTP clients).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => write!(f, "timed out"),
            Self::MemoryLimit => write!(f, "exceeded its memory limit"),
            Self::Trapped(detail) => write!(f, "trapped: {detail}"),
            Self::AtCapacity => write!(f, "no instance slot or memory budget freed in time"),
            Self::PluginAtCapacity { limit } => write!(f, "at its max_concurrency ({limit}); none ended in time"),
            Self::ResponseTooLarge { size, limit } => {
                write!(f, "response of {size} bytes is over max_response {limit}")
            }
            Self::Unavailable(detail) => write!(f, "unavailable: {detail}"),
            Self::Exited(status) => write!(f, "exited with status {status} before answering"),
        }
    }
}

impl InvokeError {
    /// The metrics' name for this failure (`observability/telemetry/metrics.rs`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Timeout => ErrorKind::Timeout,
            Self::MemoryLimit => ErrorKind::MemoryLimit,
            Self::Trapped(_) => ErrorKind::Trap,
            Self::AtCapacity | Self::PluginAtCapacity { .. } => ErrorKind::AtCapacity,
            Self::ResponseTooLarge { .. } => ErrorKind::ResponseTooLarge,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Exited(_) => ErrorKind::Exited,
        }
    }
}

/// The most of a plugin's failure reason the host keeps (logs, dead letters).
pub const MAX_FAILURE_REASON: usize = 1024;

/// What to call on the fresh instance.
enum Call<'a> {
    Request(&'a Request),
    Event(&'a wit_events::Event),
    Task(&'a str),
}

/// What the call returned.
enum Answer {
    Response(Response),
    /// The plugin's verdict on an event: `Err` asks for redelivery.
    Handled(Result<(), String>),
    /// A task's output, or its failure.
    Finished(Result<String, wit_task::Failure>),
}

impl Answer {
    /// The texts that go on to the host's log, dead letters and Lambda's error record (an
    /// event's failure reason, a task's failure) with the plugin's secret values replaced,
    /// as in its own log lines.
    fn redacted(self, sink: &LogSink) -> Self {
        match self {
            Self::Handled(Err(reason)) => Self::Handled(Err(sink.redact(&reason).into_owned())),
            Self::Finished(Err(failure)) => Self::Finished(Err(wit_task::Failure {
                name: sink.redact(&failure.name).into_owned(),
                message: sink.redact(&failure.message).into_owned(),
            })),
            answer => answer,
        }
    }
}

/// Waits for admission (`admission.rs`), then instantiates `plugin` in a fresh store and
/// calls its handler with `request`, for at most the plugin's timeout (counted from
/// admission), and never past `deadline`. `origin` is where the call came from (its
/// outgoing requests' chain depth and trace).
pub async fn invoke(
    engine: &Engine,
    admission: &Admission,
    plugin: &LoadedPlugin,
    request: Request,
    deadline: Option<std::time::Instant>,
    origin: CallOrigin,
) -> Result<Response, InvokeError> {
    match run(engine, admission, plugin, &request.request_id, Call::Request(&request), deadline, origin).await? {
        Answer::Response(response) if response.body.len() as u64 > plugin.limits.max_response => {
            Err(InvokeError::ResponseTooLarge { size: response.body.len(), limit: plugin.limits.max_response })
        }
        Answer::Response(response) => Ok(response),
        Answer::Handled(_) | Answer::Finished(_) => unreachable!("a request is answered with a response"),
    }
}

/// [`invoke`] for an event: calls the plugin's `events` export with `event` on a fresh
/// instance, under the same admission and limits. `Ok(Err(reason))` is the plugin asking
/// for redelivery; `Err` is everything that stopped it from answering. `log_id` tags the
/// plugin's log lines (the invocation's request id and the event id).
pub async fn deliver(
    engine: &Engine,
    admission: &Admission,
    plugin: &LoadedPlugin,
    event: &wit_events::Event,
    log_id: &str,
    deadline: Option<std::time::Instant>,
    origin: CallOrigin,
) -> Result<Result<(), String>, InvokeError> {
    match run(engine, admission, plugin, log_id, Call::Event(event), deadline, origin).await? {
        // The reason is the plugin's: kept short before it reaches logs and dead letters.
        Answer::Handled(verdict) => {
            Ok(verdict.map_err(|reason| crate::observability::escape::truncate(&reason, MAX_FAILURE_REASON).to_owned()))
        }
        Answer::Response(_) | Answer::Finished(_) => unreachable!("an event is answered with a verdict"),
    }
}

/// [`invoke`] for a task: calls the plugin's `task` export with `input` (JSON text) on a
/// fresh instance, under the same admission and limits. `Ok(Err(failure))` is the task
/// failing (its message cut to [`MAX_FAILURE_REASON`]); `Err` is everything that stopped
/// it from answering. An output over the plugin's `max_response` is refused like a
/// response body.
pub async fn run_task(
    engine: &Engine,
    admission: &Admission,
    plugin: &LoadedPlugin,
    input: &str,
    log_id: &str,
    deadline: Option<std::time::Instant>,
    origin: CallOrigin,
) -> Result<Result<String, wit_task::Failure>, InvokeError> {
    match run(engine, admission, plugin, log_id, Call::Task(input), deadline, origin).await? {
        Answer::Finished(Ok(output)) if output.len() as u64 > plugin.limits.max_response => {
            Err(InvokeError::ResponseTooLarge { size: output.len(), limit: plugin.limits.max_response })
        }
        Answer::Finished(outcome) => Ok(outcome.map_err(|failure| wit_task::Failure {
            name: crate::observability::escape::truncate(&failure.name, 128).to_owned(),
            message: crate::observability::escape::truncate(&failure.message, MAX_FAILURE_REASON).to_owned(),
        })),
        Answer::Response(_) | Answer::Handled(_) => unreachable!("a task is answered with its outcome"),
    }
}

async fn run(
    engine: &Engine,
    admission: &Admission,
    plugin: &LoadedPlugin,
    log_id: &str,
    input: Call<'_>,
    deadline: Option<std::time::Instant>,
    origin: CallOrigin,
) -> Result<Answer, InvokeError> {
    let pre = plugin.pre.get().await.map_err(|why| InvokeError::Unavailable(why.to_owned()))?;
    let _admitted =
        admission.admit(&plugin.id, &plugin.gate, plugin.limits.max_memory, deadline).await.map_err(|refused| {
            match refused {
                Refused::PluginAtCapacity { limit } => InvokeError::PluginAtCapacity { limit },
                Refused::HostAtCapacity => InvokeError::AtCapacity,
            }
        })?;
    let sink = LogSink::new(plugin.id.clone(), log_id.into(), plugin.secret_values.clone());
    // The timeout counts from here (after admission): the plugin learns the same deadline
    // the host enforces, so what it claims expires when it can no longer act.
    let timeout = deadline
        .map(|d| d.saturating_duration_since(std::time::Instant::now()))
        .map_or(plugin.limits.timeout, |left| left.min(plugin.limits.timeout));
    let ends_at = Instant::now() + timeout;
    // Host calls are counted in the plugin's metrics, cut off before the deadline, and traced
    // under the plugin's innermost open span (`capability/request_context.rs`).
    let request = RequestContext::for_call(ends_at, timeout, plugin.metrics.clone());
    let outbound = OutboundCtx::new(
        &sink,
        plugin.outbound.clone(),
        plugin.limits.max_outbound_requests,
        plugin.limits.max_outbound_response,
        origin,
        plugin.metrics.clone(),
        plugin.lookups.clone(),
        request.clone(),
    );
    let state = State::new(
        ConfigCtx::new(plugin.config.clone()),
        InvocationCtx::ending_in(timeout),
        plugin.grants.clone(),
        &sink,
        plugin.limits.max_memory,
        plugin.limits.max_host_io,
        outbound,
        request,
    );
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));

    // Boxed once: the timeout around it then moves a pointer, not the
    // whole call's state.
    let call = Box::pin(async {
        let missing = |export| wasmtime::format_err!("the component does not export `{export}`");
        let started = Instant::now();
        let instance =
            pre.instance_pre.instantiate_async(&mut store).instrument(tracing::debug_span!("instantiate")).await?;
        plugin.metrics.phase(Phase::Instantiate, started.elapsed());
        let started = Instant::now();
        let answer = match input {
            Call::Request(request) => {
                let indices = pre.handler.as_ref().ok_or_else(|| missing(crate::bindings::HANDLER_EXPORT))?;
                let handler = indices.load(&mut store, &instance)?;
                let span = tracing::debug_span!("call", export = crate::bindings::HANDLER_EXPORT);
                handler.call_handle(&mut store, request).instrument(span).await.map(Answer::Response)
            }
            Call::Event(event) => {
                let indices = pre.events.as_ref().ok_or_else(|| missing(crate::bindings::EVENTS_EXPORT))?;
                let events = indices.load(&mut store, &instance)?;
                let span = tracing::debug_span!("call", export = crate::bindings::EVENTS_EXPORT);
                events.call_handle(&mut store, event).instrument(span).await.map(Answer::Handled)
            }
            Call::Task(input) => {
                let indices = pre.task.as_ref().ok_or_else(|| missing(crate::bindings::TASK_EXPORT))?;
                let task = indices.load(&mut store, &instance)?;
                let span = tracing::debug_span!("call", export = crate::bindings::TASK_EXPORT);
                task.call_run(&mut store, input).instrument(span).await.map(Answer::Finished)
            }
        };
        plugin.metrics.phase(Phase::Call, started.elapsed());
        answer
    });
    let outcome = tokio::time::timeout_at(ends_at.into(), call).await;
    sink.finish();

    // A plugin that hit its memory limit is reported as such however the request ended:
    // under load the trap that follows a refused growth may come after the deadline, and
    // "timeout" would then blame the clock for what the memory limit did.
    let memory_limit_hit = store.data().limiter.was_hit();
    match outcome {
        Err(_elapsed) if memory_limit_hit => Err(InvokeError::MemoryLimit),
        Err(_elapsed) => Err(InvokeError::Timeout),
        Ok(Ok(answer)) => Ok(answer.redacted(&sink)),
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
