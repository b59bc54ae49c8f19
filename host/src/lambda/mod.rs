//! The Lambda entry: the same [`App`] behind the Lambda runtime API, with `lambda_http`
//! turning API Gateway (REST v1, HTTP v2), Function URL and ALB events into requests and
//! shaping each response for the event it answers.
//!
//! - `mod.rs`     — the event loop: one invocation at a time (Lambda's model), each
//!   capped by the invocation's deadline so the host answers (504) before Lambda kills it;
//!   it tells event sources (`records.rs`) from HTTP events and hands HTTP ones to
//!   `lambda_http`'s adapter;
//! - `convert.rs` — what is done to an HTTP event before and after the app sees it:
//!   validation and normalisation of the raw event, and the response shaped for its origin;
//! - `records.rs` — every other event source (S3, SQS, SNS, DynamoDB streams, EventBridge
//!   schedules and buses) turned into plugin events, and what each source gets back;
//! - `failure.rs` — why an invocation failed, named (`errorType`) and logged once.
//!
//! Serving a deployment in S3, the host checks for a new version (one conditional GET) on
//! an invocation when `refresh` has passed since the last check — in a background task,
//! so no request waits for it — and at once when invoked by an S3 event notification
//! (the bucket notifies the function when the manifest is written).
//!
//! Started by `plughost lambda`, or by `plughost` with no command when the Lambda
//! runtime's `AWS_LAMBDA_RUNTIME_API` is set (the deployed `bootstrap`).

mod convert;
pub mod failure;
pub mod records;

use crate::app::App;
use failure::Failure;
use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent, Service, service_fn};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, RequestExt};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The longest an invocation's answer waits for its spans to be exported.
const FLUSH_BOUND: Duration = Duration::from_secs(1);

/// Kept free before the invocation's deadline: time to build and return the 504.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// Serves invocations until the runtime stops the process.
pub async fn run(app: Arc<App>, refresh: Duration) -> anyhow::Result<()> {
    let refresher =
        Arc::new(Refresher { refresh, last_check: Mutex::new(Instant::now()), busy: AtomicBool::new(false) });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (app, refresher) = (app.clone(), refresher.clone());
        async move {
            let answer = invocation(app.clone(), refresher, event).await;
            write_metrics(&app);
            // The runtime may freeze the process once it has the answer: spans go first —
            // but a collector that hangs must not hold the answer back for long.
            if crate::observability::telemetry::traces::exporting() {
                let flush = tokio::task::spawn_blocking(crate::observability::telemetry::traces::flush);
                if tokio::time::timeout(FLUSH_BOUND, flush).await.is_err() {
                    tracing::warn!("spans not exported within {FLUSH_BOUND:?}; answering without waiting for them");
                }
            }
            answer
        }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("Lambda runtime stopped: {e}"))
}

/// The invocation's metrics as EMF lines on stdout, where CloudWatch reads them
/// (`observability/telemetry/emf.rs`): written once, before the answer goes back to the runtime.
fn write_metrics(app: &App) {
    use std::io::Write;
    let lines = app.plugin_engine().metrics().take_emf_lines();
    if lines.is_empty() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        // Nothing to do if stdout is gone: the runtime is shutting the process down.
        let _ignored = writeln!(stdout, "{line}");
    }
    let _ignored = stdout.flush();
}

/// When the deployment was last checked for a new version, and whether a check runs.
struct Refresher {
    refresh: Duration,
    last_check: Mutex<Instant>,
    busy: AtomicBool,
}

impl Refresher {
    /// Starts a background reload if `refresh` has passed and none is running.
    fn maybe_start(self: &Arc<Self>, app: &Arc<App>) {
        if app.source().file().is_some() {
            return;
        }
        {
            let mut last = self.last_check.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < self.refresh || self.busy.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Instant::now();
        }
        let (app, this) = (app.clone(), self.clone());
        tokio::spawn(async move {
            app.reload_and_log(false).await;
            this.busy.store(false, Ordering::Release);
        });
    }
}

/// One invocation. A task payload (Step Functions) runs a plugin's task (`task.rs`) and
/// answers its output, or fails with the task's error name as the `errorType` a state
/// machine's `Retry`/`Catch` match. An event source's records (`events.rs`) go to the
/// plugins whose triggers want them; an S3 notification of the deployment's manifest
/// reloads it now. An
/// HTTP event (API Gateway REST/HTTP, Function URL, ALB) goes through `lambda_http`'s
/// adapter — the same one `lambda_http::run` uses — to the app; anything else is refused
/// with an error Lambda records, and the host keeps serving.
async fn invocation(
    app: Arc<App>,
    refresher: Arc<Refresher>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Diagnostic> {
    if let Some(task) = event.payload.get("plughost_task") {
        refresher.maybe_start(&app);
        let deadline = request_deadline(event.context.deadline);
        return task_invocation(&app, task, &event.context.request_id, deadline).await;
    }
    let request_id = event.context.request_id.clone();
    other_invocation(app, refresher, event).await.map_err(|(source, failure)| {
        failure.log(source, &request_id);
        Diagnostic::from(failure)
    })
}

/// `{"plughost_task": {"plugin": "<id>", "input": <JSON>}}`: the plugin's output, or a
/// failure whose `errorType` is the task's error name.
async fn task_invocation(
    app: &App,
    task: &serde_json::Value,
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<serde_json::Value, Diagnostic> {
    let (Some(plugin), Some(input)) = (task.get("plugin").and_then(|p| p.as_str()), task.get("input")) else {
        return Err(Diagnostic {
            error_type: "plughost.InvalidInput".into(),
            error_message: "a plughost_task payload needs `plugin` (a plugin id) and `input` (any JSON)".into(),
        });
    };
    crate::task::run(app, plugin, input, request_id, deadline)
        .await
        .map_err(|failure| Diagnostic { error_type: failure.name, error_message: failure.message })
}

/// An event source's invocation, or an HTTP event; on failure, the source's name (for the
/// log line) and why.
async fn other_invocation(
    app: Arc<App>,
    refresher: Arc<Refresher>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, (&'static str, Failure)> {
    let LambdaEvent { mut payload, context } = event;
    match records::recognise(&payload) {
        Some(Ok(source)) => {
            let name = source.name();
            return event_source(&app, &refresher, source, &context).await.map_err(|failure| (name, failure));
        }
        Some(Err(failure)) => return Err(("event", failure)),
        None => {}
    }
    refresher.maybe_start(&app);
    let rejection = convert::prepare_event(&mut payload).err();
    let request: LambdaRequest = serde_json::from_value(payload).map_err(|error| {
        let message = format!(
            "plughost answers API Gateway, Function URL and ALB events, S3, SQS, SNS, DynamoDB stream \
             and EventBridge (plughost_schedule / plughost_bus) events, and plughost_task payloads; this is \
             none of them: {error}"
        );
        ("unknown", Failure::new(failure::Kind::UnsupportedEvent, message))
    })?;
    let mut adapter =
        Adapter::from(service_fn(move |request: lambda_http::Request| answer(app.clone(), request, rejection.clone())));
    let unexpected = |error: String| ("http", Failure::new(failure::Kind::UnsupportedEvent, error));
    let response = adapter.call(LambdaEvent::new(request, context)).await.map_err(|e| unexpected(e.to_string()))?;
    serde_json::to_value(response).map_err(|e| unexpected(e.to_string()))
}

/// One invocation by an event source, within its deadline. `Err` fails the invocation,
/// so Lambda retries it (sources whose partial failures are reported answer `Ok`).
async fn event_source(
    app: &Arc<App>,
    refresher: &Arc<Refresher>,
    source: records::AwsEvent,
    context: &lambda_runtime::Context,
) -> Result<serde_json::Value, Failure> {
    let deadline = request_deadline(context.deadline);
    let request_id = context.request_id.as_str();
    match source {
        records::AwsEvent::Records { event_source, records } if event_source == "aws:s3" => {
            s3_notification(app, refresher, &records, request_id, deadline).await
        }
        records::AwsEvent::Records { event_source, records } => {
            refresher.maybe_start(app);
            records::records(app, &event_source, &records, request_id, deadline).await
        }
        records::AwsEvent::Schedule { plugin, name, time } => {
            refresher.maybe_start(app);
            records::schedule(app, &plugin, &name, time, request_id, deadline).await
        }
        records::AwsEvent::Bus { bus, event } => {
            refresher.maybe_start(app);
            records::bus(app, &bus, &event, request_id, deadline).await
        }
    }
}

/// The bucket and decoded key (S3 form-encodes keys) of an S3 notification record.
fn s3_object(record: &serde_json::Value) -> (String, String) {
    let text = |pointer: &str| record.pointer(pointer).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let key = text("/s3/object/key").replace('+', " ");
    let key = percent_encoding::percent_decode_str(&key).decode_utf8_lossy().into_owned();
    (text("/s3/bucket/name"), key)
}

/// An S3 event notification. A write of this deployment's manifest reloads it now; every
/// other object is an object event of the label bound to its bucket and prefix
/// (`records::records`). The invocation fails when an object is for no label or
/// a plugin failed, naming it, so Lambda's retries and the function's failure destination
/// keep the event instead of it being dropped silently.
async fn s3_notification(
    app: &Arc<App>,
    refresher: &Refresher,
    records: &[serde_json::Value],
    request_id: &str,
    deadline: Option<Instant>,
) -> Result<serde_json::Value, Failure> {
    let manifest = app.source().deployment();
    let (mut for_manifest, mut objects) = (false, Vec::new());
    for record in records {
        let (bucket, key) = s3_object(record);
        if manifest.is_some_and(|m| m.bucket == bucket && m.key == key) {
            for_manifest = true;
        } else {
            objects.push(record.clone());
        }
    }
    let mut answer = serde_json::json!({ "reloaded": false, "generation": app.table().generation });
    if for_manifest {
        tracing::info!(request_id, "S3 notification for the manifest: checking the deployment now");
        let published = app.reload_and_log(true).await;
        *refresher.last_check.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        answer = serde_json::json!({ "reloaded": published, "generation": app.table().generation });
    }
    if objects.is_empty() {
        return Ok(answer);
    }
    let delivered = records::records(app, "aws:s3", &objects, request_id, deadline).await?;
    answer["delivered"] = delivered["delivered"].clone();
    Ok(answer)
}

/// The app's answer to one HTTP event, within the invocation's deadline. Request ids are
/// Lambda's, so the host's and the plugin's log lines match the Lambda logs. An event
/// [`convert::prepare_event`] refused (`rejection`) is answered 400 here, so the response
/// is still shaped for its origin.
async fn answer(
    app: Arc<App>,
    request: lambda_http::Request,
    rejection: Option<String>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, Infallible> {
    let context = request.lambda_context();
    let deadline = request_deadline(context.deadline);
    let (method, path) = (request.method().clone(), request.raw_http_path().to_owned());
    let bad_request =
        |reason| app.refuse(crate::http::HostError::BadRequest { reason }, &method, &path, &context.request_id);
    let response = match rejection {
        Some(reason) => {
            tracing::warn!(request_id = context.request_id, reason, "event refused before routing");
            bad_request(reason)
        }
        None => match convert::to_app_request(request) {
            Ok(request) => app.handle_until(request, &context.request_id, deadline).await,
            Err(reason) => bad_request(reason),
        },
    };
    Ok(convert::to_lambda_response(response))
}

/// The `Instant` by which the app must answer: the invocation's deadline (epoch
/// milliseconds) minus [`DEADLINE_MARGIN`].
fn request_deadline(deadline_ms: u64) -> Option<Instant> {
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline.duration_since(SystemTime::now()).ok()?;
    Some(Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_keeps_a_margin_and_a_past_deadline_is_now() {
        let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
        let deadline = request_deadline(now_ms + 3_000).unwrap();
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_millis(2_750) && left > Duration::from_millis(2_500), "{left:?}");
        assert!(request_deadline(now_ms - 1_000).is_none());
    }

    #[test]
    fn s3_notifications_are_told_from_http_events_and_name_their_objects() {
        let recognised = |text: &str| records::recognise(&serde_json::from_str(text).unwrap());
        let Some(Ok(records::AwsEvent::Records { records, .. })) =
            recognised(include_str!("../../../tests/fixtures/lambda/s3-put-manifest.json"))
        else {
            panic!("an S3 notification")
        };
        assert_eq!(s3_object(&records[0]), ("deployments".to_owned(), "prod/manifest.toml".to_owned()));
        assert!(recognised(include_str!("../../../tests/fixtures/lambda/apigw-rest-v1-get.json")).is_none());
        let encoded = serde_json::json!({ "Records": [{ "eventSource": "aws:s3", "eventTime": "1970-01-01T00:00:00.000Z",
            "s3": { "bucket": { "name": "b" }, "object": { "key": "uploads/my+photo%C3%A9.png" } } }] });
        let Some(Ok(records::AwsEvent::Records { records, .. })) = records::recognise(&encoded) else {
            panic!("an S3 notification")
        };
        assert_eq!(s3_object(&records[0]), ("b".to_owned(), "uploads/my photoé.png".to_owned()));
    }

    #[test]
    fn an_sqs_batch_with_a_record_without_its_message_id_is_refused_whole_as_malformed() {
        let record = |id: Option<&str>| {
            let mut record = serde_json::json!({ "body": "b", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:1:jobs", "attributes": {}, "messageAttributes": {} });
            if let Some(id) = id {
                record["messageId"] = id.into();
            }
            record
        };
        for missing in [None, Some("")] {
            let batch = serde_json::json!({ "Records": [record(Some("m1")), record(missing)] });
            let Some(Err(failure)) = records::recognise(&batch) else { panic!("accepted {batch}") };
            assert_eq!(failure.kind.error_type(), "plughost.InvalidEvent");
            assert!(failure.message.contains("record 1 has no messageId"), "{}", failure.message);
        }
        let whole = serde_json::json!({ "Records": [record(Some("m1")), record(Some("m2"))] });
        assert!(matches!(records::recognise(&whole), Some(Ok(records::AwsEvent::Records { .. }))));
    }
}
