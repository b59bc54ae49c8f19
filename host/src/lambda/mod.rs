//! The Lambda entry: the same [`App`] behind the Lambda runtime API, with `lambda_http`
//! turning API Gateway (REST v1, HTTP v2), Function URL and ALB events into requests and
//! shaping each response for the event it answers.
//!
//! - `mod.rs`     — the event loop: one invocation at a time (Lambda's model), each
//!   capped by the invocation's deadline so the host answers (504) before Lambda kills it;
//!   it tells HTTP events from S3 notifications and hands HTTP ones to `lambda_http`'s
//!   adapter;
//! - `convert.rs` — what is done to an HTTP event before and after the app sees it:
//!   validation and normalisation of the raw event, and the response shaped for its origin.
//!
//! Serving a deployment in S3, the host checks for a new version (one conditional GET) on
//! an invocation when `refresh` has passed since the last check — in a background task,
//! so no request waits for it — and at once when invoked by an S3 event notification
//! (the bucket notifies the function when the manifest is written).
//!
//! Started by `plughost lambda`, or by `plughost` with no command when the Lambda
//! runtime's `AWS_LAMBDA_RUNTIME_API` is set (the deployed `bootstrap`).

mod convert;

use crate::app::App;
use lambda_http::lambda_runtime::{self, LambdaEvent, Service, service_fn};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, RequestExt};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Kept free before the invocation's deadline: time to build and return the 504.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// Serves invocations until the runtime stops the process.
pub async fn run(app: Arc<App>, refresh: Duration) -> anyhow::Result<()> {
    let refresher =
        Arc::new(Refresher { refresh, last_check: Mutex::new(Instant::now()), busy: AtomicBool::new(false) });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        invocation(app.clone(), refresher.clone(), event)
    }))
    .await
    .map_err(|e| anyhow::anyhow!("Lambda runtime stopped: {e}"))
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

/// One invocation. An S3 event notification reloads the deployment now. An HTTP event
/// (API Gateway REST/HTTP, Function URL, ALB) goes through `lambda_http`'s adapter — the
/// same one `lambda_http::run` uses — to the app; anything else is refused with an error
/// Lambda records, and the host keeps serving.
async fn invocation(
    app: Arc<App>,
    refresher: Arc<Refresher>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let LambdaEvent { mut payload, context } = event;
    if let Some(objects) = s3_objects(&payload) {
        return s3_notification(&app, &refresher, &objects, &context.request_id).await;
    }
    refresher.maybe_start(&app);
    let rejection = convert::prepare_event(&mut payload).err();
    let request: LambdaRequest = serde_json::from_value(payload).map_err(|error| {
        tracing::warn!(request_id = context.request_id, %error, "invocation is not an HTTP event");
        format!("plughost answers API Gateway, Function URL and ALB events; this is not one: {error}")
    })?;
    let mut adapter =
        Adapter::from(service_fn(move |request: lambda_http::Request| answer(app.clone(), request, rejection.clone())));
    let response = adapter.call(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

/// The `(bucket, key)` of every record of an S3 event notification (`{"Records":
/// [{"eventSource": "aws:s3", ...}]}`), keys decoded (S3 form-encodes them); `None` for
/// any other event.
fn s3_objects(payload: &serde_json::Value) -> Option<Vec<(String, String)>> {
    let records = payload.get("Records")?.as_array()?;
    let s3: Vec<_> =
        records.iter().filter(|r| r.get("eventSource").and_then(|s| s.as_str()) == Some("aws:s3")).collect();
    if s3.is_empty() {
        return None;
    }
    let text = |record: &serde_json::Value, pointer: &str| {
        record.pointer(pointer).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
    };
    Some(
        s3.iter()
            .map(|record| {
                let key = text(record, "/s3/object/key").replace('+', " ");
                let key = percent_encoding::percent_decode_str(&key).decode_utf8_lossy().into_owned();
                (text(record, "/s3/bucket/name"), key)
            })
            .collect(),
    )
}

/// An S3 event notification. A write of this deployment's manifest reloads it now. Any
/// other object is not the host's business (object triggers for plugins are a later
/// feature): the invocation fails, naming the object, so Lambda's retries and the
/// function's failure destination keep the event instead of it being dropped silently.
async fn s3_notification(
    app: &Arc<App>,
    refresher: &Refresher,
    objects: &[(String, String)],
    request_id: &str,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let manifest = app.source().deployment();
    let is_manifest =
        |(bucket, key): &&(String, String)| manifest.is_some_and(|m| &m.bucket == bucket && &m.key == key);
    let others: Vec<String> = objects
        .iter()
        .filter(|object| !is_manifest(object))
        .map(|(bucket, key)| format!("s3://{bucket}/{}", crate::capability::log::escape_controls(key)))
        .collect();
    let mut answer = serde_json::json!({ "reloaded": false, "generation": app.table().generation });
    if objects.iter().any(|object| is_manifest(&object)) {
        tracing::info!(request_id, "S3 notification for the manifest: checking the deployment now");
        let published = app.reload_and_log(true).await;
        *refresher.last_check.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        answer = serde_json::json!({ "reloaded": published, "generation": app.table().generation });
    }
    if others.is_empty() {
        return Ok(answer);
    }
    let objects = others.join(", ");
    tracing::warn!(
        request_id,
        objects,
        "S3 notification for objects other than this deployment's manifest; not handled"
    );
    Err(format!("S3 notification for {objects}: only this deployment's manifest is handled (no reload)").into())
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
        let s3: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/lambda/s3-put-manifest.json")).unwrap();
        assert_eq!(s3_objects(&s3), Some(vec![("deployments".to_owned(), "prod/manifest.toml".to_owned())]));
        let http: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/lambda/apigw-rest-v1-get.json")).unwrap();
        assert_eq!(s3_objects(&http), None);
        let encoded = serde_json::json!({ "Records": [{ "eventSource": "aws:s3",
            "s3": { "bucket": { "name": "b" }, "object": { "key": "uploads/my+photo%C3%A9.png" } } }] });
        assert_eq!(s3_objects(&encoded), Some(vec![("b".to_owned(), "uploads/my photoé.png".to_owned())]));
    }
}
