//! `notifier`: the end of the order pipeline (README, "Events: the order pipeline"). Its
//! trigger on the bus `app` matches `OrderProcessed` events from `shop.orders`; for each it
//! records a notification for the customer in the kv store `notifications`, once per order:
//! the record is created only if the order has none, so an event delivered twice — or an
//! order announced twice, by a worker that crashed after announcing it and ran again —
//! leaves the first notification as it was. `GET /v1/notifications/{orderId}` answers it.
//!
//! As a workflow task (the order state machine's notify step, `plughost invoke
//! notifier`) it records the notification for the processed order it is given and
//! returns it.

use plughost_sdk::events::{Event, Payload};
use plughost_sdk::kv::{Condition, StorageError, Store, WriteOptions};
use plughost_sdk::{Error, Json, Request, Response, Router};
use serde::Deserialize;
use serde_json::{Value, json};

const STORE: &str = "notifications";

/// The detail of an `OrderProcessed` event.
#[derive(Debug, Deserialize)]
pub struct OrderProcessed {
    pub id: String,
    pub customer: String,
    pub units: u64,
}

/// The notification a customer gets for a processed order.
pub fn notification(order: &OrderProcessed, time: u64) -> Value {
    json!({
        "order": order.id,
        "customer": order.customer,
        "message": format!("{}, your order {} ({} items) is on its way", order.customer, order.id, order.units),
        "time": time,
    })
}

fn on_event(event: Event) -> Result<(), Error> {
    let Payload::Custom(custom) = &event.payload else {
        return Ok(());
    };
    let order: OrderProcessed = custom.detail()?;
    save(&notification(&order, custom.time), &order.id)
}

/// Creates the order's notification; one that exists already stays (idempotent by order).
fn save(record: &Value, order: &str) -> Result<(), Error> {
    let options = WriteOptions { condition: Condition::Absent, ttl_seconds: None };
    match Store::open(STORE)?.set_with(&format!("notification/{order}"), record.to_string().as_bytes(), options) {
        Ok(_) | Err(StorageError::Conflict) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The workflow's notify step: the notification recorded, and returned.
fn notify_task(order: OrderProcessed) -> Result<Value, Error> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let record = notification(&order, now);
    save(&record, &order.id)?;
    Ok(record)
}

pub fn handle(req: Request) -> Response {
    Router::new().get("/v1/notifications/{orderId}", read).handle(req)
}

fn read(req: Request) -> Result<Json<Value>, Error> {
    let id = req.require_param("orderId")?;
    let (record, _) = Store::open(STORE)?
        .get_json::<Value>(&format!("notification/{id}"))?
        .ok_or_else(|| Error::not_found("no notification for this order (yet)"))?;
    Ok(Json(record))
}

plughost_sdk::plugin!(handle);
plughost_sdk::events!(on_event);
plughost_sdk::task!(notify_task);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_names_the_customer_and_the_order() {
        let order = OrderProcessed { id: "o1".into(), customer: "ada".into(), units: 3 };
        let record = notification(&order, 7);
        assert_eq!(record["message"], "ada, your order o1 (3 items) is on its way");
        assert_eq!((record["order"].as_str(), record["time"].as_u64()), (Some("o1"), Some(7)));
    }

    #[test]
    fn an_order_announced_twice_keeps_its_first_notification() {
        plughost_sdk::testing::clear_kv();
        let order = OrderProcessed { id: "o2".into(), customer: "ada".into(), units: 1 };
        save(&notification(&order, 1), &order.id).unwrap();
        save(&notification(&order, 2), &order.id).unwrap();
        let (kept, _) = Store::open(STORE).unwrap().get_json::<Value>("notification/o2").unwrap().unwrap();
        assert_eq!(kept["time"], 1);
    }
}
