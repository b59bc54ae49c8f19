//! The Lambda entry: the same [`App`] behind the Lambda runtime API, with `lambda_http`
//! turning API Gateway (REST v1, HTTP v2), Function URL and ALB events into requests and
//! shaping each response for the event it answers.
//!
//! - `mod.rs`     — the event loop: one invocation at a time (Lambda's model), each
//!   capped by the invocation's deadline so the host answers (504) before Lambda kills it;
//! - `convert.rs` — event <-> `http` conversions (the only file that touches `lambda_http`
//!   request/response types).
//!
//! Started by `plughost lambda`, or by `plughost` with no command when the Lambda
//! runtime's `AWS_LAMBDA_RUNTIME_API` is set (the deployed `bootstrap`).

mod convert;

use crate::app::App;
use lambda_http::lambda_runtime::{self, LambdaEvent, Service, service_fn};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, RequestExt};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Kept free before the invocation's deadline: time to build and return the 504.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// Serves invocations until the runtime stops the process.
pub async fn run(app: Arc<App>) -> anyhow::Result<()> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| invocation(app.clone(), event)))
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime stopped: {e}"))
}

/// One invocation. An HTTP event (API Gateway REST/HTTP, Function URL, ALB) goes through
/// `lambda_http`'s adapter — the same one `lambda_http::run` uses — to the app; anything
/// else is refused with an error Lambda records, and the host keeps serving. (Taking the
/// raw event first leaves room for non-HTTP events such as S3 notifications.)
async fn invocation(
    app: Arc<App>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let LambdaEvent { payload, context } = event;
    let request: LambdaRequest = serde_json::from_value(payload).map_err(|error| {
        tracing::warn!(request_id = context.request_id, %error, "invocation is not an HTTP event");
        format!("plughost answers API Gateway, Function URL and ALB events; this is not one: {error}")
    })?;
    let mut adapter = Adapter::from(service_fn(move |request: lambda_http::Request| answer(app.clone(), request)));
    let response = adapter.call(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
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
}
