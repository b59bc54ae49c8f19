//! Events: what a plugin receives besides HTTP requests — schedules, object changes in a
//! blob container, queue messages, topic notifications, kv store changes and custom bus
//! events — declared per plugin in the manifest (`events = [...]`).
//!
//! ```ignore
//! use plughost_sdk::events::{self, Event, Payload};
//! use plughost_sdk::{Error, kv};
//!
//! fn on_event(event: Event) -> Result<(), Error> {
//!     match &event.payload {
//!         Payload::Message(message) => {
//!             let order: Order = message.json()?;
//!             let orders = kv::Store::open("orders")?;
//!             // At-least-once delivery: the effects run once per event, even across a crash.
//!             events::once(&orders, &event, 86_400, || record_and_announce(&orders, &order))?;
//!         }
//!         Payload::Schedule(tick) => { /* tick.name, tick.time */ }
//!         _ => {}
//!     }
//!     Ok(())
//! }
//!
//! plughost_sdk::events!(on_event);
//! ```
//!
//! Returning `Err` asks for the event again later (a queue message stays on its queue,
//! and goes to its dead-letter queue after `max_receives`); so does a panic or a timeout.
//! The error's text goes to the host's log, nowhere else.
//!
//! Delivery is at least once. The idempotency guard (`once.rs`): [`once`] runs a handler's
//! effects once per event (an effect made just before a crash may repeat: an HTTP call, a
//! message); [`commit_once`] applies kv writes and the event's claim in one transaction,
//! exactly once; [`claim`] is the first one's steps apart.

mod once;

pub use once::{Claim, Committed, Guard, Handled, claim, commit_once, once};

use crate::error::Error;
use serde::de::DeserializeOwned;

pub use crate::bindings::events_world::exports::plughost::plugin::events::{
    Change, ChangeKind, Custom, Event, Message, Notification, Object as ObjectEvent, ObjectChange, Payload, Schedule,
};

impl Event {
    /// The source's name, for logs: `schedule`, `object`, `message`, `notification`,
    /// `change` or `custom`.
    pub fn kind(&self) -> &'static str {
        match self.payload {
            Payload::Schedule(_) => "schedule",
            Payload::Object(_) => "object",
            Payload::Message(_) => "message",
            Payload::Notification(_) => "notification",
            Payload::Change(_) => "change",
            Payload::Custom(_) => "custom",
        }
    }
}

impl Message {
    /// The body as JSON; a `400 invalid_json` error (logged, and the message retried)
    /// when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        parse_json(&self.body, "message body")
    }

    /// The first attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find(&self.attributes, name)
    }
}

impl Notification {
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        parse_json(self.body.as_bytes(), "notification body")
    }

    /// The first attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find(&self.attributes, name)
    }
}

impl Custom {
    /// The event's `detail` as `T`.
    pub fn detail<T: DeserializeOwned>(&self) -> Result<T, Error> {
        parse_json(self.detail.as_bytes(), "event detail")
    }
}

impl Change {
    /// The value after the change as JSON (none when the key was removed).
    pub fn new_json<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.new_value.as_deref().map(|value| parse_json(value, "new value")).transpose()
    }

    /// The value before the change as JSON (none when the key was inserted).
    pub fn old_json<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.old_value.as_deref().map(|value| parse_json(value, "old value")).transpose()
    }
}

fn find<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::bad_request(format!("{what} is not the expected JSON: {e}")))
}

/// Exports `handler` as this component's event handler.
///
/// `handler` is any `fn(Event) -> Result<(), E>` where `E: Display` (e.g. [`crate::Error`]).
/// Use it once, at the crate root of a `cdylib` plugin crate; a plugin that also answers
/// HTTP uses [`crate::plugin!`] too.
#[macro_export]
macro_rules! events {
    ($handler:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PlughostEvents;

            impl $crate::bindings::events_world::exports::plughost::plugin::events::Guest for __PlughostEvents {
                fn handle(event: $crate::events::Event) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::deliver(event, $handler)
                }
            }

            $crate::bindings::events_world::__export_events!(__PlughostEvents);
        };
        // Natively (unit tests) nothing is exported; the handler still counts as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = $handler;
        };
    };
}
