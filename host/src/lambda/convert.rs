//! Lambda events <-> `http` types. `lambda_http` does the heavy lifting (every event
//! shape: multi-value headers and query strings, cookies, base64 bodies, and the response
//! shaped for the event's origin); this file only adapts its types to the app's.

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::{Body, RequestExt};

/// An event's request as the app takes it. The path is the event's own, without the stage
/// `lambda_http` prefixes for REST APIs: plugins route on `/v1/user` whatever stage serves
/// them.
pub fn to_app_request(request: lambda_http::Request) -> Result<http::Request<Bytes>, String> {
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{}?{query}", request.raw_http_path()),
        None => request.raw_http_path().to_owned(),
    };
    let (mut parts, body) = request.into_parts();
    parts.uri = path_and_query.parse().map_err(|e| format!("invalid request path `{path_and_query}`: {e}"))?;
    let body = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    Ok(http::Request::from_parts(parts, body))
}

/// The app's response for `lambda_http`, which base64-encodes it unless its content type
/// is textual. A body without a content type that is not UTF-8 is labelled
/// `application/octet-stream`, so it is encoded rather than mangled.
pub fn to_lambda_response(response: http::Response<Bytes>) -> http::Response<Full<Bytes>> {
    let (mut parts, body) = response.into_parts();
    if !parts.headers.contains_key(http::header::CONTENT_TYPE) && std::str::from_utf8(&body).is_err() {
        parts.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/octet-stream"));
    }
    http::Response::from_parts(parts, Full::new(body))
}
