//! [`HostError`]: every response the host produces itself (no route, bad request, plugin
//! failures), as JSON `{"error": {"code", "message", "plugin"?, "request_id"}}`.
//!
//! Messages are safe to show to any client: the details of a failure (trap backtraces,
//! invalid headers) are logged by `app.rs`, never sent.

use bytes::Bytes;
use http::StatusCode;
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// No route matches the path.
    NotFound,
    /// The path exists for other methods.
    MethodNotAllowed { allow: Vec<http::Method> },
    /// The request body exceeds the host's limit.
    PayloadTooLarge { limit: usize },
    /// The request could not be read (client disconnected, malformed body).
    BadRequest { reason: String },
    /// The plugin trapped or panicked.
    PluginFailed { plugin: String },
    /// The plugin ran out of its memory limit.
    MemoryLimit { plugin: String },
    /// The plugin did not answer in time.
    Timeout { plugin: String },
    /// The plugin's response was invalid (bad status or header).
    InvalidResponse { plugin: String },
    /// The plugin's response exceeded `max_response`.
    ResponseTooLarge { plugin: String },
    /// No instance slot or memory budget freed in time.
    AtCapacity,
    /// The plugin runs as many requests as its `max_concurrency` allows.
    PluginAtCapacity { plugin: String },
    /// The plugin's component cannot run (it failed to compile on first use).
    PluginUnavailable { plugin: String },
    /// A presigned URL of embedded storage was tampered with, expired, or used with the wrong method or
    /// content type.
    PresignedUrlRejected { reason: String },
    /// A presigned GET URL names an object that does not exist (any more).
    ObjectNotFound,
    /// Embedded storage failed while serving a presigned URL (detail logged).
    StorageUnavailable,
}

impl HostError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PluginFailed { .. } | Self::MemoryLimit { .. } | Self::ResponseTooLarge { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::InvalidResponse { .. } => StatusCode::BAD_GATEWAY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::AtCapacity
            | Self::PluginAtCapacity { .. }
            | Self::StorageUnavailable
            | Self::PluginUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::PresignedUrlRejected { .. } => StatusCode::FORBIDDEN,
            Self::ObjectNotFound => StatusCode::NOT_FOUND,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::BadRequest { .. } => "bad_request",
            Self::PluginFailed { .. } => "plugin_failed",
            Self::MemoryLimit { .. } => "plugin_memory_limit",
            Self::Timeout { .. } => "plugin_timeout",
            Self::InvalidResponse { .. } => "plugin_invalid_response",
            Self::ResponseTooLarge { .. } => "plugin_response_too_large",
            Self::AtCapacity => "at_capacity",
            Self::PluginAtCapacity { .. } => "plugin_at_capacity",
            Self::PluginUnavailable { .. } => "plugin_unavailable",
            Self::PresignedUrlRejected { .. } => "presigned_url_rejected",
            Self::ObjectNotFound => "object_not_found",
            Self::StorageUnavailable => "storage_unavailable",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::NotFound => "no route matches this path".into(),
            Self::MethodNotAllowed { .. } => "this path does not accept this method".into(),
            Self::PayloadTooLarge { limit } => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            Self::BadRequest { reason } => reason.clone(),
            Self::PluginFailed { plugin } => {
                format!("plugin `{plugin}` failed while handling the request")
            }
            Self::MemoryLimit { plugin } => format!("plugin `{plugin}` exceeded its memory limit"),
            Self::Timeout { plugin } => format!("plugin `{plugin}` did not answer in time"),
            Self::InvalidResponse { plugin } => {
                format!("plugin `{plugin}` returned an invalid response")
            }
            Self::ResponseTooLarge { plugin } => {
                format!("plugin `{plugin}` returned a response over its size limit")
            }
            Self::AtCapacity => "the host is at capacity; retry shortly".into(),
            Self::PluginAtCapacity { plugin } => {
                format!("plugin `{plugin}` is handling as many requests as it may at once; retry shortly")
            }
            Self::PluginUnavailable { plugin } => format!("plugin `{plugin}` is unavailable"),
            Self::PresignedUrlRejected { reason } => format!("presigned URL rejected: {reason}"),
            Self::ObjectNotFound => "no object at this URL".into(),
            Self::StorageUnavailable => "storage is unavailable; retry shortly".into(),
        }
    }

    fn plugin(&self) -> Option<&str> {
        match self {
            Self::PluginFailed { plugin }
            | Self::MemoryLimit { plugin }
            | Self::Timeout { plugin }
            | Self::InvalidResponse { plugin }
            | Self::ResponseTooLarge { plugin }
            | Self::PluginAtCapacity { plugin }
            | Self::PluginUnavailable { plugin } => Some(plugin),
            _ => None,
        }
    }

    /// The JSON response for this error.
    pub fn into_response(self, request_id: &str) -> http::Response<Bytes> {
        let mut error = serde_json::json!({
            "code": self.code(),
            "message": self.message(),
            "request_id": request_id,
        });
        if let Some(plugin) = self.plugin() {
            error["plugin"] = plugin.into();
        }
        let body = serde_json::json!({ "error": error }).to_string();
        let mut response = http::Response::builder().status(self.status()).header(CONTENT_TYPE, "application/json");
        if let Self::MethodNotAllowed { allow } = &self {
            let allow = allow.iter().map(http::Method::as_str).collect::<Vec<_>>().join(", ");
            response = response.header(ALLOW, allow);
        }
        // Capacity is momentary: tell clients (and API Gateway's retrying SDKs) when to retry.
        if matches!(self, Self::AtCapacity | Self::PluginAtCapacity { .. } | Self::StorageUnavailable) {
            response = response.header(RETRY_AFTER, "1");
        }
        response.body(Bytes::from(body)).unwrap_or_else(|_| http::Response::new(Bytes::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_not_allowed_lists_allow_and_is_json() {
        let res =
            HostError::MethodNotAllowed { allow: vec![http::Method::GET, http::Method::POST] }.into_response("r1");
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()[ALLOW], "GET, POST");
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
        assert_eq!(body["error"]["request_id"], "r1");
    }

    #[test]
    fn plugin_failures_name_the_plugin_and_leak_nothing_else() {
        let res = HostError::PluginFailed { plugin: "p".into() }.into_response("r2");
        assert_eq!(res.status(), 500);
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["error"]["plugin"], "p");
        assert_eq!(body["error"].as_object().unwrap().len(), 4);
    }
}
