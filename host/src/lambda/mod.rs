//! The Lambda entry: the same [`App`] behind the Lambda runtime API, with `lambda_http`
//! turning API Gateway (REST v1, HTTP v2), Function URL and ALB events into requests and
//! shaping each response for the event it answers.
//!
//! - `mod.rs`     — the event loop: one invocation at a time (Lambda's model), each
//!   capped by the invocation's deadline so the host answers (504) before Lambda kills it;
//! - `convert.rs` — event <-> `http` conversions (the only file that touches `lambda_http`
//!   request/response types).
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
    let LambdaEvent { payload, context } = event;
    if is_s3_notification(&payload) {
        tracing::info!(request_id = context.request_id, "S3 notification: checking the deployment now");
        let published = app.reload_and_log(true).await;
        *refresher.last_check.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        return Ok(serde_json::json!({ "reloaded": published, "generation": app.table().generation }));
    }
    refresher.maybe_start(&app);
    let request: LambdaRequest = serde_json::from_value(payload).map_err(|error| {
        tracing::warn!(request_id = context.request_id, %error, "invocation is not an HTTP event");
        format!("plughost answers API Gateway, Function URL and ALB events; this is not one: {error}")
    })?;
    let mut adapter = Adapter::from(service_fn(move |request: lambda_http::Request| answer(app.clone(), request)));
    let response = adapter.call(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

/// `{"Records": [{"eventSource": "aws:s3", ...}]}`: what S3 sends when the manifest is written.
fn is_s3_notification(payload: &serde_json::Value) -> bool {
    let records = payload.get("Records").and_then(|r| r.as_array());
    records
        .is_some_and(|records| records.iter().any(|r| r.get("eventSource").and_then(|s| s.as_str()) == Some("aws:s3")))
}

/// The app's answer to one HTTP event, within the invocation's deadline. Request ids are
/// Lambda's, so the host's and the plugin's log lines match the Lambda logs.
async fn answer(
    app: Arc<App>,
    request: lambda_http::Request,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, Infallible> {
    let context = request.lambda_context();
    let deadline = request_deadline(context.deadline);
    let response = match convert::to_app_request(request) {
        Ok(request) => app.handle_until(request, &context.request_id, deadline).await,
        Err(reason) => app.refuse(crate::http::HostError::BadRequest { reason }, &context.request_id),
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
    fn s3_notifications_are_told_from_http_events() {
        let s3: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/lambda/s3-put-manifest.json")).unwrap();
        assert!(is_s3_notification(&s3));
        let http: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/lambda/apigw-rest-v1-get.json")).unwrap();
        assert!(!is_s3_notification(&http));
    }
}
