//! `activity`: the example of an event-driven plugin — one component that handles events
//! and answers HTTP. It records every event its triggers deliver (schedule ticks, image
//! uploads, product changes, queue jobs, topic alerts, shop events on the bus) in the kv
//! store `activity`, for a day, and serves the newest at `GET /v1/activity`.
//!
//! Delivery is at least once, and recording an event is one kv write: so the record and the
//! event's claim are written in one transaction (the SDK's `events::commit_once`) — crash
//! or not, a redelivered event is recorded exactly once. A queue job whose body is not JSON
//! is refused (an error): the host redelivers it and, after the queue's `max_receives`,
//! dead-letters it.

use plughost_sdk::events::{self, ChangeKind, Event, ObjectChange, Payload};
use plughost_sdk::kv::{Condition, Store, Write, WriteOptions};
use plughost_sdk::{Error, Json, Request, Response, Router};
use serde_json::{Value, json};

const STORE: &str = "activity";
/// How long events (and their idempotency claims) are kept.
const KEEP_SECONDS: u32 = 86_400;

pub fn handle(req: Request) -> Response {
    Router::new().get("/v1/activity", list).handle(req)
}

/// The newest events first: `?limit=` 1..=100 (default 20).
fn list(req: Request) -> Result<Json<Value>, Error> {
    let limit = match req.query("limit") {
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| Error::bad_request("limit must be a number in 1..=100"))?,
        None => 20,
    };
    let store = Store::open(STORE)?;
    let page = store.list("event/", None, limit)?;
    let mut events = Vec::with_capacity(page.keys.len());
    for entry in store.get_many(&page.keys)?.into_iter().flatten() {
        events.push(serde_json::from_slice::<Value>(&entry.value).unwrap_or(Value::Null));
    }
    Ok(Json(json!({ "events": events })))
}

/// What one event says, as recorded (values of kv changes are left out: only the key).
pub fn describe(event: &Event) -> Result<Value, Error> {
    Ok(match &event.payload {
        Payload::Schedule(tick) => json!({ "schedule": tick.name, "time": tick.time }),
        Payload::Object(object) => json!({
            "container": object.container, "key": object.key, "size": object.size, "time": object.time,
            "change": match object.change { ObjectChange::Created => "created", ObjectChange::Removed => "removed" },
        }),
        Payload::Message(message) => {
            let job: Value = message.json()?; // not JSON: refused, redelivered, dead-lettered
            json!({ "queue": message.queue, "job": job, "receive_count": message.receive_count })
        }
        Payload::Notification(alert) => {
            json!({ "topic": alert.topic, "subject": alert.subject, "body": alert.body, "time": alert.time })
        }
        Payload::Change(change) => json!({
            "store": change.store, "key": change.key, "time": change.time,
            "change": match change.kind {
                ChangeKind::Inserted => "inserted", ChangeKind::Modified => "modified", ChangeKind::Removed => "removed",
            },
        }),
        Payload::Custom(custom) => json!({
            "bus": custom.bus, "source": custom.source, "detail_type": custom.detail_type,
            "detail": custom.detail::<Value>()?, "time": custom.time,
        }),
    })
}

fn on_event(event: Event) -> Result<(), Error> {
    let summary = describe(&event)?;
    let store = Store::open(STORE)?;
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let record = json!({ "id": event.id, "kind": event.kind(), "recorded": time, "event": summary });
    // Newest first in key order: the key counts down with the time it was recorded.
    let key = format!("event/{:020}/{}", u64::MAX - time, event.id);
    let options = WriteOptions { condition: Condition::Always, ttl_seconds: Some(KEEP_SECONDS) };
    // The record and the event's claim together: a repeat writes nothing.
    events::commit_once(
        &store,
        &event,
        KEEP_SECONDS,
        vec![Write::Set((key, record.to_string().into_bytes(), options))],
    )?;
    Ok(())
}

plughost_sdk::plugin!(handle);
plughost_sdk::events!(on_event);

#[cfg(test)]
mod tests {
    use super::*;
    use plughost_sdk::events::{Payload, Schedule};

    #[test]
    fn an_event_delivered_twice_is_recorded_once() {
        plughost_sdk::testing::clear_kv();
        let tick = Event {
            id: "schedule/activity/heartbeat@60".into(),
            payload: Payload::Schedule(Schedule { name: "heartbeat".into(), time: 60 }),
        };
        on_event(tick.clone()).unwrap();
        on_event(tick).unwrap();
        let store = Store::open(STORE).unwrap();
        let page = store.list("event/", None, 10).unwrap();
        assert_eq!(page.keys.len(), 1, "{:?}", page.keys);
        assert!(page.keys[0].ends_with("/schedule/activity/heartbeat@60"));
    }
}
