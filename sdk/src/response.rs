//! [`Response`] and [`IntoResponse`]: what handlers return. Anything that implements
//! `IntoResponse` works — a `Response`, [`Json`], a string, an [`crate::Error`], a
//! `(StatusCode, body)` pair, or a `Result` of those.

use crate::bindings::plughost::plugin::types as wit;
use http::StatusCode;
use serde::Serialize;

/// An HTTP response under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A JSON response. Serialising plain data cannot fail; if `value` has a custom
    /// `Serialize` that does, the result is a 500 rather than a panic.
    pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status).header("content-type", "application/json").body(body),
            Err(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR)
                .header("content-type", "application/json")
                .body(&br#"{"error":{"code":"internal","message":"response could not be serialised"}}"#[..]),
        }
    }

    pub(crate) fn json_value(status: StatusCode, value: &serde_json::Value) -> Self {
        Self::json(status, value)
    }

    /// A `text/plain` response.
    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        Self::new(status).header("content-type", "text/plain; charset=utf-8").body(text.into().into_bytes())
    }

    /// Adds a header (names are sent lower-case).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON (for tests of handler logic).
    pub fn body_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }

    pub fn into_wit(self) -> wit::Response {
        wit::Response { status: self.status.as_u16(), headers: self.headers, body: self.body }
    }
}

/// Converts a handler's return value into a [`Response`].
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

/// A JSON body with status 200; pair it with a status for others: `(StatusCode::CREATED, Json(x))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(StatusCode::OK, &self.0)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(StatusCode::OK, self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(StatusCode::OK, self)
    }
}

/// `StatusCode::NO_CONTENT` and friends on their own.
impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        response.status = self.0;
        response
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}
