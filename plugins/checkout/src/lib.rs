//! `checkout`: totals a basket by calling two other plugins of the deployment in-process —
//! service chaining. It has no network of its own: its manifest entry allows only
//! `http://pricing.plughost.internal` and `http://rates.plughost.internal`, and each callee
//! runs on its own fresh instance under its own grants (`rates` may reach its external API;
//! `checkout` may not).
//!
//! - `POST /v1/checkout` with `{"currency": "EUR", "pay_in"?: "USD", "items": [{"sku",
//!   "unit_price_cents", "quantity"}]}` → `{"quote": <pricing's quote>, "pay": {"currency",
//!   "amount_cents", "rate"}}`. The `x-customer-tier` header is passed on to pricing.
//!
//! A callee's client error (say pricing's `422` for an empty basket) is answered as it is;
//! a callee that fails is a `502`.

use plughost_sdk::http::{self, IncomingResponse};
use plughost_sdk::{Error, Json, Request, Response, Router, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct Checkout {
    currency: String,
    pay_in: Option<String>,
    items: Value,
}

pub fn handle(req: Request) -> Response {
    Router::new().post("/v1/checkout", checkout).handle(req)
}

fn checkout(req: Request) -> Result<Json<Value>, Error> {
    let order: Checkout = req.json()?;
    let currency = code(&order.currency, "currency")?;
    let mut quote_request =
        http::post(&http::service("pricing", &format!("/v1/quotes/{currency}"))).json(&json!({ "items": order.items }));
    if let Some(tier) = req.header("x-customer-tier") {
        quote_request = quote_request.header("x-customer-tier", tier);
    }
    let quote = answer(quote_request.send()?)?;
    let total = quote["total_cents"].as_u64().ok_or_else(|| Error::internal("pricing answered without a total"))?;

    let pay_in = match &order.pay_in {
        Some(pay_in) => code(pay_in, "pay_in")?,
        None => currency.clone(),
    };
    let (rate, amount) = if pay_in == currency {
        (1.0, total)
    } else {
        let rate = answer(http::get(&http::service("rates", &format!("/v1/rates/{currency}?to={pay_in}"))).send()?)?;
        let rate = rate["rate"].as_f64().ok_or_else(|| Error::internal("rates answered without a rate"))?;
        (rate, (total as f64 * rate).round() as u64)
    };
    Ok(Json(json!({ "quote": quote, "pay": { "currency": pay_in, "amount_cents": amount, "rate": rate } })))
}

fn code(value: &str, what: &str) -> Result<String, Error> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::bad_request(format!("{what} must be a three-letter currency code")));
    }
    Ok(code)
}

/// A callee's JSON answer; its 4xx passed on as it is (the client's mistake), anything else
/// not 2xx a 502.
fn answer(response: IncomingResponse) -> Result<Value, Error> {
    let body: Value = response.json().unwrap_or(Value::Null);
    match response.status {
        200..=299 => Ok(body),
        status @ 400..=499 => {
            let message = body["error"]["message"].as_str().unwrap_or("rejected by a service it calls").to_owned();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            Err(Error::new(status, body["error"]["code"].as_str().unwrap_or("rejected").to_owned(), message))
        }
        status => Err(Error::from(http::HttpError::Status(status))),
    }
}

plughost_sdk::plugin!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use plughost_sdk::{Method, testing};

    fn post(body: Value) -> Response {
        handle(
            Request::builder(Method::Post, "/v1/checkout")
                .header("content-type", "application/json")
                .body(body.to_string())
                .build(),
        )
    }

    #[test]
    fn prices_through_pricing_and_converts_through_rates() {
        testing::respond_http(|request| match request.url.as_str() {
            "http://pricing.plughost.internal/v1/quotes/EUR" => {
                Ok(IncomingResponse::new(200, r#"{"currency":"EUR","total_cents":1000}"#))
            }
            "http://rates.plughost.internal/v1/rates/EUR?to=USD" => Ok(IncomingResponse::new(200, r#"{"rate":1.5}"#)),
            other => panic!("unexpected call to {other}"),
        });
        let response = post(json!({ "currency": "eur", "pay_in": "usd", "items": [] }));
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.body_json().unwrap();
        assert_eq!(body["pay"], json!({ "currency": "USD", "amount_cents": 1500, "rate": 1.5 }));
    }

    #[test]
    fn a_callees_client_error_is_passed_on_and_its_failure_is_a_bad_gateway() {
        testing::respond_http(|_| {
            Ok(IncomingResponse::new(
                422,
                r#"{"error":{"code":"unprocessable","message":"items must hold 1 to 100 entries"}}"#,
            ))
        });
        let response = post(json!({ "currency": "EUR", "items": [] }));
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.body_json().unwrap()["error"]["message"], "items must hold 1 to 100 entries");
        testing::respond_http(|_| Err(http::HttpError::Denied));
        assert_eq!(post(json!({ "currency": "EUR", "items": [] })).status(), StatusCode::BAD_GATEWAY);
    }
}
