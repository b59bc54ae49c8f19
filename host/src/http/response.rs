//! WIT `response` -> `http::Response`, refusing what a client must never receive.

use crate::bindings::Response;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

/// Headers a plugin may not set: they describe the connection, not the response, and
/// the server computes them.
const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "content-length"];

/// Converts a plugin's response. An invalid status or header is the plugin's bug: the
/// error says what, for the host log.
pub fn from_wit_response(response: Response) -> Result<http::Response<Bytes>, String> {
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
    fn refuses_header_injection_and_bad_status() {
        assert!(from_wit_response(response(200, &[("x", "a\r\nset-cookie: x")])).unwrap_err().contains("`x`"));
        assert!(from_wit_response(response(200, &[("bad name", "v")])).is_err());
        assert!(from_wit_response(response(99, &[])).unwrap_err().contains("invalid status 99"));
        assert!(from_wit_response(response(1000, &[])).is_err());
    }
}
