//! CloudWatch Embedded Metric Format for Lambda: what one invocation observed, per
//! plugin, written as a few JSON lines on stdout when the invocation ends (never a line
//! per host call). CloudWatch turns them into metrics (namespace `plughost`, dimension
//! `plugin`) with no agent; durations go as arrays of values, so CloudWatch computes
//! p50/p99 across invocations.
//!
//! Lambda runs one invocation at a time per process, so one batch is one invocation. EMF
//! allows at most 100 values per metric in a line: a batch with more (a large SQS batch)
//! continues its arrays on further lines that carry no counts.
//!
//! Written here rather than with an EMF crate (`metrics_cloudwatch_embedded`): that one is
//! a backend of the `metrics` facade, a second metrics API beside the `prometheus`
//! registry `serve` exposes, and every observation would go through both; this file is
//! the EMF JSON and its 100-value rule, and costs one batch per invocation, not per host
//! call ("metrics recording alone" in `make bench`'s `observability.rs` times what an
//! invocation records).

use super::names::{DeploymentOutcome, ErrorKind, Phase};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "plughost";

/// EMF's limit on values per metric in one line.
const MAX_VALUES: usize = 100;

/// The observations of the running invocation.
#[derive(Default)]
pub struct EmfBatch {
    inner: Mutex<Batch>,
}

#[derive(Default)]
struct Batch {
    plugins: BTreeMap<String, PluginBatch>,
    deployments: BTreeMap<&'static str, u64>,
}

/// One plugin's part: counts by metric name, and values (milliseconds) by metric name.
#[derive(Default)]
struct PluginBatch {
    counts: BTreeMap<String, u64>,
    values: BTreeMap<String, Vec<f64>>,
}

impl PluginBatch {
    fn add(&mut self, name: &str, n: u64) {
        *self.counts.entry(name.to_owned()).or_default() += n;
    }

    fn value(&mut self, name: &str, took: Duration) {
        self.values.entry(name.to_owned()).or_default().push(took.as_secs_f64() * 1e3);
    }
}

/// The EMF name of an error kind's count: `Errors.timeout`.
fn error_metric(kind: ErrorKind) -> String {
    format!("Errors.{}", kind.as_str())
}

impl EmfBatch {
    fn with(&self, plugin: &str, record: impl FnOnce(&mut PluginBatch)) {
        let mut batch = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match batch.plugins.get_mut(plugin) {
            Some(plugin) => record(plugin),
            None => record(batch.plugins.entry(plugin.to_owned()).or_default()),
        }
    }

    pub fn invocation(&self, plugin: &str, outcome: Result<(), ErrorKind>, total: Duration) {
        self.with(plugin, |p| {
            p.add("Invocations", 1);
            p.add("Errors", u64::from(outcome.is_err()));
            if let Err(kind) = outcome {
                p.add(&error_metric(kind), 1);
            }
            p.value("Duration", total);
        });
    }

    pub fn error(&self, plugin: &str, kind: ErrorKind) {
        self.with(plugin, |p| {
            p.add("Errors", 1);
            p.add(&error_metric(kind), 1);
        });
    }

    pub fn phase(&self, plugin: &str, phase: Phase, took: Duration, cold: bool) {
        self.with(plugin, |p| {
            match phase {
                Phase::Total => p.value("Duration", took),
                Phase::Instantiate => p.value("InstantiateDuration", took),
                Phase::Call => p.value("CallDuration", took),
            }
            if cold {
                p.add("ColdStarts", 1);
            }
        });
    }

    pub fn response_bytes(&self, plugin: &str, bytes: usize) {
        self.with(plugin, |p| p.add("ResponseBytes", bytes as u64));
    }

    pub fn host_call(&self, plugin: &str, capability: &str, took: Duration) {
        self.with(plugin, |p| {
            p.add(&format!("HostCalls.{capability}"), 1);
            p.value(&format!("HostCallDuration.{capability}"), took);
        });
    }

    pub fn component_loaded(&self, plugin: &str, took: Duration) {
        self.with(plugin, |p| p.value("ComponentLoadDuration", took));
    }

    pub fn deployment(&self, outcome: DeploymentOutcome) {
        let name = match outcome {
            DeploymentOutcome::Published => "DeploymentPublished",
            DeploymentOutcome::Rejected => "DeploymentRejected",
            DeploymentOutcome::Unavailable => "PluginUnavailable",
        };
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()).deployments.entry(name).or_default() += 1;
    }

    /// The batch as EMF lines, emptied for the next invocation.
    pub fn take_lines(&self) -> Vec<String> {
        let batch = std::mem::take(&mut *self.inner.lock().unwrap_or_else(|p| p.into_inner()));
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let mut lines = Vec::new();
        if !batch.deployments.is_empty() {
            let members = batch.deployments.iter().map(|(name, n)| (name.to_string(), serde_json::json!(n)));
            lines.push(line(timestamp, None, members.collect()));
        }
        for (plugin, data) in batch.plugins {
            let chunks = data.values.values().map(|v| v.len().div_ceil(MAX_VALUES)).max().unwrap_or(0).max(1);
            for chunk in 0..chunks {
                let mut members: Vec<(String, serde_json::Value)> = Vec::new();
                if chunk == 0 {
                    members.extend(data.counts.iter().map(|(name, n)| (name.clone(), serde_json::json!(n))));
                }
                for (name, values) in &data.values {
                    let part: Vec<f64> = values.iter().skip(chunk * MAX_VALUES).take(MAX_VALUES).copied().collect();
                    if !part.is_empty() {
                        members.push((name.clone(), serde_json::json!(part)));
                    }
                }
                lines.push(line(timestamp, Some(&plugin), members));
            }
        }
        lines
    }
}

/// The unit CloudWatch records a member with, from its name.
fn unit(name: &str) -> &'static str {
    if name.contains("Duration") {
        "Milliseconds"
    } else if name == "ResponseBytes" {
        "Bytes"
    } else {
        "Count"
    }
}

/// One EMF line: the directive naming each member as a metric, then the members.
fn line(timestamp: u64, plugin: Option<&str>, members: Vec<(String, serde_json::Value)>) -> String {
    let metrics: Vec<_> =
        members.iter().map(|(name, _)| serde_json::json!({ "Name": name, "Unit": unit(name) })).collect();
    let dimensions = if plugin.is_some() { serde_json::json!([["plugin"]]) } else { serde_json::json!([[]]) };
    let mut object = serde_json::Map::new();
    object.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": dimensions, "Metrics": metrics }],
        }),
    );
    if let Some(plugin) = plugin {
        object.insert("plugin".into(), plugin.into());
    }
    object.extend(members);
    serde_json::Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> serde_json::Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn one_line_per_plugin_with_its_counts_values_and_dimension() {
        let batch = EmfBatch::default();
        batch.invocation("hello", Ok(()), Duration::from_millis(3));
        batch.invocation("hello", Err(ErrorKind::Timeout), Duration::from_millis(900));
        batch.host_call("hello", "kv", Duration::from_micros(500));
        batch.host_call("hello", "kv", Duration::from_micros(700));
        batch.invocation("orders", Ok(()), Duration::from_millis(1));
        let lines = batch.take_lines();
        assert_eq!(lines.len(), 2);
        let hello = parse(&lines[0]);
        assert_eq!(hello["plugin"], "hello");
        assert_eq!(hello["Invocations"], 2);
        assert_eq!(hello["Errors"], 1);
        assert_eq!(hello["Errors.timeout"], 1);
        assert_eq!(hello["HostCalls.kv"], 2);
        assert_eq!(hello["Duration"], serde_json::json!([3.0, 900.0]));
        assert_eq!(hello["HostCallDuration.kv"], serde_json::json!([0.5, 0.7]));
        let directive = &hello["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "plughost");
        assert_eq!(directive["Dimensions"], serde_json::json!([["plugin"]]));
        let named: Vec<_> = directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].clone()).collect();
        assert!(named.contains(&"Duration".into()) && named.contains(&"Invocations".into()));
        let duration = directive["Metrics"].as_array().unwrap().iter().find(|m| m["Name"] == "Duration").unwrap();
        assert_eq!(duration["Unit"], "Milliseconds");
        assert_eq!(parse(&lines[1])["plugin"], "orders");
        // Taken: the next invocation starts empty.
        assert!(batch.take_lines().is_empty());
    }

    #[test]
    fn more_than_a_hundred_values_continue_on_lines_without_counts() {
        let batch = EmfBatch::default();
        for _ in 0..250 {
            batch.invocation("busy", Ok(()), Duration::from_millis(1));
        }
        let lines: Vec<_> = batch.take_lines().iter().map(|l| parse(l)).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["Invocations"], 250);
        assert_eq!(lines[0]["Duration"].as_array().unwrap().len(), 100);
        assert_eq!(lines[2]["Duration"].as_array().unwrap().len(), 50);
        assert!(lines[1].get("Invocations").is_none());
        let named = lines[1]["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().len();
        assert_eq!(named, 1, "a continuation line names only the metrics it carries");
    }

    #[test]
    fn deployments_are_a_line_without_dimensions() {
        let batch = EmfBatch::default();
        batch.deployment(DeploymentOutcome::Rejected);
        let line = parse(&batch.take_lines()[0]);
        assert_eq!(line["DeploymentRejected"], 1);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([[]]));
        assert!(line.get("plugin").is_none());
    }
}
