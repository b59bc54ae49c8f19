//! The idempotency guard: an event's effects happen once although its source may deliver
//! it more than once. Two forms, after the established libraries (Powertools for AWS
//! Lambda's idempotency utility):
//!
//! - [`once`] — for any handler. It *claims* the event in a kv store (`in progress`, expiring
//!   at this invocation's deadline), runs the handler, and only then marks the claim
//!   *completed* (with the handler's result). A redelivery that finds it completed skips
//!   the handler and gets the result; one that finds it in progress and not expired is
//!   refused (an error: the source delivers it again later); one that finds it expired —
//!   the delivery that claimed it died: a crash, a kill, a timeout — runs the handler again.
//!   So an effect is never lost; one made just before a crash may be made twice (an email
//!   sent, a message put, an HTTP call): make such effects idempotent on the receiving side.
//! - [`commit_once`] — for handlers whose effects are kv writes to one store: the writes
//!   and the completed claim go in one transaction. Crash or not, both happen or neither,
//!   so the effects happen exactly once.
//!
//! [`claim`] is the first form's building block, for handlers that need the steps apart.
//!
//! The claim lives at `plughost-event/<event id>` in the store given (changes of such keys
//! are never delivered as `changes` events). Its value says what it is: `in-progress
//! <expiry, Unix ms>` or `completed` and the result; an empty value (a claim of SDKs before
//! 0.1.4's) counts as completed.

use super::Event;
use crate::error::Error;
use crate::invocation;
use crate::kv::{Condition, StorageError, Store, Write, WriteOptions};
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

const IN_PROGRESS: &[u8] = b"in-progress ";
const COMPLETED: &[u8] = b"completed\n";
/// How many times a claim is retried when another delivery changed it in between.
const RACES: u32 = 3;

/// What [`claim`] found.
#[must_use = "a claim that was acquired must be completed (or released) after the handler's effects"]
pub enum Claim<'a> {
    /// This delivery holds the event now (the first delivery, or an earlier one's claim had
    /// expired): run the handler, then [`Guard::complete`] — or [`Guard::release`] if it
    /// failed.
    Acquired(Guard<'a>),
    /// A delivery completed the event already; here is what it recorded as its result.
    Completed(Option<Vec<u8>>),
    /// Another delivery holds the event and may still be running it, until `until` (Unix
    /// milliseconds): fail this delivery, so the source brings it back later.
    InProgress { until: u64 },
}

/// The claim this delivery holds. Dropping it without completing leaves the claim in
/// progress until the deadline: then a redelivery runs the event again.
#[must_use = "complete the claim after the effects, or release it"]
pub struct Guard<'a> {
    store: &'a Store,
    key: String,
    version: u64,
    keep_seconds: u32,
}

/// A claim record read back.
enum Record<'a> {
    InProgress { until: u64 },
    Completed(Option<&'a [u8]>),
}

fn parse(value: &[u8]) -> Result<Record<'_>, StorageError> {
    if value.is_empty() {
        return Ok(Record::Completed(None));
    }
    if let Some(result) = value.strip_prefix(COMPLETED) {
        return Ok(Record::Completed(Some(result)));
    }
    value
        .strip_prefix(IN_PROGRESS)
        .and_then(|until| std::str::from_utf8(until).ok()?.parse().ok())
        .map(|until| Record::InProgress { until })
        .ok_or_else(|| StorageError::InvalidInput("the event's claim holds a value this SDK did not write".into()))
}

fn key_of(event: &Event) -> String {
    format!("plughost-event/{}", event.id)
}

fn in_progress(until: u64) -> Vec<u8> {
    let mut value = IN_PROGRESS.to_vec();
    value.extend_from_slice(until.to_string().as_bytes());
    value
}

fn completed(result: &[u8]) -> Vec<u8> {
    [COMPLETED, result].concat()
}

/// The in-progress claim's TTL: past its expiry, so the store forgets it eventually (the
/// expiry itself is read from the value, to the millisecond).
fn in_progress_ttl(until: u64, now: u64) -> u32 {
    (until.saturating_sub(now).div_ceil(1000) + 1).min(u64::from(u32::MAX)) as u32
}

/// Claims `event` in `store` for this delivery (see the module docs): in progress until
/// this invocation's deadline. `keep_seconds` is how long a completed claim is remembered:
/// longer than the source redelivers (a queue's retention period, a stream's 24 hours).
///
/// ```
/// use plughost_sdk::events::{self, Claim};
/// # use plughost_sdk::{kv, Error};
/// # fn send_email(_: &str) -> Result<(), Error> { Ok(()) }
/// # fn on_event(event: events::Event) -> Result<(), Error> {
/// let store = kv::Store::open("emails")?;
/// match events::claim(&store, &event, 86_400)? {
///     Claim::Acquired(guard) => match send_email("ada@example.com") {
///         Ok(()) => guard.complete(b"")?,
///         Err(error) => {
///             guard.release()?; // the redelivery runs it again
///             return Err(error);
///         }
///     },
///     Claim::Completed(_) => {} // sent before
///     Claim::InProgress { .. } => return Err(Error::conflict("being sent by another delivery")),
/// }
/// # Ok(()) }
/// # let event = events::Event { id: "e1".into(), payload: events::Payload::Schedule(events::Schedule { name: "n".into(), time: 0 }) };
/// # assert!(on_event(event).is_ok());
/// ```
pub fn claim<'a>(store: &'a Store, event: &Event, keep_seconds: u32) -> Result<Claim<'a>, StorageError> {
    let key = key_of(event);
    let until = invocation::deadline_ms();
    let now = invocation::now_ms();
    let value = in_progress(until);
    let ttl_seconds = Some(in_progress_ttl(until, now));
    let guard = |version| Guard { store, key: key.clone(), version, keep_seconds };
    // The first delivery's one call: create the claim.
    match store.set_with(&key, &value, WriteOptions { condition: Condition::Absent, ttl_seconds }) {
        Ok(version) => return Ok(Claim::Acquired(guard(version))),
        Err(StorageError::Conflict) => {}
        Err(error) => return Err(error),
    }
    for _ in 0..RACES {
        let Some(entry) = store.get(&key)? else {
            // It expired or was released in between.
            match store.set_with(&key, &value, WriteOptions { condition: Condition::Absent, ttl_seconds }) {
                Ok(version) => return Ok(Claim::Acquired(guard(version))),
                Err(StorageError::Conflict) => continue,
                Err(error) => return Err(error),
            }
        };
        match parse(&entry.value)? {
            Record::Completed(result) => return Ok(Claim::Completed(result.map(<[u8]>::to_vec))),
            Record::InProgress { until: theirs } if theirs > now => return Ok(Claim::InProgress { until: theirs }),
            // The delivery that claimed it cannot act any more: take it over.
            Record::InProgress { .. } => {
                let options = WriteOptions { condition: Condition::Version(entry.version), ttl_seconds };
                match store.set_with(&key, &value, options) {
                    Ok(version) => return Ok(Claim::Acquired(guard(version))),
                    Err(StorageError::Conflict) => continue,
                    Err(error) => return Err(error),
                }
            }
        }
    }
    // Other deliveries kept changing it: one of them holds it now.
    Ok(Claim::InProgress { until })
}

impl Guard<'_> {
    /// Marks the event completed, keeping `result` (what a redelivery's [`claim`] gets
    /// back), for `keep_seconds`. Call it only after every effect of the handler.
    /// A result too large for the store (its `max_value`) is not kept: the claim is still
    /// completed — the effects happened — and a redelivery gets no result back.
    pub fn complete(self, result: &[u8]) -> Result<(), StorageError> {
        // Unconditionally: even if another delivery took over a claim it thought expired
        // (clocks of two instances apart), the effects are done; its release, conditional
        // on its own version, then leaves this record alone.
        let options = WriteOptions { condition: Condition::Always, ttl_seconds: Some(self.keep_seconds.max(1)) };
        match self.store.set_with(&self.key, &completed(result), options) {
            Err(StorageError::LimitExceeded(_)) if !result.is_empty() => {
                self.store.set_with(&self.key, &completed(b""), options).map(drop)
            }
            written => written.map(drop),
        }
    }

    /// Gives the claim up (the handler failed): the next delivery runs the event again.
    pub fn release(self) -> Result<(), StorageError> {
        match self.store.delete_if(&self.key, Condition::Version(self.version)) {
            // Someone else holds it now: not ours to remove.
            Ok(_) | Err(StorageError::Conflict) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// What [`once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled<T> {
    /// The handler ran in this delivery and returned this.
    Now(T),
    /// An earlier delivery ran it; its result, if it recorded one this type reads.
    Before(Option<T>),
}

impl<T> Handled<T> {
    /// Whether this delivery was a repeat (the handler did not run).
    pub fn is_repeat(&self) -> bool {
        matches!(self, Self::Before(_))
    }
}

fn in_progress_error(event: &Event, until: u64) -> Error {
    Error::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "in_progress",
        format!(
            "event {} is being handled by another delivery (its claim expires at {until} Unix ms); try again later",
            event.id
        ),
    )
}

/// Runs `handler` once per event (the guard of the module docs): claims the event in
/// `store`, runs `handler`, marks the claim completed with the handler's result — or
/// releases it if the handler failed, and returns its error (so the event is redelivered).
/// A repeat returns the first run's result without running `handler`; a delivery that
/// finds the event in progress elsewhere fails with `503 in_progress`, to be redelivered.
///
/// ```
/// use plughost_sdk::events::{self, Event, Handled};
/// use plughost_sdk::{Error, kv};
///
/// fn on_event(event: Event) -> Result<(), Error> {
///     let orders = kv::Store::open("orders")?;
///     let outcome = events::once(&orders, &event, 86_400, || {
///         // the effects: record, announce, call ...
///         Ok(42)
///     })?;
///     assert_eq!(outcome, Handled::Now(42));
///     Ok(())
/// }
/// # let event = Event { id: "m-1".into(), payload: events::Payload::Schedule(events::Schedule { name: "n".into(), time: 0 }) };
/// # on_event(event.clone()).unwrap();
/// # let orders = kv::Store::open("orders").unwrap();
/// # assert_eq!(events::once(&orders, &event, 86_400, || -> Result<u32, Error> { panic!("ran twice") }).unwrap(), Handled::Before(Some(42)));
/// ```
pub fn once<T, F>(store: &Store, event: &Event, keep_seconds: u32, handler: F) -> Result<Handled<T>, Error>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, Error>,
{
    match claim(store, event, keep_seconds)? {
        Claim::Acquired(guard) => match handler() {
            Ok(value) => {
                let result = serde_json::to_vec(&value)
                    .map_err(|e| Error::internal(format!("the handler's result could not be serialised: {e}")))?;
                guard.complete(&result)?;
                Ok(Handled::Now(value))
            }
            Err(error) => {
                // The handler's error is what matters; if the release fails too, the claim
                // expires at the deadline and the redelivery runs anyway.
                let _released = guard.release();
                Err(error)
            }
        },
        Claim::Completed(result) => Ok(Handled::Before(result.and_then(|bytes| serde_json::from_slice(&bytes).ok()))),
        Claim::InProgress { until } => Err(in_progress_error(event, until)),
    }
}

/// What [`commit_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The writes were applied now, with these versions (0 for deletes), in order.
    Now(Vec<u64>),
    /// An earlier delivery applied them; nothing was written.
    Before,
}

/// Applies `writes` (up to 99; the claim is the hundredth) to `store` together with the
/// event's completed claim, in one transaction: crash or not, the writes happen exactly
/// once per event. A repeat writes nothing ([`Committed::Before`]). If a condition of
/// `writes` fails, nothing is written and the error is `409 conflict`.
///
/// ```
/// use plughost_sdk::events::{self, Committed, Event};
/// use plughost_sdk::kv::{self, Condition, Write, WriteOptions};
///
/// fn on_event(event: Event) -> Result<(), plughost_sdk::Error> {
///     let activity = kv::Store::open("activity")?;
///     let keep = WriteOptions { condition: Condition::Always, ttl_seconds: Some(86_400) };
///     let record = Write::Set((format!("event/{}", event.id), b"{}".to_vec(), keep));
///     events::commit_once(&activity, &event, 86_400, vec![record])?;
///     Ok(())
/// }
/// # let event = Event { id: "e-7".into(), payload: events::Payload::Schedule(events::Schedule { name: "n".into(), time: 0 }) };
/// # on_event(event.clone()).unwrap();
/// # let activity = kv::Store::open("activity").unwrap();
/// # assert_eq!(events::commit_once(&activity, &event, 60, vec![]).unwrap(), Committed::Before);
/// ```
pub fn commit_once(store: &Store, event: &Event, keep_seconds: u32, writes: Vec<Write>) -> Result<Committed, Error> {
    let key = key_of(event);
    let keep = WriteOptions { condition: Condition::Absent, ttl_seconds: Some(keep_seconds.max(1)) };
    let mut all = Vec::with_capacity(writes.len() + 1);
    all.push(Write::Set((key.clone(), completed(b""), keep)));
    all.extend(writes);
    for _ in 0..RACES {
        let seen = store.get(&key)?;
        let condition = match &seen {
            None => Condition::Absent,
            Some(entry) => match parse(&entry.value)? {
                Record::Completed(_) => return Ok(Committed::Before),
                Record::InProgress { until } if until > invocation::now_ms() => {
                    return Err(in_progress_error(event, until));
                }
                // An expired claim of `once`'s form: this transaction takes it over.
                Record::InProgress { .. } => Condition::Version(entry.version),
            },
        };
        if let Write::Set((_, _, options)) = &mut all[0] {
            options.condition = condition;
        }
        match store.transact(&all) {
            Ok(mut versions) => {
                versions.remove(0);
                return Ok(Committed::Now(versions));
            }
            Err(StorageError::Conflict) => {
                // The claim changed under us (a concurrent delivery): look again. If it did
                // not, a condition of `writes` failed.
                let now_seen = store.get(&key)?;
                if now_seen.as_ref().map(|e| e.version) == seen.as_ref().map(|e| e.version) {
                    return Err(Error::conflict("a condition of the event's writes failed; nothing was written"));
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::conflict("the event's claim kept changing under concurrent deliveries; nothing was written"))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::events::{Payload, Schedule};
    use crate::testing;
    use std::time::{Duration, SystemTime};

    fn event(id: &str) -> Event {
        Event { id: id.into(), payload: Payload::Schedule(Schedule { name: "n".into(), time: 0 }) }
    }

    /// A fresh thread state: memory stores, the clock at a fixed time, a 5 s deadline.
    fn fresh() -> Store {
        testing::clear_kv();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        testing::set_now(start);
        testing::set_deadline(start + Duration::from_secs(5));
        Store::open("orders").unwrap()
    }

    fn claim_value(store: &Store, id: &str) -> Option<String> {
        store.get(&format!("plughost-event/{id}")).unwrap().map(|e| String::from_utf8_lossy(&e.value).into_owned())
    }

    #[test]
    fn a_first_delivery_claims_in_progress_until_the_deadline_and_completes_after_its_effects() {
        let store = fresh();
        let Claim::Acquired(guard) = claim(&store, &event("e1"), 60).unwrap() else { panic!("not acquired") };
        assert_eq!(claim_value(&store, "e1").as_deref(), Some("in-progress 1700000005000"));
        // While it runs, a second delivery is refused, not treated as done.
        assert!(matches!(claim(&store, &event("e1"), 60).unwrap(), Claim::InProgress { until: 1_700_000_005_000 }));
        guard.complete(b"\"r\"").unwrap();
        assert_eq!(claim_value(&store, "e1").as_deref(), Some("completed\n\"r\""));
        let Claim::Completed(result) = claim(&store, &event("e1"), 60).unwrap() else { panic!("not completed") };
        assert_eq!(result.as_deref(), Some(&b"\"r\""[..]));
    }

    #[test]
    fn a_claim_whose_delivery_died_is_taken_over_once_its_deadline_has_passed() {
        let store = fresh();
        // The first delivery claims, then dies (no complete, no release).
        let Claim::Acquired(_dead) = claim(&store, &event("e2"), 60).unwrap() else { panic!() };
        testing::advance(Duration::from_millis(4_999));
        assert!(matches!(claim(&store, &event("e2"), 60).unwrap(), Claim::InProgress { .. }));
        testing::advance(Duration::from_millis(2));
        testing::set_deadline(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_010_001));
        let Claim::Acquired(guard) = claim(&store, &event("e2"), 60).unwrap() else { panic!("not taken over") };
        assert_eq!(claim_value(&store, "e2").as_deref(), Some("in-progress 1700000010001"));
        guard.complete(b"").unwrap();
        assert!(matches!(claim(&store, &event("e2"), 60).unwrap(), Claim::Completed(_)));
    }

    #[test]
    fn once_runs_the_handler_once_keeps_its_result_and_releases_on_failure() {
        let store = fresh();
        let runs = std::cell::Cell::new(0);
        let failing = once(&store, &event("e3"), 60, || -> Result<u32, Error> {
            runs.set(runs.get() + 1);
            Err(Error::internal("downstream failed"))
        });
        assert_eq!(failing.unwrap_err().message(), "downstream failed");
        assert_eq!(claim_value(&store, "e3"), None, "a failed run releases its claim");
        let first = once(&store, &event("e3"), 60, || {
            runs.set(runs.get() + 1);
            Ok(7u32)
        });
        assert_eq!(first.unwrap(), Handled::Now(7));
        let repeat = once(&store, &event("e3"), 60, || -> Result<u32, Error> { panic!("ran again") });
        assert_eq!(repeat.unwrap(), Handled::Before(Some(7)));
        assert_eq!(runs.get(), 2);
        // The completed claim is remembered for keep_seconds, then forgotten.
        testing::advance(Duration::from_secs(61));
        assert_eq!(claim_value(&store, "e3"), None);
    }

    #[test]
    fn a_result_too_large_to_keep_still_completes_the_claim() {
        let store = fresh();
        let huge = "x".repeat(400 * 1024);
        assert_eq!(once(&store, &event("e8"), 60, || Ok(huge.clone())).unwrap(), Handled::Now(huge));
        assert_eq!(claim_value(&store, "e8").as_deref(), Some("completed\n"));
        let repeat = once(&store, &event("e8"), 60, || -> Result<String, Error> { panic!("ran again") });
        assert_eq!(repeat.unwrap(), Handled::Before(None));
    }

    #[test]
    fn once_refuses_an_event_in_progress_elsewhere_with_a_retryable_error() {
        let store = fresh();
        let Claim::Acquired(_running) = claim(&store, &event("e4"), 60).unwrap() else { panic!() };
        let busy = once(&store, &event("e4"), 60, || -> Result<(), Error> { panic!("ran concurrently") }).unwrap_err();
        assert_eq!((busy.status(), busy.code()), (StatusCode::SERVICE_UNAVAILABLE, "in_progress"));
        assert!(busy.message().contains("event e4 is being handled by another delivery"), "{}", busy.message());
    }

    #[test]
    fn commit_once_writes_the_effects_and_the_claim_together_exactly_once() {
        let store = fresh();
        let set = |key: &str| {
            Write::Set((key.into(), b"1".to_vec(), WriteOptions { condition: Condition::Always, ttl_seconds: None }))
        };
        assert_eq!(
            commit_once(&store, &event("e5"), 60, vec![set("a"), set("b")]).unwrap(),
            Committed::Now(vec![2, 3])
        );
        assert_eq!(claim_value(&store, "e5").as_deref(), Some("completed\n"));
        assert_eq!(commit_once(&store, &event("e5"), 60, vec![set("c")]).unwrap(), Committed::Before);
        assert!(!store.exists("c").unwrap(), "a repeat writes nothing");
    }

    #[test]
    fn commit_once_with_a_failing_condition_writes_nothing_not_even_the_claim() {
        let store = fresh();
        let create =
            Write::Set(("a".into(), b"x".to_vec(), WriteOptions { condition: Condition::Absent, ttl_seconds: None }));
        store.set("a", b"taken").unwrap();
        let conflict = commit_once(&store, &event("e6"), 60, vec![create]).unwrap_err();
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(claim_value(&store, "e6"), None);
        assert_eq!(store.get("a").unwrap().unwrap().value, b"taken");
    }

    #[test]
    fn commit_once_takes_over_an_expired_claim_of_the_other_form_and_waits_for_a_live_one() {
        let store = fresh();
        let Claim::Acquired(_dead) = claim(&store, &event("e7"), 60).unwrap() else { panic!() };
        let busy = commit_once(&store, &event("e7"), 60, vec![]).unwrap_err();
        assert_eq!(busy.code(), "in_progress");
        testing::advance(Duration::from_secs(6));
        assert_eq!(commit_once(&store, &event("e7"), 60, vec![]).unwrap(), Committed::Now(vec![]));
    }

    #[test]
    fn a_claim_written_by_an_earlier_sdk_counts_as_completed_and_a_foreign_value_is_an_error() {
        let store = fresh();
        store.set("plughost-event/old", b"").unwrap();
        assert!(matches!(claim(&store, &event("old"), 60).unwrap(), Claim::Completed(None)));
        store.set("plughost-event/odd", b"whatever").unwrap();
        assert!(matches!(claim(&store, &event("odd"), 60), Err(StorageError::InvalidInput(_))));
    }
}
