//! The embedded messaging store of `plughost serve` (no AWS): the durable queues, the
//! outbox of accepted events and the dead letters, in one SQLite database — what the
//! embedded backends of the queue, topic and bus capabilities write to
//! (`capability/{queue,topic,bus}/local.rs`), and what `serve`'s event sources
//! (`serve/sources/`) deliver from.
//!
//! - `sqlite.rs` — [`LocalEvents`]: the store itself. The outbox keeps each accepted
//!   [`Event`](crate::capability::event::Event) as its JSON.

pub mod sqlite;

pub use sqlite::LocalEvents;
