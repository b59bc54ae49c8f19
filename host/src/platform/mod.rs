//! What this process runs on, asked by every layer above: the AWS configuration and
//! clients (`aws.rs`), and whether it runs inside a Lambda function (`environment.rs`).
//! Leaves: nothing here uses the rest of the host.

pub mod aws;
pub mod environment;
