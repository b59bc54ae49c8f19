//! `upload-processor`: records each uploaded file's metadata (README, "Events: uploads").
//!
//! - `PUT /v1/uploads/{name}` stores the body in the container `uploads` (what a client
//!   uploading straight to the bucket does in AWS); nothing else happens in the request.
//! - An object-created trigger on `uploads` reads each new object's metadata — size,
//!   content type, etag, time, and its kind told from its first bytes (PNG, JPEG, GIF,
//!   PDF, gzip, zip, or text) — and records it in the kv store `upload-meta`.
//! - `GET /v1/uploads` lists what was recorded; `GET /v1/uploads/{name}` answers one.

use plughost_sdk::blob::Container;
use plughost_sdk::events::{Event, ObjectChange, Payload};
use plughost_sdk::kv::Store;
use plughost_sdk::{Error, Json, Request, Response, Router, StatusCode};
use serde_json::{Value, json};

const CONTAINER: &str = "uploads";
const STORE: &str = "upload-meta";
/// How many bytes are read to tell a file's kind.
const SNIFF: u64 = 16;

/// A file's kind from its first bytes.
pub fn kind(head: &[u8]) -> &'static str {
    const MAGIC: [(&[u8], &str); 7] = [
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff", "jpeg"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"%PDF-", "pdf"),
        (b"\x1f\x8b", "gzip"),
        (b"PK\x03\x04", "zip"),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(magic, _)| head.starts_with(magic)) {
        return kind;
    }
    // Up to SNIFF bytes may end inside a UTF-8 character: judge the complete ones.
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        Err(error) if error.error_len().is_none() => std::str::from_utf8(&head[..error.valid_up_to()]).ok(),
        Err(_) => None,
    };
    match text {
        Some(text) if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => "text",
        _ => "binary",
    }
}

/// Upload names: 1-200 of letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 200 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(Error::bad_request("name must be 1-200 letters, digits, `.`, `_` or `-`"));
    }
    Ok(())
}

pub fn handle(req: Request) -> Response {
    Router::new().put("/v1/uploads/{name}", upload).get("/v1/uploads", list).get("/v1/uploads/{name}", read).handle(req)
}

fn upload(req: Request) -> Result<(StatusCode, Json<Value>), Error> {
    let name = req.require_param("name")?;
    check_name(name)?;
    let content_type = req.header("content-type").unwrap_or("application/octet-stream");
    let stored = Container::open(CONTAINER)?.put(name, req.body(), content_type)?;
    Ok((StatusCode::CREATED, Json(json!({ "name": stored.key, "size": stored.size, "etag": stored.etag }))))
}

fn list(_req: Request) -> Result<Json<Value>, Error> {
    let store = Store::open(STORE)?;
    let page = store.list("file/", None, 100)?;
    let records: Vec<Value> = store
        .get_many(&page.keys)?
        .into_iter()
        .flatten()
        .filter_map(|entry| serde_json::from_slice(&entry.value).ok())
        .collect();
    Ok(Json(json!({ "uploads": records })))
}

fn read(req: Request) -> Result<Json<Value>, Error> {
    let name = req.require_param("name")?;
    let (record, _) = Store::open(STORE)?
        .get_json::<Value>(&format!("file/{name}"))?
        .ok_or_else(|| Error::not_found("no upload of that name was processed (yet)"))?;
    Ok(Json(record))
}

fn on_event(event: Event) -> Result<(), Error> {
    let Payload::Object(object) = &event.payload else { return Ok(()) };
    if object.change != ObjectChange::Created {
        return Ok(());
    }
    let container = Container::open(CONTAINER)?;
    // Gone again before we got here: nothing to record (its removal is its own event).
    let Some(head) = container.get_range(&object.key, 0, SNIFF)? else { return Ok(()) };
    let info = head.info;
    let record = json!({
        "name": info.key,
        "size": info.size,
        "content_type": info.content_type,
        "etag": info.etag,
        "time": info.last_modified,
        "kind": kind(&head.body),
        "metadata": info.metadata,
    });
    Store::open(STORE)?.set(&format!("file/{}", object.key), record.to_string().as_bytes())?;
    Ok(())
}

plughost_sdk::plugin!(handle);
plughost_sdk::events!(on_event);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_kind_comes_from_its_first_bytes() {
        assert_eq!(kind(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "png");
        assert_eq!(kind(b"%PDF-1.7\n"), "pdf");
        assert_eq!(kind(b"hello, world\n"), "text");
        assert_eq!(kind("naïve café ü".as_bytes()), "text");
        assert_eq!(kind(&"ééééééééé".as_bytes()[..16]), "text", "a character cut at the end is still text");
        assert_eq!(kind(b"\0\x01\x02"), "binary");
    }

    #[test]
    fn upload_names_are_plain() {
        assert!(check_name("report-2026.pdf").is_ok());
        for bad in ["", "../etc/passwd", "a b", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
