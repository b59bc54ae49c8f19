//! `http::Request` -> WIT `request`.

use crate::bindings::{Method, Request};
use crate::routing::registry::RouteMatch;
use bytes::Bytes;

/// Builds the WIT request for a routed HTTP request.
pub fn to_wit_request(
    parts: &http::request::Parts,
    body: Bytes,
    matched: &RouteMatch<'_>,
    request_id: &str,
) -> Request {
    let raw_query = parts.uri.query().unwrap_or("");
    Request {
        method: to_wit_method(&parts.method),
        path: parts.uri.path().to_owned(),
        route: matched.route.to_owned(),
        params: matched.params.clone(),
        query: form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect(),
        raw_query: raw_query.to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body: body.into(),
        request_id: request_id.to_owned(),
    }
}

fn to_wit_method(method: &http::Method) -> Method {
    match *method {
        http::Method::GET => Method::Get,
        http::Method::HEAD => Method::Head,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::PATCH => Method::Patch,
        http::Method::OPTIONS => Method::Options,
        ref other => Method::Other(other.as_str().to_owned()),
    }
}
