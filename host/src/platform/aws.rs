//! The AWS configuration and every AWS client the host makes, in one place: the
//! capabilities' backends (DynamoDB, S3, SQS, SNS, EventBridge), secrets (Secrets
//! Manager), deployments (S3) and `serve`'s queue poller (SQS) all start here, so they share one credential chain, one timeout policy and one way of
//! reaching an S3-compatible server.

/// The AWS configuration the standard way: region, credentials (or the Lambda's role)
/// and an optional `AWS_ENDPOINT_URL`, from the environment. A connection that cannot be
/// made in 2 s fails (and is retried by the SDK); how long a whole storage call may take
/// is bounded per request (`capability/request_context.rs`).
pub async fn config_from_env() -> aws_config::SdkConfig {
    let timeouts =
        aws_config::timeout::TimeoutConfig::builder().connect_timeout(std::time::Duration::from_secs(2)).build();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts).load().await
}

/// An S3 client. A custom endpoint (moto, MinIO) gets path-style addressing, which those
/// servers expect.
pub fn s3(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(path_style).build())
}

pub fn dynamodb(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// The HTTP status an AWS service answered a failed call with, if it answered (any SDK:
/// they share the smithy response type).
pub fn http_status<E>(error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    error.raw_response().map(|response| response.status().as_u16())
}

pub fn secrets_manager(config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// How the messaging clients retry: the SDK's standard mode (exponential backoff with
/// jitter; throttling and transient errors) with one attempt more than its default, so a
/// throttled send is retried three times before the plugin sees `unavailable`. The
/// request's deadline still bounds the whole call (`capability/request_context.rs`).
fn messaging_retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(4)
        .with_initial_backoff(std::time::Duration::from_millis(50))
}

pub fn sqs(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(config).retry_config(messaging_retries()).build())
}

pub fn sns(config: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(config).retry_config(messaging_retries()).build())
}

pub fn eventbridge(config: &aws_config::SdkConfig) -> aws_sdk_eventbridge::Client {
    let builder = aws_sdk_eventbridge::config::Builder::from(config).retry_config(messaging_retries());
    aws_sdk_eventbridge::Client::from_conf(builder.build())
}
