//! The threads embedded storage blocks on: SQLite (stores, the local event store) and files
//! (containers). Their own pool, apart from tokio's shared blocking pool, so neither can starve
//! the other: work that blocks elsewhere in the process (a slow component compile, a
//! manifest read, a lookup a library still makes with `getaddrinfo`) never leaves a
//! plugin's storage call waiting for a thread, and a storage backend that hangs ties up
//! only these.
//!
//! The pool is the blocking pool of a runtime of its own that runs no async tasks (a
//! current-thread runtime nobody drives): threads are started on demand up to
//! [`MAX_THREADS`], idle ones end after a while, and past the cap work waits in order.
//! Callers await the result from any runtime.

use std::future::Future;
use std::sync::OnceLock;

/// Storage work running at once, at most. SQLite serialises writers and has a handful of
/// readers per store, so more threads than this would only wait on its locks.
pub const MAX_THREADS: usize = 64;

fn pool() -> &'static tokio::runtime::Runtime {
    static POOL: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(MAX_THREADS)
            .thread_name("plughost-storage")
            .build()
            .expect("the storage pool's runtime (no I/O driver, no timers) cannot fail to build")
    })
}

/// Runs `work` on a storage thread; its result, or the join error if it panicked.
pub fn spawn<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T, tokio::task::JoinError>> {
    pool().handle().spawn_blocking(work)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::Duration;

    #[test]
    fn storage_work_runs_while_the_callers_blocking_pool_is_exhausted() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Fill the caller's blocking pool with work that does not end soon (a hung
            // lookup, say).
            let (release, held) = mpsc::channel::<()>();
            let held = Arc::new(Mutex::new(held));
            for _ in 0..2 {
                let held = held.clone();
                drop(tokio::task::spawn_blocking(move || {
                    let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(10));
                }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let shared = tokio::time::timeout(Duration::from_millis(300), tokio::task::spawn_blocking(|| 1)).await;
            assert!(shared.is_err(), "the caller's pool should be full");
            // Storage work is not behind it.
            let answered = tokio::time::timeout(Duration::from_secs(2), spawn(|| 42)).await;
            assert_eq!(answered.expect("storage work waited for the caller's pool").unwrap(), 42);
            drop(release);
        });
        runtime.shutdown_background();
    }
}
