//! `serve`'s own event sources, without AWS: the same events a deployment gets from S3,
//! SQS, SNS, DynamoDB streams and EventBridge, produced locally from the embedded
//! messaging store (`capability/message_store/`) and delivered through the same path
//! (`App::deliver`).
//!
//! - `pump.rs`       — delivers: each consumed queue's messages to its consumer (visibility
//!   timeout, redelivery, dead letters after `max_receives`), and outbox events with retries;
//! - `scheduler.rs`  — fires schedule triggers on time;
//! - `sqs_poller.rs` — queues bound to SQS (with a URL) are consumed from SQS instead;
//! - `fire.rs`       — what `POST /_plughost/events` and `plughost trigger` accept: an event
//!   to fire now, checked against the manifest.

pub mod fire;
pub mod pump;
pub mod scheduler;
pub mod sqs_poller;
