//! Test guest: the SDK's idempotency guard in both forms, with a pause at each point where
//! a crash hurts most, so a test can `kill -9` the host exactly there
//! (`host/tests/integration/idempotency_crash.rs`). Every message it consumes is JSON:
//!
//! `{"id": "o1", "form": "once" | "commit", "pause": "<point>"}`
//!
//! - `once` — `events::claim`, the effects, `Guard::complete` (what `events::once` does, the
//!   steps apart). Effects: `runs/<id>` incremented (how many times they ran) and
//!   `effect/<id>` set. Pause points: `after-claim`, `after-effects` (before completing),
//!   `after-complete` (before the host acknowledges the message).
//! - `commit` — `events::commit_once` with one write: the counter `total` raised by one
//!   (compare-and-swap on its version), so it counts how many times the effect happened.
//!   Pause points: `before-commit`, `after-commit`.
//!
//! A pause happens only on a message's first delivery (`receive-count` 1): it logs
//! `claim-probe paused at <point> (<id>)` and sleeps until the host is killed (or stops it at
//! its timeout). In the kv store `probe`.

use plughost_sdk::events::{self, Claim, Event, Payload};
use plughost_sdk::kv::{Condition, Store, Write, WriteOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Job {
    id: String,
    form: String,
    #[serde(default)]
    pause: Option<String>,
}

fn on_event(event: Event) -> Result<(), String> {
    let Payload::Message(message) = &event.payload else {
        return Err("claim-probe consumes queue messages only".into());
    };
    let job: Job = serde_json::from_slice(&message.body).map_err(|e| format!("not a job: {e}"))?;
    let first = message.receive_count == 1;
    let pause = |point: &str| {
        if first && job.pause.as_deref() == Some(point) {
            plughost_sdk::log::info(&format!("claim-probe paused at {point} ({})", job.id));
            std::thread::sleep(std::time::Duration::from_secs(600));
        }
    };
    let store = Store::open("probe").map_err(|e| format!("open: {e:?}"))?;
    match job.form.as_str() {
        "once" => match events::claim(&store, &event, 3600).map_err(|e| format!("claim: {e:?}"))? {
            Claim::Acquired(guard) => {
                pause("after-claim");
                store.increment(&format!("runs/{}", job.id), 1).map_err(|e| format!("runs: {e:?}"))?;
                store.set(&format!("effect/{}", job.id), b"done").map_err(|e| format!("effect: {e:?}"))?;
                pause("after-effects");
                guard.complete(b"").map_err(|e| format!("complete: {e:?}"))?;
                pause("after-complete");
                Ok(())
            }
            Claim::Completed(_) => Ok(()),
            Claim::InProgress { until } => Err(format!("{} is in progress elsewhere until {until}", job.id)),
        },
        "commit" => {
            let total = store.get("total").map_err(|e| format!("total: {e:?}"))?;
            let (count, condition) = match &total {
                Some(entry) => {
                    let count: u64 = String::from_utf8_lossy(&entry.value).parse().unwrap_or(0);
                    (count, Condition::Version(entry.version))
                }
                None => (0, Condition::Absent),
            };
            pause("before-commit");
            let raise = Write::Set((
                "total".into(),
                (count + 1).to_string().into_bytes(),
                WriteOptions { condition, ttl_seconds: None },
            ));
            events::commit_once(&store, &event, 3600, vec![raise]).map_err(|e| format!("commit: {e}"))?;
            pause("after-commit");
            Ok(())
        }
        other => Err(format!("unknown form `{other}`")),
    }
}

plughost_sdk::events!(on_event);
