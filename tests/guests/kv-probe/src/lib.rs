//! Test guest `kv-probe`: exposes each kv call on its own route and answers
//! `200 {"ok": ...}` or `200 {"err": "<variant>"}`, so host tests can assert the exact WIT
//! result — including for labels the manifest does not grant. Routes:
//!
//! | route                          | call                                               |
//! |--------------------------------|----------------------------------------------------|
//! | `GET /kv/{label}/{key}`        | `get` → `{"value", "version"}` or null, inside a span `kv-probe read` (attributes `key`, `note` = `?note=`) |
//! | `PUT /kv/{label}/{key}`        | `set`; `?if=absent` or `?if=<version>`, `?ttl=<s>` |
//! | `DELETE /kv/{label}/{key}`     | `delete`; `?if=` as above                          |
//! | `POST /kv-incr/{label}/{key}`  | `increment` by `?by=` (default 1)                  |
//! | `GET /kv-list/{label}`         | `list` with `?prefix=&cursor=&limit=`              |
//! | `POST /kv-tx/{label}`          | `transact`: body `[{"set"|"delete": key, "value"?, "if"?}]` |
//! | `POST /kv-many/{label}`        | `get-many`: body `["k1", "k2"]`                    |
//! | `POST /kv-storm/{label}`       | `?rounds=R` transactions of `?values=N` values of `?size=S` bytes, until one fails → `{"rounds_ok", "err"?}` |
//!
//! The same routes exist under `/other`, to mount the component as a second plugin.

use plughost_sdk::kv::{Condition, StorageError, Store, Write, WriteOptions};
use plughost_sdk::{Json, Request, Response, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn handle(req: Request) -> Response {
    // Every route also exists under `/other`, so tests can mount this component twice
    // as two plugins with different grants.
    ["", "/other"].into_iter().fold(Router::new(), routes).handle(req)
}

fn routes(router: Router, base: &str) -> Router {
    router
        .get(&format!("{base}/kv/{{label}}/{{key}}"), |req: Request| {
            // A span of the plugin's own around the read (its attribute `note` from the query).
            let _span = plughost_sdk::trace::span("kv-probe read")
                .attribute("key", key(&req))
                .attribute("note", req.query("note").unwrap_or_default());
            reply(
                open(&req)
                    .and_then(|s| s.get(key(&req)))
                    .map(|e| e.map(|e| json!({ "value": String::from_utf8_lossy(&e.value), "version": e.version }))),
            )
        })
        .put(&format!("{base}/kv/{{label}}/{{key}}"), |req: Request| {
            let options =
                WriteOptions { condition: condition(&req), ttl_seconds: req.query("ttl").and_then(|t| t.parse().ok()) };
            reply(open(&req).and_then(|s| s.set_with(key(&req), req.body(), options)))
        })
        .delete(&format!("{base}/kv/{{label}}/{{key}}"), |req: Request| {
            reply(open(&req).and_then(|s| s.delete_if(key(&req), condition(&req))))
        })
        .post(&format!("{base}/kv-incr/{{label}}/{{key}}"), |req: Request| {
            let by = req.query("by").and_then(|b| b.parse().ok()).unwrap_or(1);
            reply(open(&req).and_then(|s| s.increment(key(&req), by)))
        })
        .get(&format!("{base}/kv-list/{{label}}"), |req: Request| {
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
            reply(
                open(&req)
                    .and_then(|s| s.list(req.query("prefix").unwrap_or(""), req.query("cursor"), limit))
                    .map(|p| json!({ "keys": p.keys, "cursor": p.cursor })),
            )
        })
        .post(&format!("{base}/kv-tx/{{label}}"), |req: Request| {
            let ops: Vec<TxOp> = match req.json() {
                Ok(ops) => ops,
                Err(e) => return Json(json!({ "bad_request": e.message() })),
            };
            let writes: Vec<Write> = ops.into_iter().map(TxOp::into_write).collect();
            reply(open(&req).and_then(|s| s.transact(&writes)))
        })
        .post(&format!("{base}/kv-storm/{{label}}"), |req: Request| {
            let number = |name: &str, default: usize| req.query(name).and_then(|v| v.parse().ok()).unwrap_or(default);
            let (rounds, values, size) = (number("rounds", 1000), number("values", 100), number("size", 350 * 1024));
            let store = match open(&req) {
                Ok(store) => store,
                Err(e) => return Json(json!({ "rounds_ok": 0, "err": variant(&e) })),
            };
            let value = vec![b'x'; size];
            let options = || WriteOptions { condition: Condition::Always, ttl_seconds: None };
            for round in 0..rounds {
                let writes: Vec<Write> =
                    (0..values).map(|i| Write::Set((format!("storm/{i}"), value.clone(), options()))).collect();
                if let Err(e) = store.transact(&writes) {
                    return Json(json!({ "rounds_ok": round, "err": variant(&e) }));
                }
            }
            Json(json!({ "rounds_ok": rounds }))
        })
        .post(&format!("{base}/kv-many/{{label}}"), |req: Request| {
            let keys: Vec<String> = req.json().unwrap_or_default();
            reply(open(&req).and_then(|s| s.get_many(&keys)).map(|entries| {
                entries
                    .into_iter()
                    .map(|e| e.map(|e| String::from_utf8_lossy(&e.value).into_owned()))
                    .collect::<Vec<_>>()
            }))
        })
}

fn open(req: &Request) -> Result<Store, StorageError> {
    Store::open(req.param("label").unwrap_or_default())
}

fn key(req: &Request) -> &str {
    req.param("key").unwrap_or_default()
}

fn condition(req: &Request) -> Condition {
    parse_condition(req.query("if"))
}

fn parse_condition(raw: Option<&str>) -> Condition {
    match raw {
        None => Condition::Always,
        Some("absent") => Condition::Absent,
        Some(version) => Condition::Version(version.parse().unwrap_or(u64::MAX)),
    }
}

#[derive(Deserialize)]
struct TxOp {
    set: Option<String>,
    delete: Option<String>,
    value: Option<String>,
    #[serde(rename = "if")]
    condition: Option<String>,
}

impl TxOp {
    fn into_write(self) -> Write {
        let condition = parse_condition(self.condition.as_deref());
        match (self.set, self.delete) {
            (Some(key), _) => Write::Set((
                key,
                self.value.unwrap_or_default().into_bytes(),
                WriteOptions { condition, ttl_seconds: None },
            )),
            (None, key) => Write::Delete((key.unwrap_or_default(), condition)),
        }
    }
}

fn reply<T: serde::Serialize>(result: Result<T, StorageError>) -> Json<Value> {
    Json(match result {
        Ok(ok) => json!({ "ok": ok }),
        Err(err) => json!({ "err": variant(&err) }),
    })
}

fn variant(err: &StorageError) -> String {
    match err {
        StorageError::NotFound => "not-found".into(),
        StorageError::AccessDenied => "access-denied".into(),
        StorageError::Conflict => "conflict".into(),
        StorageError::InvalidInput(r) => format!("invalid-input: {r}"),
        StorageError::LimitExceeded(r) => format!("limit-exceeded: {r}"),
        StorageError::Unavailable(r) => format!("unavailable: {r}"),
    }
}

plughost_sdk::plugin!(handle);
