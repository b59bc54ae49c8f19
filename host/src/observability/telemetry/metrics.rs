//! The host's metrics, per plugin: one Prometheus registry per process ([`Metrics`], held
//! by the engine), and a handle per loaded plugin ([`PluginMetrics`]) with its series
//! resolved once, so recording on the request path is a few atomic adds.
//!
//! Every series (names as `/_plughost/metrics` shows them; the EMF names in `emf.rs`):
//! - `plughost_invocations_total{plugin,trigger,outcome}` — requests, events and tasks,
//!   `outcome` `ok` or `error`;
//! - `plughost_errors_total{plugin,kind}` — why (see [`ErrorKind`]), including outgoing
//!   requests the host refused, which do not fail the invocation by themselves;
//! - `plughost_duration_seconds{plugin,phase}` — `total` (admission to answer),
//!   `instantiate`, `call`;
//! - `plughost_response_bytes_total{plugin}` — HTTP response bodies;
//! - `plughost_host_calls_total{plugin,capability,operation,outcome}` and
//!   `plughost_host_call_duration_seconds{plugin,capability}` — storage, messaging and
//!   outgoing HTTP calls;
//! - `plughost_cold_starts_total{plugin}` — first instance of a loaded component in this
//!   process; `plughost_component_load_seconds{plugin,how}` — compiling or deserializing it;
//! - `plughost_deployments_total{outcome}` — tables published and versions rejected.
//!
//! In Lambda every observation also goes to the invocation's [`EmfBatch`](super::emf),
//! flushed once per invocation.

use super::emf::EmfBatch;
pub use super::names::{DeploymentOutcome, Entry, ErrorKind, Phase};
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Seconds: from 100 µs (a cached read) to 30 s (past any plugin timeout).
const BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's metrics (one per engine).
pub struct Metrics {
    registry: Registry,
    invocations: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    response_bytes: IntCounterVec,
    host_calls: IntCounterVec,
    host_call_duration: HistogramVec,
    cold_starts: IntCounterVec,
    component_load: HistogramVec,
    deployments: IntCounterVec,
    /// Set in Lambda: this invocation's observations, for its EMF lines.
    emf: Option<EmfBatch>,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry.register(Box::new(counter.clone())).expect("each metric is registered once");
    counter
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
    let histogram = HistogramVec::new(opts, labels).expect("static metric definition");
    registry.register(Box::new(histogram.clone())).expect("each metric is registered once");
    histogram
}

impl Metrics {
    /// The registry with every series; `emf` also batches observations for CloudWatch
    /// Embedded Metric Format lines (Lambda).
    pub fn new(emf: bool) -> Self {
        let r = Registry::new();
        Self {
            invocations: counter(
                &r,
                "plughost_invocations_total",
                "Requests, events and tasks run, by plugin, trigger and outcome",
                &["plugin", "trigger", "outcome"],
            ),
            errors: counter(&r, "plughost_errors_total", "Failures by plugin and kind", &["plugin", "kind"]),
            duration: histogram(
                &r,
                "plughost_duration_seconds",
                "Invocation time by plugin and phase (total, instantiate, call)",
                &["plugin", "phase"],
            ),
            response_bytes: counter(
                &r,
                "plughost_response_bytes_total",
                "HTTP response body bytes by plugin",
                &["plugin"],
            ),
            host_calls: counter(
                &r,
                "plughost_host_calls_total",
                "Host calls (storage, messaging, outgoing HTTP) by plugin, capability, operation and outcome",
                &["plugin", "capability", "operation", "outcome"],
            ),
            host_call_duration: histogram(
                &r,
                "plughost_host_call_duration_seconds",
                "Host call time by plugin and capability",
                &["plugin", "capability"],
            ),
            cold_starts: counter(
                &r,
                "plughost_cold_starts_total",
                "First instance of a loaded component in this process",
                &["plugin"],
            ),
            component_load: histogram(
                &r,
                "plughost_component_load_seconds",
                "Time to compile or deserialize a plugin's component",
                &["plugin", "how"],
            ),
            deployments: counter(
                &r,
                "plughost_deployments_total",
                "Routing tables published, versions rejected, components that failed to compile lazily",
                &["outcome"],
            ),
            emf: emf.then(EmfBatch::default),
            registry: r,
        }
    }

    /// A plugin's handle, its series resolved once.
    pub fn plugin(self: &Arc<Self>, plugin: &str) -> Arc<PluginMetrics> {
        let phase = |phase: Phase| self.duration.with_label_values(&[plugin, phase.as_str()]);
        Arc::new(PluginMetrics {
            plugin: plugin.into(),
            ok: [Entry::Http, Entry::Event, Entry::Task]
                .map(|entry| self.invocations.with_label_values(&[plugin, entry.as_str(), "ok"])),
            failed: [Entry::Http, Entry::Event, Entry::Task]
                .map(|entry| self.invocations.with_label_values(&[plugin, entry.as_str(), "error"])),
            errors: ErrorKind::ALL.map(|kind| self.errors.with_label_values(&[plugin, kind.as_str()])),
            durations: [phase(Phase::Total), phase(Phase::Instantiate), phase(Phase::Call)],
            response_bytes: self.response_bytes.with_label_values(&[plugin]),
            cold_starts: self.cold_starts.with_label_values(&[plugin]),
            started: AtomicBool::new(false),
            metrics: self.clone(),
        })
    }

    /// A component was compiled (`compiled`) or deserialized from the artifact cache.
    pub fn component_loaded(&self, plugin: &str, compiled: bool, took: Duration) {
        let how = if compiled { "compiled" } else { "deserialized" };
        self.component_load.with_label_values(&[plugin, how]).observe(took.as_secs_f64());
        if let Some(emf) = &self.emf {
            emf.component_loaded(plugin, took);
        }
    }

    /// A table went live, a deployment version was rejected, or a lazily compiled
    /// component failed to compile on its first request.
    pub fn deployment(&self, outcome: DeploymentOutcome) {
        self.deployments.with_label_values(&[outcome.as_str()]).inc();
        if let Some(emf) = &self.emf {
            emf.deployment(outcome);
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_else(|error| {
            tracing::error!("metrics could not be encoded: {error}");
            String::new()
        })
    }

    /// In Lambda: this invocation's EMF lines (one per plugin it touched, plus one for
    /// deployments), and a fresh batch for the next. Empty elsewhere.
    pub fn take_emf_lines(&self) -> Vec<String> {
        self.emf.as_ref().map(EmfBatch::take_lines).unwrap_or_default()
    }

    /// The numbers the console shows for `plugin` (totals since the process started).
    pub fn summary(&self, plugin: &str) -> Summary {
        let count =
            |entry: Entry, outcome: &str| self.invocations.with_label_values(&[plugin, entry.as_str(), outcome]).get();
        let total = self.duration.with_label_values(&[plugin, Phase::Total.as_str()]);
        let mut host_calls = 0;
        for family in self.host_calls.collect() {
            for metric in family.get_metric() {
                let labels = metric.get_label();
                if labels.iter().any(|pair| pair.name() == "plugin" && pair.value() == plugin) {
                    host_calls += metric.get_counter().get_value() as u64;
                }
            }
        }
        Summary {
            requests: count(Entry::Http, "ok") + count(Entry::Http, "error"),
            events: count(Entry::Event, "ok") + count(Entry::Event, "error"),
            tasks: count(Entry::Task, "ok") + count(Entry::Task, "error"),
            errors: ErrorKind::ALL
                .iter()
                .map(|kind| self.errors.with_label_values(&[plugin, kind.as_str()]).get())
                .sum(),
            p50_ms: quantile(&total, 0.5).map(|s| s * 1e3),
            p99_ms: quantile(&total, 0.99).map(|s| s * 1e3),
            host_calls,
        }
    }
}

/// A plugin's totals, as the console shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub requests: u64,
    pub events: u64,
    pub tasks: u64,
    pub errors: u64,
    /// Estimated from the histogram's buckets (linear within a bucket); `None` before the
    /// first invocation.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub host_calls: u64,
}

/// The `q` quantile of `histogram`, interpolated linearly within its bucket (as
/// Prometheus' `histogram_quantile` does).
fn quantile(histogram: &Histogram, q: f64) -> Option<f64> {
    use prometheus::core::Metric;
    let metric = histogram.metric();
    let data = metric.get_histogram();
    let count = data.get_sample_count();
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for bucket in data.get_bucket() {
        let (upper, cumulative) = (bucket.upper_bound(), bucket.cumulative_count());
        if cumulative as f64 >= rank {
            let inside = (cumulative - below) as f64;
            let fraction = if inside > 0.0 { (rank - below as f64) / inside } else { 1.0 };
            return Some(lower + (upper - lower) * fraction);
        }
        (lower, below) = (upper, cumulative);
    }
    // Beyond the last bucket: the best that can be said is "at least its bound".
    Some(lower)
}

/// One loaded plugin's series. Created with the plugin (`runtime/plugin.rs`); a reload makes a
/// new handle on the same series, so totals continue across versions.
pub struct PluginMetrics {
    plugin: Arc<str>,
    ok: [IntCounter; 3],
    failed: [IntCounter; 3],
    errors: [IntCounter; ErrorKind::ALL.len()],
    durations: [Histogram; 3],
    response_bytes: IntCounter,
    cold_starts: IntCounter,
    /// Whether this loaded component has been instantiated (the first time is a cold start).
    started: AtomicBool,
    metrics: Arc<Metrics>,
}

fn entry_index(entry: Entry) -> usize {
    match entry {
        Entry::Http => 0,
        Entry::Event => 1,
        Entry::Task => 2,
    }
}

fn phase_index(phase: Phase) -> usize {
    match phase {
        Phase::Total => 0,
        Phase::Instantiate => 1,
        Phase::Call => 2,
    }
}

impl PluginMetrics {
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// One invocation ended: `Err(kind)` when it gave no (valid) answer or the plugin
    /// failed it; `total` from admission to the answer.
    pub fn invocation(&self, entry: Entry, outcome: Result<(), ErrorKind>, total: Duration) {
        let index = entry_index(entry);
        match outcome {
            Ok(()) => self.ok[index].inc(),
            Err(kind) => {
                self.failed[index].inc();
                self.error_counter(kind).inc();
            }
        }
        self.durations[phase_index(Phase::Total)].observe(total.as_secs_f64());
        if let Some(emf) = &self.metrics.emf {
            emf.invocation(&self.plugin, outcome, total);
        }
    }

    /// A failure that does not end the invocation (a refused outgoing request).
    pub fn error(&self, kind: ErrorKind) {
        self.error_counter(kind).inc();
        if let Some(emf) = &self.metrics.emf {
            emf.error(&self.plugin, kind);
        }
    }

    fn error_counter(&self, kind: ErrorKind) -> &IntCounter {
        let index = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or_default();
        &self.errors[index]
    }

    /// How long instantiating or calling took. The first instantiation counts a cold start.
    pub fn phase(&self, phase: Phase, took: Duration) {
        self.durations[phase_index(phase)].observe(took.as_secs_f64());
        let cold = phase == Phase::Instantiate && !self.started.swap(true, Ordering::Relaxed);
        if cold {
            self.cold_starts.inc();
        }
        if let Some(emf) = &self.metrics.emf {
            emf.phase(&self.plugin, phase, took, cold);
        }
    }

    pub fn response_bytes(&self, bytes: usize) {
        self.response_bytes.inc_by(bytes as u64);
        if let Some(emf) = &self.metrics.emf {
            emf.response_bytes(&self.plugin, bytes);
        }
    }

    /// One host call: `capability` (its manifest name, or `http`), `operation`, whether it
    /// succeeded.
    pub fn host_call(&self, capability: &'static str, operation: &'static str, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.metrics.host_calls.with_label_values(&[&self.plugin, capability, operation, outcome]).inc();
        self.metrics.host_call_duration.with_label_values(&[&self.plugin, capability]).observe(took.as_secs_f64());
        if let Some(emf) = &self.metrics.emf {
            emf.host_call(&self.plugin, capability, took);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_and_errors_reach_the_text_exposition_per_plugin() {
        let metrics = Arc::new(Metrics::new(false));
        let hello = metrics.plugin("hello");
        hello.invocation(Entry::Http, Ok(()), Duration::from_millis(2));
        hello.invocation(Entry::Http, Err(ErrorKind::Timeout), Duration::from_secs(1));
        hello.host_call("kv", "get", true, Duration::from_micros(300));
        metrics.plugin("other").invocation(Entry::Event, Ok(()), Duration::from_millis(1));
        let text = metrics.render();
        assert!(text.contains(r#"plughost_invocations_total{outcome="ok",plugin="hello",trigger="http"} 1"#), "{text}");
        assert!(text.contains(r#"plughost_invocations_total{outcome="error",plugin="hello",trigger="http"} 1"#));
        assert!(text.contains(r#"plughost_errors_total{kind="timeout",plugin="hello"} 1"#));
        assert!(text.contains(r#"plughost_invocations_total{outcome="ok",plugin="other",trigger="event"} 1"#));
        assert!(
            text.contains(
                r#"plughost_host_calls_total{capability="kv",operation="get",outcome="ok",plugin="hello"} 1"#
            )
        );
        let summary = metrics.summary("hello");
        assert_eq!((summary.requests, summary.events, summary.errors, summary.host_calls), (2, 0, 1, 1));
    }

    #[test]
    fn the_first_instantiation_of_a_loaded_plugin_is_its_cold_start() {
        let metrics = Arc::new(Metrics::new(false));
        let plugin = metrics.plugin("p");
        plugin.phase(Phase::Instantiate, Duration::from_micros(50));
        plugin.phase(Phase::Instantiate, Duration::from_micros(40));
        assert!(metrics.render().contains(r#"plughost_cold_starts_total{plugin="p"} 1"#));
        // A reload's new handle (a new component) starts cold once more.
        metrics.plugin("p").phase(Phase::Instantiate, Duration::from_micros(60));
        assert!(metrics.render().contains(r#"plughost_cold_starts_total{plugin="p"} 2"#));
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket_that_holds_them() {
        let metrics = Arc::new(Metrics::new(false));
        let plugin = metrics.plugin("q");
        assert_eq!(metrics.summary("q").p50_ms, None);
        // 90 fast (in the 1–2.5 ms bucket) and 10 slow (in the 250–500 ms bucket).
        for _ in 0..90 {
            plugin.invocation(Entry::Http, Ok(()), Duration::from_micros(1500));
        }
        for _ in 0..10 {
            plugin.invocation(Entry::Http, Ok(()), Duration::from_millis(300));
        }
        let summary = metrics.summary("q");
        let (p50, p99) = (summary.p50_ms.unwrap(), summary.p99_ms.unwrap());
        assert!((1.0..=2.5).contains(&p50), "p50 {p50} ms");
        assert!((250.0..=500.0).contains(&p99), "p99 {p99} ms");
    }
}
