//! Workflow tasks: one plugin run on a JSON input for its JSON output — what a Step
//! Functions `Task` state does when it invokes the function directly with
//! `{"plughost_task": {"plugin": "<id>", "input": <JSON>}}` (`lambda/mod.rs`), and what
//! `plughost invoke <plugin> --input <json>` does locally (`main.rs`).
//!
//! The plugin's `task` export runs on a fresh instance under its limits. A plugin without
//! one but with an `events` export gets the input as a custom event (source
//! `plughost.task`, detail-type `Task`, no bus), and its output is `{}`.
//!
//! A failure carries a `name` a state machine's `Retry`/`Catch` can match: the plugin's
//! own (`OrderRejected`), or the host's — `plughost.UnknownPlugin`, `plughost.NotATask`,
//! `plughost.InvalidInput`, `plughost.InvalidOutput`, `plughost.Timeout`,
//! `plughost.MemoryLimit`, `plughost.AtCapacity`, `plughost.PluginFailed`.

use crate::app::App;
use crate::bindings::wit_events::{Custom, Event, Payload};
use crate::observability::escape::escape_controls;
use crate::observability::telemetry::{Entry, ErrorKind, traces};
use crate::runtime::invoke::{InvokeError, deliver, run_task};
use serde_json::Value;
use std::time::Instant;
use tracing::Instrument;

/// Why a task did not produce an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// What a state machine matches (`ErrorEquals`).
    pub name: String,
    /// Why, for people (logs, the workflow's error cause).
    pub message: String,
}

impl TaskFailure {
    fn host(name: &str, message: impl Into<String>) -> Self {
        Self { name: format!("plughost.{name}"), message: message.into() }
    }
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

/// A plugin's failure name: letters, digits, `.`, `_`, `-` (what Step Functions matches
/// and logs show); anything else becomes `_`, an empty name `TaskFailed`.
fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .take(128)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    if cleaned.is_empty() { "TaskFailed".into() } else { cleaned }
}

fn invoke_failure(plugin: &str, error: InvokeError) -> TaskFailure {
    let name = match &error {
        InvokeError::Timeout => "Timeout",
        InvokeError::MemoryLimit => "MemoryLimit",
        InvokeError::AtCapacity | InvokeError::PluginAtCapacity { .. } => "AtCapacity",
        InvokeError::ResponseTooLarge { .. } => "InvalidOutput",
        InvokeError::Trapped(_) | InvokeError::Exited(_) | InvokeError::Unavailable(_) => "PluginFailed",
    };
    // The detail of a trap (a backtrace) stays in the host's log.
    let message = match &error {
        InvokeError::Trapped(_) => format!("plugin `{plugin}` trapped (see the host's log)"),
        other => format!("plugin `{plugin}` {other}"),
    };
    if let InvokeError::Trapped(detail) = &error {
        tracing::error!(target: "plughost::tasks", plugin, detail = %escape_controls(detail), "task trapped");
    }
    TaskFailure::host(name, message)
}

/// Runs `plugin`'s task on `input` in the current table, by `deadline` at the latest;
/// `invocation` (a Lambda request id, `local`) tags the plugin's log lines and the one
/// `task` log line.
pub async fn run(
    app: &App,
    plugin: &str,
    input: &Value,
    invocation: &str,
    deadline: Option<Instant>,
) -> Result<Value, TaskFailure> {
    let started = Instant::now();
    let outcome = run_unlogged(app, plugin, input, invocation, deadline).await;
    let failure = outcome.as_ref().err().map(|f| escape_controls(&f.to_string()).into_owned());
    let plugin_text = escape_controls(plugin);
    let micros = started.elapsed().as_micros() as u64;
    match &failure {
        None => {
            tracing::info!(target: "plughost::tasks", plugin = %plugin_text, invocation, outcome = "ok", micros, "task")
        }
        Some(why) => tracing::warn!(
            target: "plughost::tasks", plugin = %plugin_text, invocation, outcome = "failed", failure = %why, micros, "task"
        ),
    }
    outcome
}

async fn run_unlogged(
    app: &App,
    plugin: &str,
    input: &Value,
    invocation: &str,
    deadline: Option<Instant>,
) -> Result<Value, TaskFailure> {
    let table = app.table();
    let Some(loaded) = table.plugins().iter().find(|p| p.id.as_str() == plugin) else {
        return Err(TaskFailure::host("UnknownPlugin", format!("no plugin `{}` is deployed", escape_controls(plugin))));
    };
    let span = tracing::info_span!(
        "task",
        otel.name = %format!("task {}", loaded.id),
        plugin = %loaded.id,
        invocation,
        trace_id = tracing::field::Empty,
    );
    let fallback = || crate::observability::trace_context::new_trace_id(invocation);
    let trace_id = traces::start(&span, crate::observability::trace_context::lambda_invocation().as_ref(), fallback);
    let origin = app.origin(&trace_id);
    run_loaded(app, loaded, input, invocation, deadline, origin).instrument(span).await
}

/// [`run_unlogged`] on the plugin found, in its span.
async fn run_loaded(
    app: &App,
    loaded: &crate::runtime::plugin::LoadedPlugin,
    input: &Value,
    invocation: &str,
    deadline: Option<Instant>,
    origin: crate::capability::outbound::CallOrigin,
) -> Result<Value, TaskFailure> {
    let plugin = loaded.id.as_str();
    let engine = app.plugin_engine();
    let exports = loaded.pre.get().await.map_err(|why| TaskFailure::host("PluginFailed", why.to_owned()))?;
    let input_text = input.to_string();
    if input_text.len() > app.max_body() {
        return Err(TaskFailure::host(
            "InvalidInput",
            format!(
                "the input is {} bytes; the host accepts at most {} (--max-body)",
                input_text.len(),
                app.max_body()
            ),
        ));
    }
    let started = Instant::now();
    let count = |outcome: Result<(), ErrorKind>| loaded.metrics.invocation(Entry::Task, outcome, started.elapsed());
    if exports.task.is_some() {
        let outcome =
            run_task(engine.engine(), engine.admission(), loaded, &input_text, invocation, deadline, origin.clone())
                .await
                .inspect_err(|e| count(Err(e.kind())))
                .map_err(|e| invoke_failure(plugin, e))?;
        let output = outcome
            .inspect_err(|_| count(Err(ErrorKind::Rejected)))
            .map_err(|failure| TaskFailure { name: clean_name(&failure.name), message: failure.message })?;
        let output = serde_json::from_str(&output).map_err(|e| {
            TaskFailure::host("InvalidOutput", format!("plugin `{plugin}` returned output that is not JSON: {e}"))
        });
        count(output.as_ref().map(|_| ()).map_err(|_| ErrorKind::InvalidResponse));
        return output;
    }
    if exports.events.is_some() {
        let event = Event {
            id: invocation.to_owned(),
            payload: Payload::Custom(Custom {
                bus: String::new(),
                source: "plughost.task".into(),
                detail_type: "Task".into(),
                detail: input_text,
                time: crate::capability::clock::unix_seconds(),
            }),
        };
        let verdict = deliver(engine.engine(), engine.admission(), loaded, &event, invocation, deadline, origin)
            .await
            .inspect_err(|e| count(Err(e.kind())))
            .map_err(|e| invoke_failure(plugin, e))?;
        count(verdict.as_ref().map(|_| ()).map_err(|_| ErrorKind::Rejected));
        return verdict
            .map(|()| Value::Object(Default::default()))
            .map_err(|reason| TaskFailure { name: "TaskFailed".into(), message: reason });
    }
    Err(TaskFailure::host(
        "NotATask",
        format!(
            "plugin `{plugin}` exports neither a task nor an event handler (export one with `plughost_sdk::task!`)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_are_what_a_state_machine_can_match() {
        assert_eq!(clean_name("OrderRejected"), "OrderRejected");
        assert_eq!(clean_name("shop.Out of stock!"), "shop.Out_of_stock_");
        assert_eq!(clean_name(""), "TaskFailed");
        assert_eq!(clean_name(&"x".repeat(500)).len(), 128);
        assert_eq!(invoke_failure("p", InvokeError::Timeout).name, "plughost.Timeout");
        let trapped = invoke_failure("p", InvokeError::Trapped("secret backtrace".into()));
        assert_eq!(trapped.name, "plughost.PluginFailed");
        assert!(!trapped.message.contains("secret"), "a trap's detail stays in the host's log");
    }
}
