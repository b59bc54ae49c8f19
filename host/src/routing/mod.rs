//! Who answers: the live routing table (HTTP routes, published atomically) and, for events,
//! which plugins a source's event goes to.
//!
//! - `registry.rs`    — [`RoutingTable`](registry::RoutingTable) (matchit) and its atomic
//!   publication ([`Registry`](registry::Registry), ArcSwap);
//! - `event_table.rs` — which plugins a source's event goes to, for one routing table;
//! - `addresses.rs`   — which label an AWS queue or topic (ARN, URL) is, and which queues
//!   `serve` polls.

pub mod addresses;
pub mod event_table;
pub mod registry;
