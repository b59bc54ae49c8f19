//! The host's integration tests, one binary (as wasmtime's `tests/all`): each module was
//! once a binary of its own, each linking wasmtime and the AWS SDKs again; now they link
//! once and their tests share one thread pool, one engine and one log capture.
//!
//! Run one module, one test, or every test whose path contains a word:
//!
//! ```text
//! cargo test -p plughost --test integration kv_conformance::      # one module
//! cargo test -p plughost --test integration kv_grants::read_only  # one test
//! cargo test -p plughost --test integration -- kv_ blob_          # several filters
//! ```
//!
//! The guests are built by `make plugins` first (`make test` does); `make test-capability
//! CAP=kv` runs one capability's modules (their `//! capabilities:` header lines count too).

mod support;

mod artifact_cache;
mod blob_conformance;
mod blob_grants;
mod config_secrets;
mod console_browser;
mod deployment_e2e;
mod dispatch;
mod events_lambda;
mod events_serve;
mod idempotency_crash;
mod kv_conformance;
mod kv_grants;
mod lambda_e2e;
mod lazy_compile;
mod limits;
mod load_errors;
mod messaging;
mod metrics_serve;
mod order_pipeline;
mod outbound_fences;
mod outbound_http;
mod outbound_services;
mod serve_e2e;
mod traces_otlp;
mod upload_services;
mod users_products_api;
