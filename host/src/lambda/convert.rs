//! Lambda events <-> `http` types. `lambda_http` does the heavy lifting (every event
//! shape: multi-value headers and query strings, cookies, base64 bodies, and the response
//! shaped for the event's origin); this file adapts its types to the app's, and first
//! makes every event safe to hand to it ([`prepare_event`]).
//!
//! Why the preparation: the services disagree on encoding, and `lambda_http` panics on
//! what it cannot parse. HTTP APIs deliver `rawPath` (and payload 1.0 `path`) already
//! percent-decoded, REST APIs, Function URLs and ALB still encoded; an HTTP API named
//! stage stays in `rawPath`; an invalid base64 body or `Host` header makes `lambda_http`
//! panic. Preparing the event JSON first gives every origin the same routing as `serve`
//! and turns what cannot be served into a 400 the host logs and answers itself.

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::{Body, RequestExt};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;

/// Characters that never appear literally in an encoded query string: encoding just these
/// leaves an encoded one byte for byte as it was and makes a decoded one valid. (`%` is
/// handled apart: only a `%` that does not start an escape is encoded.)
const NOT_IN_ENCODED_QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');
/// The same for a path, where `?` would start the query.
const NOT_IN_ENCODED_PATH: &AsciiSet = &NOT_IN_ENCODED_QUERY.add(b'?');

/// Makes an HTTP event safe for `lambda_http` and routes it as `serve` would: the path
/// (and a v2 raw query string) encoded where the service decoded it, an HTTP API named
/// stage removed from `rawPath`. Returns why the event cannot be served (invalid `Host`
/// or `X-Forwarded-Proto`, a body that is not the base64 it claims to be); the event is
/// then also defused, so the caller can let `lambda_http` shape a 400 for its origin.
pub fn prepare_event(event: &mut Value) -> Result<(), String> {
    let v2 = event.get("rawPath").is_some();
    let path_field = if v2 { "rawPath" } else { "path" };
    if let Some(path) = event.get(path_field).and_then(Value::as_str) {
        let mut path = encode_path(path);
        let stage = event.pointer("/requestContext/stage").and_then(Value::as_str);
        if v2 && let Some(stage) = stage.filter(|s| *s != "$default" && !s.is_empty()) {
            path = strip_stage(&path, stage);
        }
        event[path_field] = Value::String(path);
    }
    if let Some(query) = event.get("rawQueryString").and_then(Value::as_str) {
        event["rawQueryString"] = Value::String(encode_with(query, NOT_IN_ENCODED_QUERY));
    }
    let mut problem = None;
    if let Err(why) = check_host(event) {
        // `lambda_http` parses these into a URL it unwraps: take them out.
        remove_header(event, "host");
        remove_header(event, "x-forwarded-proto");
        if let Some(context) = event.get_mut("requestContext").and_then(Value::as_object_mut) {
            context.remove("domainName");
        }
        problem = Some(why);
    }
    let base64 = event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true);
    if base64 && let Some(body) = event.get("body").and_then(Value::as_str) {
        use base64::Engine as _;
        if base64::engine::general_purpose::STANDARD.decode(body).is_err() {
            event["body"] = Value::Null;
            event["isBase64Encoded"] = Value::Bool(false);
            problem.get_or_insert_with(|| "the event's body is marked base64 but is not valid base64".to_owned());
        }
    }
    problem.map_or(Ok(()), Err)
}

/// `path` as a valid encoded path: see [`NOT_IN_ENCODED_PATH`].
fn encode_path(path: &str) -> String {
    encode_with(path, NOT_IN_ENCODED_PATH)
}

fn encode_with(text: &str, set: &'static AsciiSet) -> String {
    let encoded = utf8_percent_encode(text, set).to_string();
    if !encoded.contains('%') {
        return encoded;
    }
    // A `%` that does not start an escape was a literal `%` in a decoded path.
    let bytes = encoded.as_bytes();
    let mut out = String::with_capacity(encoded.len() + 8);
    for (i, c) in encoded.char_indices() {
        let escape = c == '%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if c == '%' && !escape {
            out.push_str("%25");
        } else {
            out.push(c);
        }
    }
    out
}

/// `/Prod/hello` -> `/hello` for stage `Prod` (and `/Prod` -> `/`): plugins route on the
/// same paths whatever stage serves them, as for REST APIs.
fn strip_stage(path: &str, stage: &str) -> String {
    let stage = encode_path(stage);
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(stage.as_str())) {
        Some("") => "/".to_owned(),
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => path.to_owned(),
    }
}

/// Checks the URL `lambda_http` will build from the event — `<X-Forwarded-Proto or
/// https>://<Host or requestContext.domainName><path>` — the way it builds it.
fn check_host(event: &Value) -> Result<(), String> {
    let host = header(event, "host").or_else(|| event.pointer("/requestContext/domainName").and_then(Value::as_str));
    let Some(host) = host else { return Ok(()) };
    let scheme = header(event, "x-forwarded-proto").unwrap_or("https");
    match url::Url::parse(&format!("{scheme}://{host}/")) {
        Ok(url) if url.host().is_some() => Ok(()),
        _ => Err(format!(
            "invalid Host `{}` or X-Forwarded-Proto `{}`",
            crate::observability::escape::escape_controls(host),
            crate::observability::escape::escape_controls(scheme)
        )),
    }
}

/// A header's value in an event (`headers`, then `multiValueHeaders`), by lower-case name.
fn header<'e>(event: &'e Value, name: &str) -> Option<&'e str> {
    let find = |map: &'e Value| map.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    if let Some(value) = event.get("headers").and_then(find).and_then(Value::as_str) {
        return Some(value);
    }
    event.get("multiValueHeaders").and_then(find)?.get(0)?.as_str()
}

fn remove_header(event: &mut Value, name: &str) {
    for map in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event.get_mut(map).and_then(Value::as_object_mut) {
            headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_paths_stay_as_they_are_and_decoded_ones_become_valid() {
        for encoded in ["/hello/ada%20lovelace", "/a/b", "/x%2Fy", "/caf%C3%A9", "/a;b=c", "/~user"] {
            assert_eq!(encode_path(encoded), encoded);
        }
        assert_eq!(encode_path("/hello/ada lovelace"), "/hello/ada%20lovelace");
        assert_eq!(encode_path("/café"), "/caf%C3%A9");
        assert_eq!(encode_path("/100%"), "/100%25");
        assert_eq!(encode_path("/a%zz"), "/a%25zz");
        assert_eq!(encode_path("/a#b?c"), "/a%23b%3Fc");
        assert_eq!(encode_path("/nul\0"), "/nul%00");
    }

    #[test]
    fn an_http_api_named_stage_is_removed_from_raw_path_only() {
        let mut event = serde_json::json!({
            "version": "2.0", "rawPath": "/Prod/hello/ada lovelace", "rawQueryString": "q=a b",
            "requestContext": { "stage": "Prod" }
        });
        prepare_event(&mut event).unwrap();
        assert_eq!(event["rawPath"], "/hello/ada%20lovelace");
        assert_eq!(event["rawQueryString"], "q=a%20b");
        assert_eq!(strip_stage("/Prod", "Prod"), "/");
        assert_eq!(strip_stage("/Production/x", "Prod"), "/Production/x");
        let mut default = serde_json::json!({ "rawPath": "/$default/x", "requestContext": { "stage": "$default" } });
        prepare_event(&mut default).unwrap();
        assert_eq!(default["rawPath"], "/$default/x");
    }

    #[test]
    fn an_invalid_host_or_base64_body_is_refused_and_defused() {
        let mut event = serde_json::json!({
            "rawPath": "/x", "headers": { "Host": "exa mple.com" }, "requestContext": { "domainName": "bad host" },
            "body": "not base64!", "isBase64Encoded": true
        });
        let why = prepare_event(&mut event).unwrap_err();
        assert!(why.contains("invalid Host `exa mple.com`"), "{why}");
        assert!(event["headers"].as_object().unwrap().is_empty());
        assert_eq!(event["body"], Value::Null);
        let mut event = serde_json::json!({ "path": "/x", "body": "%%%", "isBase64Encoded": true });
        assert!(prepare_event(&mut event).unwrap_err().contains("not valid base64"));
        let mut fine = serde_json::json!({ "path": "/x", "headers": { "host": "api.example.com" }, "body": "aGk=", "isBase64Encoded": true });
        assert!(prepare_event(&mut fine).is_ok());
    }
}
