//! `pricing`: prices a basket of items — a stateless microservice that exercises every
//! part of a request.
//!
//! - `POST /v1/quotes/{currency}?discount_percent=10` with a JSON body
//!   `{"items": [{"sku": "A-1", "unit_price_cents": 250, "quantity": 4}]}` and an optional
//!   `x-customer-tier: gold` header (gold adds 5 % off). Answers the line totals and total.
//! - `GET /v1/currencies`: the currencies this deployment quotes in (config `currencies`,
//!   comma-separated).
//!
//! Bad input gets a 400/415/422 naming the problem; amounts are integer cents so nothing
//! is lost to floating point.

use plughost_sdk::{Error, Json, Request, Response, Router, StatusCode, config, log, trace};
use serde::{Deserialize, Serialize};

const MAX_ITEMS: usize = 100;
const MAX_QUANTITY: u32 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteRequest {
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    sku: String,
    unit_price_cents: u64,
    quantity: u32,
}

#[derive(Debug, Serialize)]
struct Quote {
    currency: String,
    lines: Vec<Line>,
    subtotal_cents: u64,
    discount_percent: u32,
    total_cents: u64,
    request_id: String,
}

#[derive(Debug, Serialize)]
struct Line {
    sku: String,
    quantity: u32,
    line_total_cents: u64,
}

pub fn handle(req: Request) -> Response {
    Router::new()
        .post("/v1/quotes/{currency}", quote)
        .get("/v1/currencies", |_req: Request| Json(currencies()))
        .handle(req)
}

fn currencies() -> Vec<String> {
    config::get("currencies")
        .unwrap_or_else(|| "EUR,USD".to_owned())
        .split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .collect()
}

fn quote(req: Request) -> Result<(StatusCode, Json<Quote>), Error> {
    let currency = req.require_param("currency")?.to_ascii_uppercase();
    if !currencies().contains(&currency) {
        return Err(Error::not_found(format!("currency `{currency}` is not quoted here")));
    }
    let mut discount: u32 = req.query_parse("discount_percent")?.unwrap_or(0);
    if discount > 50 {
        return Err(Error::unprocessable("discount_percent must be between 0 and 50"));
    }
    if req.header("x-customer-tier").is_some_and(|t| t.eq_ignore_ascii_case("gold")) {
        discount += 5;
    }

    let body: QuoteRequest = req.json()?;
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(Error::unprocessable(format!("items must hold 1 to {MAX_ITEMS} entries")));
    }
    // A span of our own in the request's trace (where the operator exports traces).
    let mut span = trace::span("price quote").attribute("currency", &currency);
    let mut lines = Vec::with_capacity(body.items.len());
    let mut subtotal: u64 = 0;
    for (i, item) in body.items.into_iter().enumerate() {
        if item.quantity == 0 || item.quantity > MAX_QUANTITY {
            return Err(Error::unprocessable(format!("items[{i}].quantity must be between 1 and {MAX_QUANTITY}")));
        }
        let line_total = item
            .unit_price_cents
            .checked_mul(u64::from(item.quantity))
            .ok_or_else(|| Error::unprocessable(format!("items[{i}] total is too large")))?;
        subtotal = subtotal.checked_add(line_total).ok_or_else(|| Error::unprocessable("basket total is too large"))?;
        lines.push(Line { sku: item.sku, quantity: item.quantity, line_total_cents: line_total });
    }
    // Integer division rounds the discount down, so it never exceeds the stated percentage.
    let discount_cents = subtotal * u64::from(discount) / 100;
    let total = subtotal - discount_cents;
    span.set_attribute("lines", &lines.len().to_string());
    drop(span);
    log::log(
        log::LogLevel::Info,
        "quote priced",
        &[("currency", &currency), ("lines", &lines.len().to_string()), ("total_cents", &total.to_string())],
    );
    Ok((
        StatusCode::OK,
        Json(Quote {
            currency,
            lines,
            subtotal_cents: subtotal,
            discount_percent: discount,
            total_cents: total,
            request_id: req.request_id().to_owned(),
        }),
    ))
}

plughost_sdk::plugin!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use plughost_sdk::{Method, testing};

    fn quote_request(body: &str) -> plughost_sdk::RequestBuilder {
        Request::builder(Method::Post, "/v1/quotes/{currency}")
            .param("currency", "usd")
            .header("content-type", "application/json")
            .body(body)
    }

    #[test]
    fn prices_lines_and_applies_discounts() {
        let res = handle(
            quote_request(r#"{"items":[{"sku":"A","unit_price_cents":333,"quantity":3}]}"#)
                .query("discount_percent", "10")
                .header("x-customer-tier", "GOLD")
                .build(),
        );
        assert_eq!(res.status(), StatusCode::OK);
        let quote = res.body_json().unwrap();
        assert_eq!(quote["subtotal_cents"], 999);
        assert_eq!(quote["discount_percent"], 15);
        // 15 % of 999 is 149.85: the discount rounds down to 149.
        assert_eq!(quote["total_cents"], 850);
        let logs = testing::take_logs();
        assert_eq!(logs.last().unwrap().message, "quote priced");
        let spans = testing::take_spans();
        assert_eq!(spans[0].name, "price quote");
        assert_eq!(spans[0].attributes, [("currency".into(), "USD".into()), ("lines".into(), "1".into())]);
    }

    #[test]
    fn overflowing_totals_are_422_not_a_panic() {
        let body = format!(r#"{{"items":[{{"sku":"A","unit_price_cents":{},"quantity":2}}]}}"#, u64::MAX);
        let res = handle(quote_request(&body).build());
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn unknown_fields_and_unquoted_currencies_are_rejected() {
        let res = handle(quote_request(r#"{"items":[],"coupon":"FREE"}"#).build());
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.body_json().unwrap()["error"]["message"].as_str().unwrap().contains("coupon"));

        testing::set_config("currencies", "EUR");
        let res = handle(quote_request(r#"{"items":[]}"#).build());
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        testing::clear_config();
    }

    #[test]
    fn currencies_come_from_config() {
        testing::set_config("currencies", " gbp, eur ,");
        let res = handle(Request::builder(Method::Get, "/v1/currencies").build());
        assert_eq!(res.body_json().unwrap(), serde_json::json!(["GBP", "EUR"]));
    }
}
