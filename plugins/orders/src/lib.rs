//! `orders`: the front door of the order pipeline (README, "Events: the order pipeline").
//!
//! - `POST /v1/orders` validates an order (`{"customer": "ada", "items": [{"sku": "tea", "quantity": 2}]}`),
//!   records it as `accepted` in the kv store `orders` and sends it to the queue `orders`;
//!   it answers `202` with the order's id at once — the work happens in `order-worker`.
//! - `GET /v1/orders/{id}` answers the order and its status as the pipeline moves it
//!   along: `accepted`, then `processed` (by `order-worker`).
//!
//! The order id is the request id: unique, and the same in the host's log lines.
//!
//! As a workflow task (the order state machine's first step, `plughost invoke orders`),
//! it validates an order — `{"id": ..., "customer": ..., "items": [...]}` — and passes it
//! on, or fails with `OrderRejected`.

use plughost_sdk::kv::Store;
use plughost_sdk::queue::{Message, Queue};
use plughost_sdk::task::Failure;
use plughost_sdk::{Error, Json, Request, Response, Router, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const STORE: &str = "orders";
const QUEUE: &str = "orders";
const MAX_ITEMS: usize = 50;

/// An order as clients send it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub customer: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub sku: String,
    pub quantity: u32,
}

impl NewOrder {
    /// What is wrong with the order, if anything (a 400 naming the field).
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::bad_request(m));
        if self.customer.trim().is_empty() || self.customer.len() > 100 {
            return bad("customer must be 1-100 characters".into());
        }
        if self.items.is_empty() || self.items.len() > MAX_ITEMS {
            return bad(format!("items must hold 1 to {MAX_ITEMS} items"));
        }
        for (i, item) in self.items.iter().enumerate() {
            if item.sku.is_empty()
                || item.sku.len() > 64
                || !item.sku.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return bad(format!("items[{i}].sku must be 1-64 letters, digits or `-`"));
            }
            if !(1..=1000).contains(&item.quantity) {
                return bad(format!("items[{i}].quantity must be within 1..=1000"));
            }
        }
        Ok(())
    }
}

pub fn handle(req: Request) -> Response {
    Router::new().post("/v1/orders", create).get("/v1/orders/{id}", read).handle(req)
}

fn create(req: Request) -> Result<(StatusCode, Json<Value>), Error> {
    let order: NewOrder = req.json()?;
    order.check()?;
    let id = req.request_id().to_owned();
    let record = json!({ "id": id, "status": "accepted", "customer": order.customer, "items": order.items });
    Store::open(STORE)?.create_json(&format!("order/{id}"), &record)?;
    let message = json!({ "id": id, "customer": order.customer, "items": order.items });
    Queue::open(QUEUE)?.send(Message::json(&message)?.attribute("kind", "order"))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "status": "accepted" }))))
}

fn read(req: Request) -> Result<Json<Value>, Error> {
    let id = req.require_param("id")?;
    let (order, _) = Store::open(STORE)?
        .get_json::<Value>(&format!("order/{id}"))?
        .ok_or_else(|| Error::not_found("no such order"))?;
    Ok(Json(order))
}

/// An order as the workflow carries it: an id and the order.
#[derive(Debug, Deserialize, Serialize)]
pub struct WorkflowOrder {
    pub id: String,
    #[serde(flatten)]
    pub order: NewOrder,
}

/// The workflow's validation step: the order unchanged, or `OrderRejected` naming why.
pub fn validate(input: WorkflowOrder) -> Result<WorkflowOrder, Failure> {
    if input.id.is_empty() || input.id.len() > 64 {
        return Err(Failure::new("OrderRejected", "id must be 1-64 characters"));
    }
    input.order.check().map_err(|error| Failure::new("OrderRejected", error.message()))?;
    Ok(input)
}

plughost_sdk::plugin!(handle);
plughost_sdk::task!(validate);

#[cfg(test)]
mod tests {
    use super::*;

    fn order(text: &str) -> NewOrder {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_workflow_step_passes_a_valid_order_on_and_rejects_the_rest() {
        let valid: WorkflowOrder =
            serde_json::from_str(r#"{"id":"o1","customer":"ada","items":[{"sku":"tea","quantity":2}]}"#).unwrap();
        assert_eq!(validate(valid).unwrap().order.customer, "ada");
        let empty: WorkflowOrder = serde_json::from_str(r#"{"id":"o1","customer":"ada","items":[]}"#).unwrap();
        assert_eq!(validate(empty).unwrap_err().name, "OrderRejected");
    }

    #[test]
    fn orders_are_validated_field_by_field() {
        assert!(order(r#"{"customer":"ada","items":[{"sku":"tea","quantity":2}]}"#).check().is_ok());
        let cases = [
            (r#"{"customer":" ","items":[{"sku":"tea","quantity":1}]}"#, "customer"),
            (r#"{"customer":"ada","items":[]}"#, "items must hold"),
            (r#"{"customer":"ada","items":[{"sku":"t a","quantity":1}]}"#, "items[0].sku"),
            (r#"{"customer":"ada","items":[{"sku":"tea","quantity":0}]}"#, "items[0].quantity"),
        ];
        for (text, expected) in cases {
            let error = order(text).check().unwrap_err();
            assert!(error.message().contains(expected), "{text}: {}", error.message());
        }
    }
}
