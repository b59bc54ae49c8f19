//! `plughost tfvars <manifest>`: the Terraform variables of the manifest's labels, event
//! sources, triggers and sending grants (each capability's label list as its
//! `Kind::terraform_labels` names it, and `plugins` (each one's timeout, for its alarms),
//! `queues`, `topics`, `buses`, `triggers`, `sends`
//! of `terraform/envs/*`), as JSON
//! for `-var-file` — so the stack's queues, rules and mappings are generated from the same
//! manifest the host loads, never typed twice.

use crate::spec::manifest::Manifest;
use crate::spec::triggers::Trigger;
use serde_json::{Value, json};

/// The variables, as a `.tfvars.json` document.
pub fn terraform_vars(manifest: &Manifest) -> Value {
    let queues: serde_json::Map<String, Value> = manifest
        .sources
        .queues
        .iter()
        .map(|(label, spec)| {
            let rules = json!({
                "max_receives": spec.max_receives,
                "visibility_timeout_seconds": spec.visibility_timeout.as_secs(),
                "fifo": spec.fifo,
                "topics": spec.topics,
            });
            (label.clone(), rules)
        })
        .collect();
    let mut triggers = Vec::new();
    for plugin in &manifest.plugins {
        for trigger in &plugin.triggers {
            let mut entry = match trigger {
                Trigger::Schedule { name, schedule } => json!({ "schedule": schedule.expression(), "name": name }),
                Trigger::Object { container, created, removed, prefix, suffix } => {
                    let on: Vec<&str> = [(*created, "created"), (*removed, "removed")]
                        .into_iter()
                        .filter_map(|(set, word)| set.then_some(word))
                        .collect();
                    json!({ "object": container, "on": on, "prefix": prefix, "suffix": suffix })
                }
                Trigger::Queue { queue, batch } => json!({ "queue": queue, "batch": batch }),
                Trigger::Topic { topic } => json!({ "topic": topic }),
                Trigger::Changes { store, prefix } => json!({ "changes": store, "prefix": prefix }),
                Trigger::Bus { bus, pattern } => json!({ "bus": bus, "pattern": pattern.to_json() }),
            };
            entry["plugin"] = json!(plugin.id.as_str());
            triggers.push(entry);
        }
    }
    // The labels some plugin may send to, publish on or put on: the function's role may
    // reach exactly these.
    let granted = |capability: &str| -> std::collections::BTreeSet<&str> {
        manifest
            .plugins
            .iter()
            .flat_map(|p| p.grants.get(capability).into_iter().flat_map(|g| g.keys()))
            .map(String::as_str)
            .collect()
    };
    // Each plugin's timeout: its p99 alarm fires at 80% of it (modules/observability).
    let plugins: serde_json::Map<String, Value> = manifest
        .plugins
        .iter()
        .map(|p| (p.id.to_string(), json!({ "timeout_ms": p.limits.timeout.as_millis() as u64 })))
        .collect();
    let mut vars = json!({
        "plugins": plugins,
        "queues": queues,
        "topics": manifest.sources.topics,
        "buses": manifest.sources.buses,
        "triggers": triggers,
        "sends": { "queues": granted("queue"), "topics": granted("topic"), "buses": granted("bus") },
    });
    // Every other labelled capability's labels, each its own prefix of the shared table or
    // bucket (so a manifest's new store or container gets its binding on the next deploy).
    for kind in crate::capability::LABELLED {
        if let Some(variable) = kind.terraform_labels {
            let labels = manifest.declared.get(kind.name).into_iter().flat_map(|labels| labels.keys());
            vars[variable] =
                labels.map(|label| (label.clone(), json!(label))).collect::<serde_json::Map<_, _>>().into();
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifests_sources_and_triggers_become_the_stacks_variables() {
        let manifest = crate::spec::manifest::parse_for_tests(
            r#"
            [kv.users]
            [queue.jobs]
            max_receives = 3
            [queue.audit]
            topics = ["alerts"]
            [topic.alerts]
            [bus.app]
            [plugins.sender]
            source = "s.wasm"
            routes = ["/s"]
            topic = { alerts = "publish" }
            bus = { app = "put" }
            [plugins.worker]
            source = "w.wasm"
            events = [
              { schedule = "rate(5 minutes)", name = "sweep" },
              { queue = "jobs", batch = 4 },
              { changes = "users", prefix = "user/" },
              { bus = "app", pattern = { source = ["shop"] } },
            ]
            kv = { users = "read" }
            "#,
        )
        .unwrap();
        assert_eq!(
            terraform_vars(&manifest),
            json!({
                "plugins": { "sender": { "timeout_ms": 5000 }, "worker": { "timeout_ms": 5000 } },
                "queues": {
                    "audit": { "max_receives": 5, "visibility_timeout_seconds": 30, "fifo": false, "topics": ["alerts"] },
                    "jobs": { "max_receives": 3, "visibility_timeout_seconds": 30, "fifo": false, "topics": [] },
                },
                "topics": ["alerts"],
                "buses": ["app"],
                "triggers": [
                    { "plugin": "worker", "schedule": "rate(5 minutes)", "name": "sweep" },
                    { "plugin": "worker", "queue": "jobs", "batch": 4 },
                    { "plugin": "worker", "changes": "users", "prefix": "user/" },
                    { "plugin": "worker", "bus": "app", "pattern": "{\"source\":[\"shop\"]}" },
                ],
                "sends": { "queues": [], "topics": ["alerts"], "buses": ["app"] },
                "kv_stores": { "users": "users" },
                "blob_containers": {},
            })
        );
    }
}
