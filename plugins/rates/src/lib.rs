//! `rates`: exchange rates from an external API — a plugin calling out over HTTP.
//!
//! - `GET /v1/rates/{base}?to=USD` → `{"base": "EUR", "to": "USD", "rate": 1.0842, "date": "..."}`
//!
//! It asks `{rates_url}/latest?from=<base>&to=<to>` (config `rates_url`; the format of
//! frankfurter.app, an open ECB-rates API), and the manifest must allow that host in
//! `allowed_outbound_hosts` — nothing else is reachable. Currency codes are checked (three
//! letters) before they go into the URL. An upstream that fails, is refused or times out
//! answers `502` / `504`; what it said stays in the log.

use plughost_sdk::http::{self, HttpError};
use plughost_sdk::{Error, Json, Request, Response, Router, config, log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Serialize)]
struct Rate {
    base: String,
    to: String,
    rate: f64,
    date: String,
}

/// What the upstream answers (frankfurter.app's `/latest`).
#[derive(Debug, Deserialize)]
struct Latest {
    #[serde(default)]
    date: String,
    rates: BTreeMap<String, f64>,
}

pub fn handle(req: Request) -> Response {
    Router::new().get("/v1/rates/{base}", rate).handle(req)
}

/// A currency code as ISO 4217 writes it (upper-cased): the only text that reaches the URL.
fn currency(value: &str, what: &str) -> Result<String, Error> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::bad_request(format!("{what} must be a three-letter currency code")));
    }
    Ok(code)
}

fn rate(req: Request) -> Result<Json<Rate>, Error> {
    let base = currency(req.require_param("base")?, "base")?;
    let to = currency(req.query("to").unwrap_or("USD"), "to")?;
    if base == to {
        return Ok(Json(Rate { base, to, rate: 1.0, date: String::new() }));
    }
    let upstream = config::get("rates_url").ok_or_else(|| Error::internal("rates_url is not configured"))?;
    let url = format!("{}/latest?from={base}&to={to}", upstream.trim_end_matches('/'));
    let response = http::get(&url).timeout(Duration::from_secs(2)).max_response(64 * 1024).send().map_err(|e| {
        log::log(log::LogLevel::Warn, "rates upstream failed", &[("error", &e.to_string())]);
        Error::from(e)
    })?;
    if !response.is_success() {
        log::log(log::LogLevel::Warn, "rates upstream refused", &[("status", &response.status.to_string())]);
        return Err(Error::from(HttpError::Status(response.status)));
    }
    let latest: Latest = response.json()?;
    let rate =
        latest.rates.get(&to).copied().ok_or_else(|| Error::not_found(format!("no rate from {base} to {to}")))?;
    Ok(Json(Rate { base, to, rate, date: latest.date }))
}

plughost_sdk::plugin!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use plughost_sdk::http::IncomingResponse;
    use plughost_sdk::{Method, StatusCode, testing};

    fn get(base: &str, to: &str) -> Response {
        handle(Request::builder(Method::Get, "/v1/rates/{base}").param("base", base).query("to", to).build())
    }

    #[test]
    fn asks_the_configured_upstream_and_reads_its_rate() {
        testing::set_config("rates_url", "https://rates.example/");
        testing::respond_http(|request| {
            assert_eq!(request.url, "https://rates.example/latest?from=EUR&to=USD");
            Ok(IncomingResponse::new(200, r#"{"amount":1,"base":"EUR","date":"2026-12-01","rates":{"USD":1.0842}}"#))
        });
        let response = get("eur", "usd");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body_json().unwrap()["rate"], 1.0842);
    }

    #[test]
    fn bad_codes_never_reach_the_url_and_upstream_failures_are_gateway_errors() {
        testing::set_config("rates_url", "https://rates.example");
        testing::respond_http(|_| panic!("nothing may be sent"));
        assert_eq!(get("EU&R", "USD").status(), StatusCode::BAD_REQUEST);
        assert_eq!(get("EUR", "US/D").status(), StatusCode::BAD_REQUEST);
        testing::respond_http(|_| Err(HttpError::Timeout));
        assert_eq!(get("EUR", "USD").status(), StatusCode::GATEWAY_TIMEOUT);
        testing::respond_http(|_| Ok(IncomingResponse::new(500, "down")));
        assert_eq!(get("EUR", "USD").status(), StatusCode::BAD_GATEWAY);
    }
}
