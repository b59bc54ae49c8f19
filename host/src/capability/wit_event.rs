//! The WIT event values, built from what a source reports (AWS records in
//! `lambda/records.rs`, the embedded messaging store, `serve/sources/`): one constructor per source, so both
//! agree on ids and fields.

use crate::bindings::wit_events::{Custom, Event, Payload, Schedule};

/// A schedule that fired at `time` (Unix seconds). Its id is the same for every delivery
/// of one firing: `<plugin>/<name>@<time>`.
pub fn schedule(plugin: &str, name: &str, time: u64) -> Event {
    Event {
        id: format!("schedule/{plugin}/{name}@{time}"),
        payload: Payload::Schedule(Schedule { name: name.to_owned(), time }),
    }
}

/// A custom event on `bus`, from an EventBridge-shaped JSON event (`id`, `source`,
/// `detail-type`, `detail`, `time`). The error names the missing field.
pub fn custom(bus: &str, event: &serde_json::Value) -> Result<Event, String> {
    let text = |field: &str| {
        event.get(field).and_then(serde_json::Value::as_str).ok_or_else(|| format!("the event has no `{field}` string"))
    };
    let detail = event.get("detail").cloned().unwrap_or_else(|| serde_json::json!({}));
    Ok(Event {
        id: text("id")?.to_owned(),
        payload: Payload::Custom(Custom {
            bus: bus.to_owned(),
            source: text("source")?.to_owned(),
            detail_type: text("detail-type")?.to_owned(),
            detail: detail.to_string(),
            time: event.get("time").and_then(serde_json::Value::as_str).map_or(0, unix_seconds),
        }),
    })
}

/// Unix seconds of an RFC 3339 time (`2026-12-01T10:00:00Z`, with or without fractions);
/// 0 when it is not one.
pub fn unix_seconds(text: &str) -> u64 {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(text))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_and_without_fractions() {
        assert_eq!(unix_seconds("1970-01-01T00:01:00Z"), 60);
        assert_eq!(unix_seconds("2015-10-08T16:53:06.123Z"), 1_444_323_186);
        assert_eq!(unix_seconds("not a time"), 0);
    }
}
