//! Operational metrics. In Lambda they are CloudWatch Embedded Metric Format lines on
//! stdout (CloudWatch turns them into metrics, namespace `plughost`, no agent needed);
//! elsewhere they are only the log lines that accompany them.

use std::sync::atomic::{AtomicBool, Ordering};

static EMBEDDED_METRIC_FORMAT: AtomicBool = AtomicBool::new(false);

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "plughost";

/// A deployment version was rejected (bad manifest, corrupt or invalid component).
pub const DEPLOYMENT_REJECTED: &str = "DeploymentRejected";
/// A lazily compiled component failed to compile on its first request (`--compile lazy`).
pub const PLUGIN_UNAVAILABLE: &str = "PluginUnavailable";
/// A new table went live.
pub const DEPLOYMENT_PUBLISHED: &str = "DeploymentPublished";

/// Emit metrics as EMF lines on stdout from now on (the Lambda entry calls this).
pub fn use_embedded_metric_format() {
    EMBEDDED_METRIC_FORMAT.store(true, Ordering::Relaxed);
}

/// Counts one occurrence of `name`.
pub fn count(name: &str) {
    if !EMBEDDED_METRIC_FORMAT.load(Ordering::Relaxed) {
        return;
    }
    println!("{}", emf_line(name, 1.0, "Count"));
}

fn emf_line(name: &str, value: f64, unit: &str) -> serde_json::Value {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    serde_json::json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{ "Name": name, "Unit": unit }],
            }],
        },
        name: value,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_lines_name_the_metric_in_the_directive_and_as_a_member() {
        let line = super::emf_line("DeploymentRejected", 1.0, "Count");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], "DeploymentRejected");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "plughost");
        assert_eq!(line["DeploymentRejected"], 1.0);
        assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    }
}
