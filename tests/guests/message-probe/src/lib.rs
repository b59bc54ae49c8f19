//! Test guest `message-probe`: exposes each queue, topic and bus call on its own route and
//! answers `200 {"ok": ...}` or `200 {"err": "<variant>[: <message>]"}`, so host tests can
//! assert the exact WIT result — including for labels the manifest does not grant. Routes
//! (bodies are JSON):
//!
//! | route                      | call                                                              |
//! |----------------------------|-------------------------------------------------------------------|
//! | `POST /queue/{label}`      | `send` of `{"body", "attributes"?: {..}, "delay"?, "group"?, "dedup"?}` → the message id |
//! | `POST /queue-batch/{label}`| `send-batch` of a list of those → a list of `{"ok"}`/`{"err"}`    |
//! | `POST /topic/{label}`      | `publish` of `{"body", "subject"?, "attributes"?}` → the message id |
//! | `POST /bus/{label}`        | `put` of `[{"source", "detail-type", "detail": <JSON or text>}]` → a list of `{"ok"}`/`{"err"}` |

use plughost_sdk::bus::{Bus, Entry};
use plughost_sdk::queue::{Message, Queue, StorageError};
use plughost_sdk::topic::{Notification, Topic};
use plughost_sdk::{Json, Request, Response, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Outgoing {
    body: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    delay: u32,
    group: Option<String>,
    dedup: Option<String>,
    subject: Option<String>,
}

impl Outgoing {
    fn message(self) -> Message {
        let mut message = Message::text(self.body).delay(self.delay);
        for (name, value) in self.attributes {
            message = message.attribute(name, value);
        }
        if let Some(group) = self.group {
            message = message.group(group);
        }
        if let Some(id) = self.dedup {
            message = message.deduplication_id(id);
        }
        message
    }
}

pub fn handle(req: Request) -> Response {
    Router::new()
        .post("/queue/{label}", |req: Request| {
            let outgoing: Outgoing = match req.json() {
                Ok(outgoing) => outgoing,
                Err(error) => return Json(json!({ "bad_request": error.message() })),
            };
            reply(Queue::open(label(&req)).and_then(|queue| queue.send(outgoing.message())))
        })
        .post("/queue-batch/{label}", |req: Request| {
            let batch: Vec<Outgoing> = match req.json() {
                Ok(batch) => batch,
                Err(error) => return Json(json!({ "bad_request": error.message() })),
            };
            let messages = batch.into_iter().map(Outgoing::message).collect();
            reply(Queue::open(label(&req)).and_then(|queue| queue.send_batch(messages)).map(each))
        })
        .post("/topic/{label}", |req: Request| {
            let outgoing: Outgoing = match req.json() {
                Ok(outgoing) => outgoing,
                Err(error) => return Json(json!({ "bad_request": error.message() })),
            };
            let mut notification = Notification::text(outgoing.body);
            if let Some(subject) = outgoing.subject {
                notification = notification.subject(subject);
            }
            for (name, value) in outgoing.attributes {
                notification = notification.attribute(name, value);
            }
            reply(Topic::open(label(&req)).and_then(|topic| topic.publish(notification)))
        })
        .post("/bus/{label}", |req: Request| {
            let entries: Vec<Value> = match req.json() {
                Ok(entries) => entries,
                Err(error) => return Json(json!({ "bad_request": error.message() })),
            };
            let entries: Vec<Entry> = entries
                .into_iter()
                .map(|e| Entry {
                    source: e["source"].as_str().unwrap_or_default().to_owned(),
                    detail_type: e["detail-type"].as_str().unwrap_or_default().to_owned(),
                    // A string is sent as it is (to test invalid details), anything else as JSON.
                    detail: e["detail"].as_str().map_or_else(|| e["detail"].to_string(), str::to_owned),
                })
                .collect();
            reply(Bus::open(label(&req)).and_then(|bus| bus.put(&entries)).map(each))
        })
        .handle(req)
}

fn label(req: &Request) -> &str {
    req.param("label").unwrap_or_default()
}

fn describe(error: &StorageError) -> String {
    match error {
        StorageError::NotFound => "not-found".into(),
        StorageError::AccessDenied => "access-denied".into(),
        StorageError::Conflict => "conflict".into(),
        StorageError::InvalidInput(m) => format!("invalid-input: {m}"),
        StorageError::LimitExceeded(m) => format!("limit-exceeded: {m}"),
        StorageError::Unavailable(m) => format!("unavailable: {m}"),
    }
}

fn each(results: Vec<Result<String, StorageError>>) -> Vec<Value> {
    results
        .iter()
        .map(|r| match r {
            Ok(id) => json!({ "ok": id }),
            Err(e) => json!({ "err": describe(e) }),
        })
        .collect()
}

fn reply<T: serde::Serialize>(result: Result<T, StorageError>) -> Json<Value> {
    Json(match result {
        Ok(ok) => json!({ "ok": ok }),
        Err(error) => json!({ "err": describe(&error) }),
    })
}

plughost_sdk::plugin!(handle);
