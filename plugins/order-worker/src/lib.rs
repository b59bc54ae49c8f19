//! `order-worker`: the order pipeline's worker (README, "Events: the order pipeline").
//! It consumes the queue `orders` that the `orders` plugin sends to:
//!
//! 1. processes the order — an order with an item of sku `poison` fails on purpose, so it
//!    is redelivered and, after the queue's `max_receives`, lands in the dead-letter queue;
//! 2. records the result on the order (`status = "processed"`, the units counted) in the
//!    kv store `orders`;
//! 3. announces it: an `OrderProcessed` event (source `shop.orders`) on the bus `app`,
//!    which the `notifier` plugin's trigger matches, and a notification on the topic
//!    `order-events`, whose subscribers (the queue `order-audit`) keep a record.
//!
//! Steps 2 and 3 run under the SDK's idempotency guard (`events::once`): the message is
//! claimed *in progress* until this invocation's deadline and marked *completed* only
//! after the announcements went out. A redelivery of a completed message does nothing; one
//! whose earlier delivery died midway (a crash, a kill, a timeout) runs the steps again
//! once the claim has expired — recording is idempotent (an order already processed is
//! left alone), and the announcement may go out twice, which `notifier` absorbs (one
//! notification per order). If recording or announcing fails, the claim is released and
//! the error returned: the message comes back and the steps run again.
//!
//! As a workflow task (the order state machine's process step, `plughost invoke
//! order-worker`) it processes and records the order it is given and returns
//! `{"id", "customer", "units"}` for the notify step; a poison order fails with
//! `OrderFailed`, which the state machine catches.

use plughost_sdk::Error;
use plughost_sdk::bus::Bus;
use plughost_sdk::events::{self, Event, Payload};
use plughost_sdk::kv::Store;
use plughost_sdk::task::Failure;
use plughost_sdk::topic::{Notification, Topic};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const STORE: &str = "orders";
const BUS: &str = "app";
const TOPIC: &str = "order-events";
/// How long a processed message's claim is remembered (longer than the queue redelivers).
const CLAIM_SECONDS: u32 = 86_400;

/// An order as `orders` queues it.
#[derive(Debug, Deserialize)]
pub struct QueuedOrder {
    pub id: String,
    pub customer: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
pub struct Item {
    pub sku: String,
    pub quantity: u32,
}

/// Processes an order: the units it holds, or why it cannot be processed.
pub fn process(order: &QueuedOrder) -> Result<u64, String> {
    if let Some(item) = order.items.iter().find(|item| item.sku == "poison") {
        return Err(format!("order {} holds sku `{}`, which cannot be processed", order.id, item.sku));
    }
    Ok(order.items.iter().map(|item| u64::from(item.quantity)).sum())
}

fn on_event(event: Event) -> Result<(), Error> {
    let Payload::Message(message) = &event.payload else {
        return Ok(()); // only the queue reaches this plugin (its manifest entry)
    };
    let order: QueuedOrder = message.json()?;
    let units = process(&order).map_err(Error::unprocessable)?;
    let store = Store::open(STORE)?;
    events::once(&store, &event, CLAIM_SECONDS, || record_and_announce(&store, &order, units))?;
    Ok(())
}

fn record_and_announce(store: &Store, order: &QueuedOrder, units: u64) -> Result<(), Error> {
    record(store, order, units)?;
    let detail = Processed { id: order.id.clone(), customer: order.customer.clone(), units };
    Bus::open(BUS)?.put_json("shop.orders", "OrderProcessed", &detail)?;
    let notification = Notification::json(&detail)?.subject("OrderProcessed").attribute("order", &order.id);
    Topic::open(TOPIC)?.publish(notification)?;
    Ok(())
}

/// Marks the order processed in the store (creating its record when the order came from
/// a workflow rather than `POST /v1/orders`). Idempotent.
fn record(store: &Store, order: &QueuedOrder, units: u64) -> Result<(), Error> {
    let key = format!("order/{}", order.id);
    let (mut record, version) = match store.get_json::<Value>(&key)? {
        Some((record, version)) => (record, Some(version)),
        None => (json!({ "id": order.id, "customer": order.customer }), None),
    };
    if record["status"] == "processed" {
        return Ok(());
    }
    record["status"] = json!("processed");
    record["units"] = json!(units);
    match version {
        Some(version) => store.replace_json(&key, &record, version)?,
        None => store.create_json(&key, &record)?,
    };
    Ok(())
}

/// What a processed order's announcement (and the workflow step's output) carries.
#[derive(Debug, Serialize)]
pub struct Processed {
    pub id: String,
    pub customer: String,
    pub units: u64,
}

/// The workflow's process step: the order processed and recorded, or `OrderFailed`.
fn process_task(order: QueuedOrder) -> Result<Processed, Failure> {
    let units = process(&order).map_err(|why| Failure::new("OrderFailed", why))?;
    record(&Store::open(STORE)?, &order, units)?;
    Ok(Processed { id: order.id, customer: order.customer, units })
}

plughost_sdk::events!(on_event);
plughost_sdk::task!(process_task);

#[cfg(test)]
mod tests {
    use super::*;

    fn order(skus: &[(&str, u32)]) -> QueuedOrder {
        QueuedOrder {
            id: "o1".into(),
            customer: "ada".into(),
            items: skus.iter().map(|(sku, quantity)| Item { sku: sku.to_string(), quantity: *quantity }).collect(),
        }
    }

    #[test]
    fn an_order_counts_its_units_and_a_poison_sku_fails_it() {
        assert_eq!(process(&order(&[("tea", 2), ("cake", 3)])), Ok(5));
        assert!(process(&order(&[("tea", 1), ("poison", 1)])).unwrap_err().contains("sku `poison`"));
    }
}
