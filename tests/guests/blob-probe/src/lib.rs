//! Test guest `blob-probe`: exposes each blob call on its own route and answers
//! `200 {"ok": ...}` or `200 {"err": "<variant>"}`, so host tests can assert the exact WIT
//! result — including for labels the manifest does not grant and keys that try to
//! escape. The key is always the `key` query parameter (so it reaches the guest exactly
//! as sent, `..` and all). Routes:
//!
//! | route                        | call                                                      |
//! |------------------------------|-----------------------------------------------------------|
//! | `PUT /blob/{label}`          | `put` the body; `content-type` header; `?if=absent` or `?if=<etag>`; `?meta=name:value` |
//! | `GET /blob/{label}`          | `get` (or `get-range` with `?offset=&length=`) → `{"info", "body"}` or null |
//! | `GET /blob-head/{label}`     | `head` → info or null                                     |
//! | `DELETE /blob/{label}`       | `delete`                                                  |
//! | `GET /blob-list/{label}`     | `list-objects` with `?prefix=&cursor=&limit=`             |
//! | `POST /blob-presign/{label}` | `presign` with `?method=get|put&expires=&type=` (a PUT without `type` takes any media type) |
//!
//! The same routes exist under `/other`, to mount the component as a second plugin.

use plughost_sdk::blob::{Container, ObjectInfo, PresignMethod, PutCondition, PutOptions, StorageError};
use plughost_sdk::{Json, Request, Response, Router};
use serde_json::{Value, json};

pub fn handle(req: Request) -> Response {
    ["", "/other"].into_iter().fold(Router::new(), routes).handle(req)
}

fn routes(router: Router, base: &str) -> Router {
    router
        .put(&format!("{base}/blob/{{label}}"), |req: Request| {
            let condition = match req.query("if") {
                None => PutCondition::Always,
                Some("absent") => PutCondition::Absent,
                Some(etag) => PutCondition::Etag(etag.to_owned()),
            };
            let metadata = req
                .query("meta")
                .and_then(|m| m.split_once(':'))
                .map(|(n, v)| vec![(n.to_owned(), v.to_owned())])
                .unwrap_or_default();
            let content_type = req.header("content-type").unwrap_or("application/octet-stream").to_owned();
            let options = PutOptions { content_type, metadata, condition };
            reply(open(&req).and_then(|c| c.put_with(key(&req), req.body(), &options)).map(|i| info(&i)))
        })
        .get(&format!("{base}/blob/{{label}}"), |req: Request| {
            let range = req.query("offset").zip(req.query("length"));
            reply(
                open(&req)
                    .and_then(|c| match range {
                        None => c.get(key(&req)),
                        Some((offset, length)) => {
                            c.get_range(key(&req), offset.parse().unwrap_or(0), length.parse().unwrap_or(0))
                        }
                    })
                    .map(|o| o.map(|o| json!({ "info": info(&o.info), "body": String::from_utf8_lossy(&o.body) }))),
            )
        })
        .get(&format!("{base}/blob-head/{{label}}"), |req: Request| {
            reply(open(&req).and_then(|c| c.head(key(&req))).map(|i| i.as_ref().map(info)))
        })
        .delete(&format!("{base}/blob/{{label}}"), |req: Request| reply(open(&req).and_then(|c| c.delete(key(&req)))))
        .get(&format!("{base}/blob-list/{{label}}"), |req: Request| {
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
            reply(open(&req).and_then(|c| c.list(req.query("prefix").unwrap_or(""), req.query("cursor"), limit)).map(
                |l| {
                    let keys: Vec<_> = l.objects.iter().map(|o| json!({ "key": o.key, "size": o.size })).collect();
                    json!({ "objects": keys, "cursor": l.cursor })
                },
            ))
        })
        .post(&format!("{base}/blob-presign/{{label}}"), |req: Request| {
            let method = if req.query("method") == Some("put") { PresignMethod::Put } else { PresignMethod::Get };
            let expires = req.query("expires").and_then(|e| e.parse().ok()).unwrap_or(60);
            let content_type = req.query("type").map(str::to_owned);
            reply(open(&req).and_then(|c| match (method, content_type) {
                (PresignMethod::Put, Some(t)) => c.presign_put(key(&req), &t, expires),
                (PresignMethod::Put, None) => c.presign_put_any_type(key(&req), expires),
                (PresignMethod::Get, _) => c.presign_get(key(&req), expires),
            }))
        })
}

fn open(req: &Request) -> Result<Container, StorageError> {
    Container::open(req.param("label").unwrap_or_default())
}

fn key(req: &Request) -> &str {
    req.query("key").unwrap_or_default()
}

fn info(info: &ObjectInfo) -> Value {
    json!({
        "key": info.key,
        "size": info.size,
        "content_type": info.content_type,
        "etag": info.etag,
        "metadata": info.metadata,
    })
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
