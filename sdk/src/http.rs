//! Outgoing HTTP: call another API, or another plugin of the same deployment.
//!
//! Requests go out through the standard `wasi:http/outgoing-handler` import, so the host
//! decides each one: only hosts the manifest lists in the plugin's `allowed_outbound_hosts`
//! are reachable, redirects come back to you (the host never follows them), and the
//! request's deadline, a response size cap and a per-request count apply. A refused
//! request is an [`HttpError::Denied`], never a crash.
//!
//! ```no_run
//! use plughost_sdk::http;
//! use serde_json::json;
//!
//! # fn demo() -> Result<(), http::HttpError> {
//! // allowed_outbound_hosts = ["https://api.example.com"]
//! let rate: serde_json::Value = http::get("https://api.example.com/v1/rates/EUR").send()?.error_for_status()?.json()?;
//!
//! // Another plugin of this deployment, in-process (allowed_outbound_hosts =
//! // ["http://pricing.plughost.internal"]): a fresh instance with its own grants.
//! let quote = http::post(&http::service("pricing", "/v1/quotes"))
//!     .json(&json!({ "sku": "A-1", "quantity": 2 }))
//!     .send()?;
//! # let _ = (rate, quote); Ok(()) }
//! ```
//!
//! Natively (unit tests) nothing is sent: [`crate::testing::respond_http`] answers.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// Where another plugin of the deployment answers: `http://<plugin>.plughost.internal<path>`.
pub fn service(plugin: &str, path: &str) -> String {
    format!("http://{plugin}.plughost.internal{path}")
}

/// A `GET` of `url`.
pub fn get(url: &str) -> OutgoingRequest {
    request("GET", url)
}

/// A `POST` to `url`.
pub fn post(url: &str) -> OutgoingRequest {
    request("POST", url)
}

/// A `PUT` to `url`.
pub fn put(url: &str) -> OutgoingRequest {
    request("PUT", url)
}

/// A `DELETE` of `url`.
pub fn delete(url: &str) -> OutgoingRequest {
    request("DELETE", url)
}

/// A request with any method.
pub fn request(method: &str, url: &str) -> OutgoingRequest {
    OutgoingRequest {
        method: method.to_owned(),
        url: url.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        timeout: None,
        max_response: DEFAULT_MAX_RESPONSE,
    }
}

/// The most of a response body [`OutgoingRequest::send`] reads unless told otherwise
/// (the host also caps it, at the plugin's `max_outbound_response`).
pub const DEFAULT_MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// A request being built; [`send`](Self::send) sends it and reads the whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Connect and first-byte timeout (the request's own deadline applies anyway).
    pub timeout: Option<Duration>,
    /// Bodies larger than this fail with [`HttpError::TooLarge`].
    pub max_response: usize,
}

impl OutgoingRequest {
    /// Adds a header. `host`, `connection` and other hop-by-hop headers are refused by the
    /// host ([`HttpError::Invalid`]).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// A JSON body (and `content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.header("content-type", "application/json").body(body)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Gives up connecting, or waiting for the response to start, after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Reads at most `bytes` of the response body.
    pub fn max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// The first value of header `name` (any case), as set so far.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Sends the request and reads the whole response. Redirects are returned as they are.
    pub fn send(self) -> Result<IncomingResponse, HttpError> {
        #[cfg(target_arch = "wasm32")]
        return wasi::send(self);
        #[cfg(not(target_arch = "wasm32"))]
        return native::respond(&self);
    }
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingResponse {
    pub status: u16,
    /// Names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl IncomingResponse {
    /// A response with `status` and `body` (for [`crate::testing::respond_http`]).
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `Ok(self)` for a 2xx, else [`HttpError::Status`].
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if self.is_success() { Ok(self) } else { Err(HttpError::Status(self.status)) }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::Invalid(format!("response is not the JSON expected: {e}")))
    }
}

/// Why a request got no (acceptable) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused it: the target is not in `allowed_outbound_hosts`, resolves to a
    /// private address, or the request made too many outbound calls. The host's log says which.
    Denied,
    /// A chain of plugin calls went too deep (or looped).
    LoopDetected,
    /// No answer in time (the timeout, or the request's deadline).
    Timeout,
    /// The response body is larger than allowed.
    TooLarge,
    /// A malformed URL, method or header (or one the host does not let plugins set).
    Invalid(String),
    /// `error_for_status` on a response that is not 2xx.
    Status(u16),
    /// Anything else: DNS, connection, TLS, protocol (the `wasi:http` error code).
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied => write!(f, "outbound request denied by the host (see allowed_outbound_hosts)"),
            Self::LoopDetected => write!(f, "plugin call chain too deep"),
            Self::Timeout => write!(f, "outbound request timed out"),
            Self::TooLarge => write!(f, "response body too large"),
            Self::Invalid(why) => write!(f, "invalid outbound request: {why}"),
            Self::Status(status) => write!(f, "upstream answered {status}"),
            Self::Failed(why) => write!(f, "outbound request failed: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A failed upstream call answers the client `502 Bad Gateway` (`504` on a timeout) with a
/// message that names no host and no detail: log the error first if you need it.
impl From<HttpError> for crate::Error {
    fn from(error: HttpError) -> Self {
        let (status, message) = match error {
            HttpError::Timeout => {
                (http::StatusCode::GATEWAY_TIMEOUT, "a service this depends on did not answer in time".into())
            }
            HttpError::Status(status) => {
                (http::StatusCode::BAD_GATEWAY, format!("a service this depends on answered {status}"))
            }
            _ => (http::StatusCode::BAD_GATEWAY, "a service this depends on could not be reached".into()),
        };
        crate::Error::new(status, "upstream", message)
    }
}

/// The request split as `wasi:http` wants it: scheme, authority, path and query.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) struct Target {
    pub https: bool,
    pub authority: String,
    pub path_with_query: String,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn target(url: &str) -> Result<Target, HttpError> {
    let uri: http::Uri = url.parse().map_err(|e| HttpError::Invalid(format!("`{url}`: {e}")))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(HttpError::Invalid(format!("`{url}`: use an http:// or https:// URL"))),
    };
    let authority = uri.authority().ok_or_else(|| HttpError::Invalid(format!("`{url}`: no host")))?;
    let path_with_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    Ok(Target { https, authority: authority.as_str().to_owned(), path_with_query })
}

#[cfg(target_arch = "wasm32")]
mod wasi {
    //! The request through the generated `wasi:http` bindings, blocking on its pollables
    //! (a plugin handles one request at a time).
    use super::{HttpError, IncomingResponse, OutgoingRequest, target};
    use crate::bindings::wasi::http::outgoing_handler;
    use crate::bindings::wasi::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest as WasiRequest, RequestOptions, Scheme,
    };
    use crate::bindings::wasi::io::streams::StreamError;

    pub fn send(request: OutgoingRequest) -> Result<IncomingResponse, HttpError> {
        let target = target(&request.url)?;
        let headers: Vec<(String, Vec<u8>)> =
            request.headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
        let fields = Fields::from_list(&headers).map_err(|e| HttpError::Invalid(format!("headers: {e:?}")))?;
        let outgoing = WasiRequest::new(fields);
        let method = match request.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        };
        let invalid = |what: &str| HttpError::Invalid(format!("{what} of `{}`", request.url));
        outgoing.set_method(&method).map_err(|()| invalid("the method"))?;
        outgoing
            .set_scheme(Some(if target.https { &Scheme::Https } else { &Scheme::Http }))
            .map_err(|()| invalid("the scheme"))?;
        outgoing.set_authority(Some(&target.authority)).map_err(|()| invalid("the host"))?;
        outgoing.set_path_with_query(Some(&target.path_with_query)).map_err(|()| invalid("the path"))?;
        let body = outgoing.body().map_err(|()| invalid("the body"))?;

        let options = request.timeout.map(|timeout| {
            let options = RequestOptions::new();
            let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            options
        });
        // Send first, then stream the body: the host reads it as it is written.
        let pending = outgoing_handler::handle(outgoing, options).map_err(error)?;
        {
            let stream = body.write().map_err(|()| invalid("the body"))?;
            for chunk in request.body.chunks(4096) {
                stream.blocking_write_and_flush(chunk).map_err(|e| stream_error(e, "writing the body"))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(error)?;

        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(error(code)),
            Some(Err(())) | None => return Err(HttpError::Failed("the response was already taken".into())),
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| HttpError::Failed("no response body".into()))?;
        let mut bytes = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| HttpError::Failed("no response body".into()))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => {
                        if bytes.len() + chunk.len() > request.max_response {
                            return Err(HttpError::TooLarge);
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(stream_error(e, "reading the response")),
                }
            }
        }
        let _trailers = IncomingBody::finish(incoming);
        Ok(IncomingResponse { status, headers, body: bytes })
    }

    fn stream_error(e: StreamError, doing: &str) -> HttpError {
        match e {
            StreamError::Closed => HttpError::Failed(format!("{doing}: the connection closed")),
            StreamError::LastOperationFailed(io) => match crate::bindings::wasi::http::types::http_error_code(&io) {
                Some(code) => error(code),
                // wasmtime 48 hands body errors from its send hook over as text only
                // (`http-error-code` finds no code in them): read the two a plugin acts on.
                None => {
                    let text = io.to_debug_string();
                    if text.contains("body size exceeds limit") {
                        HttpError::TooLarge
                    } else if text.contains("timeout") {
                        HttpError::Timeout
                    } else {
                        HttpError::Failed(format!("{doing}: {text}"))
                    }
                }
            },
        }
    }

    fn error(code: ErrorCode) -> HttpError {
        match code {
            ErrorCode::HttpRequestDenied => HttpError::Denied,
            ErrorCode::LoopDetected => HttpError::LoopDetected,
            ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                HttpError::Timeout
            }
            ErrorCode::HttpResponseBodySize(_) => HttpError::TooLarge,
            ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
                HttpError::Invalid(format!("{code:?}"))
            }
            other => HttpError::Failed(format!("{other:?}").trim_start_matches("ErrorCode::").to_owned()),
        }
    }
}

/// The native stand-in (unit tests, benches): outgoing requests on this thread are
/// answered by what [`crate::testing::respond_http`] set; nothing is sent.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use super::{HttpError, IncomingResponse, OutgoingRequest};
    use std::cell::RefCell;

    /// What answers outgoing HTTP requests natively (see [`respond_http`]).
    type HttpResponder = Box<dyn Fn(&OutgoingRequest) -> Result<IncomingResponse, HttpError>>;

    thread_local! {
        static HTTP: RefCell<Option<HttpResponder>> = const { RefCell::new(None) };
    }

    /// Makes `http` requests on this thread answered by `responder` (natively nothing is sent).
    pub fn respond_http(responder: impl Fn(&OutgoingRequest) -> Result<IncomingResponse, HttpError> + 'static) {
        HTTP.with(|h| *h.borrow_mut() = Some(Box::new(responder)));
    }

    /// Removes the responder: requests fail again.
    pub fn clear_http() {
        HTTP.with(|h| *h.borrow_mut() = None);
    }

    pub(crate) fn respond(request: &OutgoingRequest) -> Result<IncomingResponse, HttpError> {
        HTTP.with(|h| match &*h.borrow() {
            Some(responder) => responder(request),
            None => Err(HttpError::Failed("natively nothing is sent: answer with testing::respond_http".into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_urls_and_refuse_what_wasi_http_cannot_send() {
        let t = target("https://api.example.com:8443/v1/rates?currency=EUR").unwrap();
        assert!(t.https);
        assert_eq!(t.authority, "api.example.com:8443");
        assert_eq!(t.path_with_query, "/v1/rates?currency=EUR");
        let t = target("http://pricing.plughost.internal").unwrap();
        assert_eq!((t.https, t.path_with_query.as_str()), (false, "/"));
        assert!(matches!(target("ftp://example.com/"), Err(HttpError::Invalid(_))));
        assert!(matches!(target("/relative"), Err(HttpError::Invalid(_))));
        assert_eq!(service("pricing", "/v1/quotes"), "http://pricing.plughost.internal/v1/quotes");
    }

    #[test]
    fn upstream_failures_become_gateway_errors() {
        assert_eq!(crate::Error::from(HttpError::Timeout).status(), http::StatusCode::GATEWAY_TIMEOUT);
        let denied = crate::Error::from(HttpError::Failed("api.internal.example did not resolve".into()));
        assert_eq!((denied.status(), denied.code()), (http::StatusCode::BAD_GATEWAY, "upstream"));
        assert!(!denied.message().contains("example"), "no detail reaches the client: {}", denied.message());
    }

    #[test]
    fn natively_the_test_responder_answers() {
        crate::testing::respond_http(|request| {
            assert_eq!(request.header_value("content-type"), Some("application/json"));
            Ok(IncomingResponse::new(201, format!("{} {}", request.method, request.url)))
        });
        let response = post("https://api.example.com/x").json(&serde_json::json!({"a": 1})).send().unwrap();
        assert_eq!((response.status, response.text().as_str()), (201, "POST https://api.example.com/x"));
        crate::testing::clear_http();
        assert!(matches!(get("https://api.example.com/").send(), Err(HttpError::Failed(_))));
    }
}
