//! `latest-object`: "what was uploaded last?" without listing the bucket on each request
//! (README, "Events: uploads").
//!
//! - An object-created trigger on the container `uploads` keeps a pointer to the newest
//!   object in the kv store `latest` (a compare-and-swap write, so two uploads handled at
//!   once cannot leave the older one as "latest"; a redelivered event changes nothing).
//! - `GET /v1/objects/latest` answers it: name, size, time, and a download URL valid for
//!   five minutes; `404` before the first upload.
//! - A scheduled job (`expire`) deletes objects older than the plugin's `max_age_seconds`
//!   and, when the newest was among them, moves the pointer to the newest that is left.

use plughost_sdk::blob::Container;
use plughost_sdk::events::{Event, ObjectChange, Payload};
use plughost_sdk::kv::{Condition, Store, WriteOptions};
use plughost_sdk::{Error, Json, Request, Response, Router, config};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const CONTAINER: &str = "uploads";
const STORE: &str = "latest";
const POINTER: &str = "latest";
const DOWNLOAD_SECONDS: u32 = 300;

/// The newest object, as the pointer records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub time: u64,
}

/// Whether `candidate` should replace `current` as the newest object: later, or as late
/// and a later key (so concurrent writers agree on one winner).
pub fn newer(candidate: &Latest, current: Option<&Latest>) -> bool {
    current.is_none_or(|current| (candidate.time, &candidate.key) > (current.time, &current.key))
}

pub fn handle(req: Request) -> Response {
    Router::new().get("/v1/objects/latest", latest).handle(req)
}

fn latest(_req: Request) -> Result<Json<Value>, Error> {
    let (latest, _) =
        Store::open(STORE)?.get_json::<Latest>(POINTER)?.ok_or_else(|| Error::not_found("nothing was uploaded yet"))?;
    let url = Container::open(CONTAINER)?.presign_get(&latest.key, DOWNLOAD_SECONDS)?;
    Ok(Json(json!({ "name": latest.key, "size": latest.size, "time": latest.time, "url": url })))
}

/// Points at `candidate` if it is newer than what the pointer holds (retrying a lost
/// compare-and-swap).
fn offer(store: &Store, candidate: &Latest) -> Result<(), Error> {
    for _ in 0..5 {
        let current = store.get_json::<Latest>(POINTER)?;
        if !newer(candidate, current.as_ref().map(|(latest, _)| latest)) {
            return Ok(());
        }
        let condition = current.map_or(Condition::Absent, |(_, version)| Condition::Version(version));
        let body = serde_json::to_vec(candidate).map_err(|e| Error::internal(e.to_string()))?;
        match store.set_with(POINTER, &body, WriteOptions { condition, ttl_seconds: None }) {
            Ok(_) => return Ok(()),
            Err(plughost_sdk::kv::StorageError::Conflict) => continue, // someone else wrote: look again
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::conflict("the pointer kept changing; the event will be delivered again"))
}

/// Deletes objects older than `max_age_seconds`; re-points at the newest one left when the
/// newest was deleted.
fn expire(now: u64) -> Result<(), Error> {
    let max_age: u64 = config::get("max_age_seconds")
        .map(|text| text.parse().map_err(|_| Error::internal("config max_age_seconds is not a number")))
        .transpose()?
        .unwrap_or(7 * 86_400);
    let container = Container::open(CONTAINER)?;
    let store = Store::open(STORE)?;
    let (mut cursor, mut newest_left): (Option<String>, Option<Latest>) = (None, None);
    loop {
        let page = container.list("", cursor.as_deref(), 1000)?;
        for object in page.objects {
            if object.last_modified.saturating_add(max_age) < now {
                container.delete(&object.key)?;
                continue;
            }
            let kept = Latest { key: object.key, size: object.size, etag: object.etag, time: object.last_modified };
            if newer(&kept, newest_left.as_ref()) {
                newest_left = Some(kept);
            }
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    // The pointer named an object deleted above: point at the newest one left. A conflict
    // means an upload's event moved the pointer meanwhile, to something newer still.
    if let Some((pointer, version)) = store.get_json::<Latest>(POINTER)?
        && pointer.time.saturating_add(max_age) < now
    {
        let condition = Condition::Version(version);
        let moved = match newest_left {
            Some(left) => {
                let body = serde_json::to_vec(&left).map_err(|e| Error::internal(e.to_string()))?;
                store.set_with(POINTER, &body, WriteOptions { condition, ttl_seconds: None }).map(drop)
            }
            None => store.delete_if(POINTER, condition).map(drop),
        };
        match moved {
            Ok(()) | Err(plughost_sdk::kv::StorageError::Conflict) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

fn on_event(event: Event) -> Result<(), Error> {
    match &event.payload {
        Payload::Object(object) if object.change == ObjectChange::Created => {
            let candidate =
                Latest { key: object.key.clone(), size: object.size, etag: object.etag.clone(), time: object.time };
            offer(&Store::open(STORE)?, &candidate)
        }
        Payload::Schedule(tick) if tick.name == "expire" => expire(tick.time),
        _ => Ok(()),
    }
}

plughost_sdk::plugin!(handle);
plughost_sdk::events!(on_event);

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, time: u64) -> Latest {
        Latest { key: key.into(), size: 1, etag: "e".into(), time }
    }

    #[test]
    fn the_later_object_wins_and_ties_go_to_the_later_key() {
        assert!(newer(&object("a", 1), None));
        assert!(newer(&object("a", 2), Some(&object("b", 1))));
        assert!(!newer(&object("a", 1), Some(&object("b", 2))));
        assert!(newer(&object("b", 1), Some(&object("a", 1))));
        assert!(!newer(&object("a", 1), Some(&object("a", 1))), "a redelivered event changes nothing");
    }
}
