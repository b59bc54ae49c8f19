//! Test guest: an events-only plugin (no HTTP `handler` export). For every event it
//! handles it writes, in the kv store `seen`:
//!
//! - `count/<kind>` — incremented (`schedule`, `object`, `message`, ...);
//! - `last/<kind>` — the event as JSON (what the host delivered, field by field);
//! - `attempts/<event id>` — incremented on every delivery, failed ones included.
//!
//! A message, notification, custom event (`detail.body`) or kv change (new value) whose
//! body is `"fail"` returns an error (the host must redeliver it; `"fail-long"` with a
//! 100 kB reason the host must cut short); `"panic"` panics (a
//! trap, handled the same way); `"sleep"` sleeps 3 s first (to stop the host mid-event).

use plughost_sdk::events::{ChangeKind, Event, ObjectChange, Payload};
use plughost_sdk::kv::Store;
use serde_json::json;

fn on_event(event: Event) -> Result<(), String> {
    let seen = Store::open("seen").map_err(|e| format!("open seen: {e:?}"))?;
    seen.increment(&format!("attempts/{}", event.id), 1).map_err(|e| format!("attempts: {e:?}"))?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let (summary, body) = match &event.payload {
        Payload::Schedule(s) => (json!({ "name": s.name, "time": s.time }), String::new()),
        Payload::Object(o) => (
            json!({ "container": o.container, "key": o.key, "size": o.size, "etag": o.etag, "time": o.time,
                    "change": match o.change { ObjectChange::Created => "created", ObjectChange::Removed => "removed" } }),
            String::new(),
        ),
        Payload::Message(m) => (
            json!({ "queue": m.queue, "message_id": m.message_id, "body": text(&m.body),
                    "attributes": m.attributes, "receive_count": m.receive_count }),
            text(&m.body),
        ),
        Payload::Notification(n) => (
            json!({ "topic": n.topic, "message_id": n.message_id, "subject": n.subject, "body": n.body,
                    "attributes": n.attributes, "time": n.time }),
            n.body.clone(),
        ),
        Payload::Change(c) => (
            json!({ "store": c.store, "key": c.key,
                    "kind": match c.kind { ChangeKind::Inserted => "inserted", ChangeKind::Modified => "modified", ChangeKind::Removed => "removed" },
                    "old": c.old_value.as_deref().map(text), "new": c.new_value.as_deref().map(text), "time": c.time }),
            c.new_value.as_deref().map(text).unwrap_or_default(),
        ),
        Payload::Custom(c) => (
            json!({ "bus": c.bus, "source": c.source, "detail_type": c.detail_type, "detail": c.detail, "time": c.time }),
            serde_json::from_str::<serde_json::Value>(&c.detail)
                .ok()
                .and_then(|d| d.get("body").and_then(|b| b.as_str()).map(str::to_owned))
                .unwrap_or_default(),
        ),
    };
    match body.as_str() {
        "fail" => return Err(format!("asked to fail ({})", event.id)),
        "fail-long" => return Err(format!("asked to fail at length: {}", "x".repeat(100_000))),
        "panic" => panic!("asked to panic ({})", event.id),
        "sleep" => std::thread::sleep(std::time::Duration::from_secs(3)),
        _ => {}
    }
    let kind = event.kind();
    let record = json!({ "id": event.id, "kind": kind, "event": summary });
    seen.set(&format!("last/{kind}"), record.to_string().as_bytes()).map_err(|e| format!("last: {e:?}"))?;
    seen.increment(&format!("count/{kind}"), 1).map_err(|e| format!("count: {e:?}"))?;
    Ok(())
}

plughost_sdk::events!(on_event);
