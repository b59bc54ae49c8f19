//! [`Request`]: the routed HTTP request a handler receives, with accessors for route
//! parameters, query, headers and the body (raw, text or JSON).

use crate::bindings::plughost::plugin::types as wit;
use crate::error::Error;
use serde::de::DeserializeOwned;

pub use wit::Method;

/// One HTTP request, already matched to a route of this plugin by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    inner: wit::Request,
}

impl Request {
    /// A builder for requests made outside the host: unit tests of handler logic, and
    /// benchmarks that call a plugin's code natively.
    pub fn builder(method: Method, route: &str) -> RequestBuilder {
        RequestBuilder {
            inner: wit::Request {
                method,
                path: route.to_owned(),
                route: route.to_owned(),
                params: Vec::new(),
                query: Vec::new(),
                raw_query: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
                request_id: "test-request".to_owned(),
            },
        }
    }

    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The path as sent by the client (percent-encoded, no query string).
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The manifest route that matched, e.g. `/users/{id}`.
    pub fn route(&self) -> &str {
        &self.inner.route
    }

    /// A route parameter by name (`{id}` in the route), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        find(&self.inner.params, name)
    }

    /// A required route parameter; a missing one is a 400 naming it.
    pub fn require_param(&self, name: &str) -> Result<&str, Error> {
        self.param(name).ok_or_else(|| Error::bad_request(format!("missing route parameter `{name}`")))
    }

    /// The first value of a query parameter, decoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        find(&self.inner.query, name)
    }

    /// Every value of a repeated query parameter, in order.
    pub fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.inner.query.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter parsed into `T`; present but unparsable is a 400 naming it.
    pub fn query_parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.query(name) {
            None => Ok(None),
            Some(raw) => raw
                .parse()
                .map(Some)
                .map_err(|_| Error::bad_request(format!("query parameter `{name}` has an invalid value `{raw}`"))),
        }
    }

    /// The raw query string, without `?`.
    pub fn raw_query(&self) -> &str {
        &self.inner.raw_query
    }

    /// The first value of a header; `name` is matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// All headers as (lower-case name, value) pairs.
    pub fn headers(&self) -> &[(String, String)] {
        &self.inner.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.inner.body
    }

    /// The body as UTF-8 text; anything else is a 400.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.inner.body).map_err(|_| Error::bad_request("request body is not valid UTF-8"))
    }

    /// The body parsed as JSON into `T`.
    ///
    /// A `content-type` other than JSON is a 415; a body that does not parse or does not
    /// match `T` is a 400 whose message says where (serde's line/column and field).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if let Some(content_type) = self.header("content-type") {
            let mime = content_type.split(';').next().unwrap_or("").trim();
            let is_json = mime.eq_ignore_ascii_case("application/json") || mime.to_ascii_lowercase().ends_with("+json");
            if !is_json {
                return Err(Error::unsupported_media_type(format!("expected an application/json body, got `{mime}`")));
            }
        }
        if self.inner.body.is_empty() {
            return Err(Error::bad_request("expected a JSON body, got an empty body"));
        }
        serde_json::from_slice(&self.inner.body).map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
    }

    /// The id the host gave this request (also in the host's logs and the
    /// `x-request-id` response header).
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    pub fn into_inner(self) -> wit::Request {
        self.inner
    }
}

impl From<wit::Request> for Request {
    fn from(inner: wit::Request) -> Self {
        Self { inner }
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Builds a [`Request`] by hand; see [`Request::builder`].
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    inner: wit::Request,
}

impl RequestBuilder {
    /// The concrete path (defaults to the route).
    pub fn path(mut self, path: &str) -> Self {
        self.inner.path = path.to_owned();
        self
    }

    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.inner.params.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.inner.query.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = body.into();
        self
    }

    pub fn build(self) -> Request {
        Request { inner: self.inner }
    }
}
