//! The storage deadline of the running request: every storage call a plugin makes is cut
//! off there, on every backend, so a hung backend (a stopped DynamoDB endpoint, a stalled
//! S3 connection) becomes `unavailable` — an error the plugin can turn into a 503 — while
//! the request still has time to answer, instead of the request timing out (504).
//!
//! `runtime/invoke.rs` sets it around the plugin call ([`scope`]); every backend call goes through
//! [`bounded`] (by way of `host_call.rs`). Outside a request (tests calling a backend
//! directly), calls are not cut off.

use super::error::StorageError;
use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static STORAGE_DEADLINE: Instant;
}

/// The part of a request's time kept back from storage: enough for the plugin to handle
/// `unavailable` and answer. A quarter of the time, at least 100 ms, at most 1 s.
pub fn reserve(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// Runs `future` (a plugin call) with storage calls cut off at `deadline`.
pub async fn scope<F: Future>(deadline: Instant, future: F) -> F::Output {
    STORAGE_DEADLINE.scope(deadline, future).await
}

/// The running request's deadline for host calls (`None` outside a request).
pub fn current() -> Option<Instant> {
    STORAGE_DEADLINE.try_with(|deadline| *deadline).ok()
}

/// `call`, cut off at the request's storage deadline (if any) with `unavailable`.
pub async fn bounded<T>(call: impl Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
    let Ok(deadline) = STORAGE_DEADLINE.try_with(|deadline| *deadline) else {
        return call.await;
    };
    match tokio::time::timeout_at(deadline.into(), call).await {
        Ok(result) => result,
        Err(_elapsed) => {
            tracing::warn!("storage call did not finish before the request's storage deadline");
            Err(StorageError::Unavailable("storage did not answer in time".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hung_call_becomes_unavailable_at_the_deadline_and_others_pass() {
        let deadline = Instant::now() + Duration::from_millis(50);
        let hung = scope(deadline, bounded(std::future::pending::<Result<(), StorageError>>())).await;
        assert_eq!(hung, Err(StorageError::Unavailable("storage did not answer in time".into())));
        let quick = scope(deadline, bounded(async { Ok::<_, StorageError>(7) })).await;
        assert_eq!(quick, Ok(7));
        // Outside a request nothing is cut off.
        assert_eq!(bounded(async { Ok::<_, StorageError>(1) }).await, Ok(1));
        assert_eq!(reserve(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(reserve(Duration::from_millis(200)), Duration::from_millis(100));
    }
}
