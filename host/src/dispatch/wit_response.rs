//! WIT `response` -> `http::Response`, refusing what a client must never receive.

use crate::bindings::Response;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

/// Headers a plugin may not set: they describe the connection, not the response, and
/// the server computes them.
const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "content-length"];

/// The most headers a plugin's response may carry.
pub const MAX_RESPONSE_HEADERS: usize = 100;
/// The most bytes a plugin's response headers may add up to (names, values and `: `/CRLF
/// separators): far above what browsers and API Gateway accept in practice, far below
/// what would cost the host real memory or time per response.
pub const MAX_RESPONSE_HEADER_BYTES: usize = 16 * 1024;

/// Converts a plugin's response. An invalid status or header is the plugin's bug: the
/// error says what, for the host log.
pub fn from_wit_response(response: Response) -> Result<http::Response<Bytes>, String> {
    if response.headers.len() > MAX_RESPONSE_HEADERS {
        return Err(format!("{} headers; the limit is {MAX_RESPONSE_HEADERS}", response.headers.len()));
    }
    let header_bytes: usize = response.headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum();
    if header_bytes > MAX_RESPONSE_HEADER_BYTES {
        return Err(format!("headers of {header_bytes} bytes; the limit is {MAX_RESPONSE_HEADER_BYTES}"));
    }
    let status = http::StatusCode::from_u16(response.status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .ok_or_else(|| format!("invalid status {}", response.status))?;
    let mut builder = http::Response::builder().status(status);
    let headers = builder.headers_mut().expect("a fresh builder has headers");
    for (name, value) in response.headers {
        let header_name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        if HOP_BY_HOP.contains(&header_name.as_str()) {
            continue;
        }
        let header_value =
            HeaderValue::from_str(&value).map_err(|_| format!("invalid value for header `{header_name}`"))?;
        headers.append(header_name, header_value);
    }
    builder.body(Bytes::from(response.body)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            body: b"hi".to_vec(),
        }
    }

    #[test]
    fn converts_status_headers_and_body_dropping_hop_by_hop() {
        let res = from_wit_response(response(201, &[("x-a", "1"), ("x-a", "2"), ("connection", "close")])).unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers().get_all("x-a").iter().count(), 2);
        assert!(res.headers().get("connection").is_none());
        assert_eq!(res.body().as_ref(), b"hi");
    }

    #[test]
    fn refuses_too_many_or_too_large_headers() {
        let many: Vec<(String, String)> = (0..=MAX_RESPONSE_HEADERS).map(|i| (format!("x-{i}"), "v".into())).collect();
        let refused = from_wit_response(Response { status: 200, headers: many, body: Vec::new() }).unwrap_err();
        assert!(refused.contains("101 headers; the limit is 100"), "{refused}");
        let big = vec![("x-big".to_owned(), "v".repeat(MAX_RESPONSE_HEADER_BYTES))];
        let refused = from_wit_response(Response { status: 200, headers: big, body: Vec::new() }).unwrap_err();
        assert!(refused.contains("the limit is 16384"), "{refused}");
        let fine: Vec<(String, String)> = (0..MAX_RESPONSE_HEADERS).map(|i| (format!("x-{i}"), "v".into())).collect();
        assert!(from_wit_response(Response { status: 200, headers: fine, body: Vec::new() }).is_ok());
    }

    #[test]
    fn refuses_header_injection_and_bad_status() {
        assert!(from_wit_response(response(200, &[("x", "a\r\nset-cookie: x")])).unwrap_err().contains("`x`"));
        assert!(from_wit_response(response(200, &[("bad name", "v")])).is_err());
        assert!(from_wit_response(response(99, &[])).unwrap_err().contains("invalid status 99"));
        assert!(from_wit_response(response(1000, &[])).is_err());
    }
}
