//! The commands that are not servers (`main.rs` parses them all):
//!
//! - `trigger.rs`  — `plughost trigger`: fire an event at a running `serve`;
//! - `tfvars.rs`   — `plughost tfvars`: the manifest's sources and triggers as Terraform variables;
//! - `operator.rs` — `plughost deploy | push | status | rollback`: operate a deployment in S3.

pub mod operator;
pub mod tfvars;
pub mod trigger;
