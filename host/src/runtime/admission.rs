//! Admission: who may start an instance now, so that no plugin can take what the others
//! need. Three budgets, each a semaphore, taken in this order for every invocation:
//!
//! 1. the plugin's own concurrency (`limits.max_concurrency`): a plugin that is slow
//!    (a hung backend) or flooded queues behind *its own* cap and never holds more than
//!    its share of the host;
//! 2. the host's instance slots (the pooling allocator's `max_instances`);
//! 3. the host's memory budget: every running instance holds its plugin's `max_memory`
//!    until it ends, and their sum stays under the budget (derived from the machine or
//!    the Lambda function's memory size), so a crowd of memory-hungry requests waits
//!    instead of driving the process out of memory.
//!
//! A request that cannot get all three waits in line — at most the queue timeout, never
//! past its deadline — and is then refused with 503 + `Retry-After`, naming the plugin
//! when its own cap was the limit. Waiting is fair (tokio's semaphores are FIFO).
//! Holding a permit costs nothing on the hot path beyond an atomic add.

use crate::spec::id::PluginId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Memory is budgeted in whole MiB (a plugin's `max_memory` rounded up).
const MIB: u64 = 1024 * 1024;

/// The host-wide budgets, one per process (held by the engine).
#[derive(Debug)]
pub struct Admission {
    instances: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    memory_budget_mib: u32,
    queue_timeout: Duration,
}

/// One plugin's concurrency cap (one per loaded plugin, per table).
#[derive(Debug, Clone)]
pub struct PluginGate {
    permits: Arc<Semaphore>,
    limit: u32,
}

impl PluginGate {
    pub fn new(limit: u32) -> Self {
        let limit = limit.max(1);
        Self { permits: Arc::new(Semaphore::new(limit as usize)), limit }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Requests of this plugin running now.
    pub fn running(&self) -> u32 {
        self.limit - self.permits.available_permits() as u32
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The plugin already runs `limit` requests and none ended in time.
    PluginAtCapacity { limit: u32 },
    /// The host's instance slots or memory budget stayed taken.
    HostAtCapacity,
}

/// What an admitted request holds until its instance is gone.
#[derive(Debug)]
pub struct Admitted {
    _plugin: OwnedSemaphorePermit,
    _instance: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
}

impl Admission {
    /// `max_instances` slots; `memory_budget` bytes for the sum of running instances'
    /// `max_memory`; waiting at most `queue_timeout`.
    pub fn new(max_instances: u32, memory_budget: u64, queue_timeout: Duration) -> Self {
        let memory_budget_mib = u32::try_from(memory_budget / MIB).unwrap_or(u32::MAX).max(1);
        Self {
            instances: Arc::new(Semaphore::new(max_instances.max(1) as usize)),
            memory: Arc::new(Semaphore::new(memory_budget_mib as usize)),
            memory_budget_mib,
            queue_timeout,
        }
    }

    pub fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }

    pub fn memory_budget(&self) -> u64 {
        u64::from(self.memory_budget_mib) * MIB
    }

    /// Whether an instance of `max_memory` can ever be admitted (checked at load, so a
    /// plugin that could never run is refused there, not on every request).
    pub fn fits(&self, max_memory: u64) -> bool {
        mib(max_memory) <= self.memory_budget_mib
    }

    /// Waits for the plugin's cap, an instance slot and `max_memory` of the budget — at
    /// most the queue timeout, never past `deadline`.
    pub async fn admit(
        &self,
        plugin: &PluginId,
        gate: &PluginGate,
        max_memory: u64,
        deadline: Option<Instant>,
    ) -> Result<Admitted, Refused> {
        let mut until = Instant::now() + self.queue_timeout;
        if let Some(deadline) = deadline {
            until = until.min(deadline);
        }
        let wait = |semaphore: Arc<Semaphore>, permits: u32| async move {
            // Closed never happens (we never close them); treat it like a full queue.
            let acquire = semaphore.acquire_many_owned(permits);
            tokio::time::timeout_at(until.into(), acquire).await.ok().and_then(Result::ok)
        };
        let Some(own) = wait(gate.permits.clone(), 1).await else {
            tracing::debug!(%plugin, limit = gate.limit, "plugin at its concurrency limit");
            return Err(Refused::PluginAtCapacity { limit: gate.limit });
        };
        let Some(instance) = wait(self.instances.clone(), 1).await else {
            return Err(Refused::HostAtCapacity);
        };
        let Some(memory) = wait(self.memory.clone(), mib(max_memory)).await else {
            return Err(Refused::HostAtCapacity);
        };
        Ok(Admitted { _plugin: own, _instance: instance, _memory: memory })
    }
}

fn mib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(MIB)).unwrap_or(u32::MAX)
}

/// The default memory budget: in Lambda, the function's memory size less what the host
/// itself needs; elsewhere, half the machine's memory. Falls back to 4 GiB where neither
/// can be read.
pub fn default_memory_budget() -> u64 {
    const HOST_OVERHEAD: u64 = 64 * MIB;
    if let Some(lambda_mib) = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok().and_then(|v| v.parse::<u64>().ok())
    {
        return (lambda_mib * MIB).saturating_sub(HOST_OVERHEAD).max(64 * MIB);
    }
    machine_memory().map_or(4096 * MIB, |total| total / 2)
}

/// `MemTotal` from /proc/meminfo, in bytes.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A plugin's concurrency cap when its manifest sets none: a quarter of the host's
/// instance slots (at least one), so three plugins at their caps still leave room.
pub fn default_max_concurrency(max_instances: u32) -> u32 {
    (max_instances / 4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> PluginId {
        PluginId::parse("p").unwrap()
    }

    #[tokio::test]
    async fn a_plugin_over_its_cap_waits_then_is_refused_without_touching_the_host_budget() {
        let admission = Admission::new(8, 1024 * MIB, Duration::from_millis(50));
        let gate = PluginGate::new(2);
        let a = admission.admit(&id(), &gate, 16 * MIB, None).await.unwrap();
        let _b = admission.admit(&id(), &gate, 16 * MIB, None).await.unwrap();
        assert_eq!(gate.running(), 2);
        let refused = admission.admit(&id(), &gate, 16 * MIB, None).await.unwrap_err();
        assert_eq!(refused, Refused::PluginAtCapacity { limit: 2 });
        // Another plugin still gets in.
        let other = PluginGate::new(2);
        assert!(admission.admit(&id(), &other, 16 * MIB, None).await.is_ok());
        // A slot that frees while waiting is taken.
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move {
                let admission = Admission::new(8, 1024 * MIB, Duration::from_secs(5));
                // Its own budgets, the plugin's shared gate.
                admission.admit(&PluginId::parse("p").unwrap(), &gate, MIB, None).await.is_ok()
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn the_memory_budget_bounds_the_sum_of_running_instances() {
        let admission = Admission::new(100, 100 * MIB, Duration::from_millis(30));
        let gate = PluginGate::new(100);
        let plugin = id();
        let held: Vec<_> =
            futures::future::join_all((0..3).map(|_| admission.admit(&plugin, &gate, 30 * MIB, None))).await;
        assert!(held.iter().all(Result::is_ok));
        assert_eq!(admission.admit(&id(), &gate, 30 * MIB, None).await.unwrap_err(), Refused::HostAtCapacity);
        assert!(admission.admit(&id(), &gate, 10 * MIB, None).await.is_ok());
        assert!(admission.fits(100 * MIB) && !admission.fits(101 * MIB));
    }

    #[tokio::test]
    async fn waiting_never_passes_the_deadline() {
        let admission = Admission::new(1, 1024 * MIB, Duration::from_secs(30));
        let gate = PluginGate::new(4);
        let _held = admission.admit(&id(), &gate, MIB, None).await.unwrap();
        let started = Instant::now();
        let deadline = Some(Instant::now() + Duration::from_millis(40));
        assert_eq!(admission.admit(&id(), &gate, MIB, deadline).await.unwrap_err(), Refused::HostAtCapacity);
        assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
    }

    #[test]
    fn defaults_leave_room_for_other_plugins() {
        assert_eq!(default_max_concurrency(128), 32);
        assert_eq!(default_max_concurrency(2), 1);
        assert!(default_memory_budget() >= 64 * MIB);
    }
}
