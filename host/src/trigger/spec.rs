//! The manifest's event sections: the sources declared at the top level (`[queue.<label>]`,
//! `[topic.<label>]`, `[bus.<label>]`, beside the capabilities' `[<capability>.<label>]`)
//! and each plugin's `events = [...]` triggers. Data only, checked here; `manifest.rs`
//! calls in. `object` and `changes` triggers name labels of the capability that emits
//! those events (`Kind::events`).
//!
//! ```toml
//! [queue.orders]                    # max_receives = 5, visibility_timeout = "30s"
//! [topic.alerts]
//! [bus.app]
//!
//! [plugins.worker]
//! events = [
//!   { schedule = "rate(5 minutes)", name = "sweep" },
//!   { object = "images", on = ["created"], prefix = "uploads/", suffix = ".png" },
//!   { queue = "orders", batch = 10 },
//!   { topic = "alerts" },
//!   { changes = "users", prefix = "user/" },
//!   { bus = "app", pattern = { source = ["shop"], detail-type = ["OrderPlaced"] } },
//! ]
//! ```

use super::SOURCE_SECTIONS;
use super::pattern::Pattern;
use super::schedule::Schedule;
use crate::capability::labelled::{Declarations, GrantedAccess};
use crate::id::PluginId;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// Every queue, topic and bus the manifest declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    pub queues: BTreeMap<String, QueueSpec>,
    pub topics: BTreeSet<String>,
    pub buses: BTreeSet<String>,
}

/// A queue's delivery rules (the embedded queue applies them; in AWS, the SQS queue's
/// visibility timeout and redrive policy, set by Terraform from the same values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    /// Receives after which a message that keeps failing goes to the dead-letter queue.
    pub max_receives: u32,
    /// How long a received message stays invisible before it is delivered again.
    pub visibility_timeout: Duration,
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self { max_receives: 5, visibility_timeout: Duration::from_secs(30) }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    max_receives: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    visibility_timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmpty {}

/// Takes `[queue.*]`, `[topic.*]` and `[bus.*]` out of the manifest's top-level `table`.
pub fn take_sources(table: &mut toml::Table) -> Result<Sources, String> {
    let mut sources = Sources::default();
    for section in SOURCE_SECTIONS {
        let Some(value) = table.remove(section) else { continue };
        let toml::Value::Table(labels) = value else {
            return Err(format!("[{section}]: must hold labels, e.g. `[{section}.<label>]`"));
        };
        for (label, declaration) in labels {
            let at = |m: String| format!("[{section}.{label}]: {m}");
            check_label(&label).map_err(at)?;
            let toml::Value::Table(_) = declaration else {
                return Err(at(format!("must be a table (its settings, or empty): `[{section}.{label}]`")));
            };
            match section {
                "queue" => {
                    let raw: RawQueue = declaration.try_into().map_err(|e: toml::de::Error| at(message(&e)))?;
                    let defaults = QueueSpec::default();
                    let spec = QueueSpec {
                        max_receives: raw.max_receives.unwrap_or(defaults.max_receives),
                        visibility_timeout: raw.visibility_timeout.unwrap_or(defaults.visibility_timeout),
                    };
                    if !(1..=1000).contains(&spec.max_receives) {
                        return Err(at(format!("max_receives {} is outside 1..=1000", spec.max_receives)));
                    }
                    if spec.visibility_timeout < Duration::from_secs(1)
                        || spec.visibility_timeout > Duration::from_secs(12 * 3600)
                    {
                        return Err(at("visibility_timeout must be within 1s..=12h (SQS's bounds)".into()));
                    }
                    sources.queues.insert(label, spec);
                }
                _ => {
                    let _: RawEmpty = declaration.try_into().map_err(|e: toml::de::Error| at(message(&e)))?;
                    let set = if section == "topic" { &mut sources.topics } else { &mut sources.buses };
                    set.insert(label);
                }
            }
        }
    }
    Ok(sources)
}

/// One way events reach a plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Schedule { name: String, schedule: Schedule },
    Object { container: String, created: bool, removed: bool, prefix: String, suffix: String },
    Queue { queue: String, batch: u32 },
    Topic { topic: String },
    Changes { store: String, prefix: String },
    Bus { bus: String, pattern: Pattern },
}

impl Trigger {
    /// For a trigger on a capability's own events (`object`, `changes`): its trigger
    /// keyword and the label it watches (see `Kind::events`).
    pub fn emitted(&self) -> Option<(&'static str, &str)> {
        match self {
            Self::Object { container, .. } => Some(("object", container)),
            Self::Changes { store, .. } => Some(("changes", store)),
            _ => None,
        }
    }
}

impl fmt::Display for Trigger {
    /// How logs and errors name a trigger: `schedule sweep`, `queue orders`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Schedule { name, .. } => write!(f, "schedule {name}"),
            Self::Object { container, .. } => write!(f, "object {container}"),
            Self::Queue { queue, .. } => write!(f, "queue {queue}"),
            Self::Topic { topic } => write!(f, "topic {topic}"),
            Self::Changes { store, .. } => write!(f, "changes {store}"),
            Self::Bus { bus, .. } => write!(f, "bus {bus}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    schedule: Option<String>,
    name: Option<String>,
    object: Option<String>,
    on: Option<Vec<String>>,
    prefix: Option<String>,
    suffix: Option<String>,
    queue: Option<String>,
    batch: Option<u32>,
    topic: Option<String>,
    changes: Option<String>,
    bus: Option<String>,
    pattern: Option<toml::Value>,
}

const TRIGGER_KINDS: &str = "`schedule`, `object`, `queue`, `topic`, `changes` or `bus`";

/// A plugin's `events = [...]`, each naming a declared source.
pub fn parse_triggers(value: toml::Value, sources: &Sources, declared: &Declarations) -> Result<Vec<Trigger>, String> {
    let toml::Value::Array(entries) = value else {
        return Err("events: must be a list of triggers, e.g. `events = [{ queue = \"orders\" }]`".into());
    };
    let mut triggers = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let at = |m: String| format!("events[{i}]: {m}");
        let raw: RawTrigger = entry.try_into().map_err(|e: toml::de::Error| at(message(&e)))?;
        let trigger = parse_trigger(raw, sources, declared).map_err(at)?;
        if let Trigger::Schedule { name, .. } = &trigger
            && triggers.iter().any(|t| matches!(t, Trigger::Schedule { name: n, .. } if n == name))
        {
            return Err(at(format!("a schedule named `{name}` is already declared by this plugin")));
        }
        triggers.push(trigger);
    }
    Ok(triggers)
}

fn parse_trigger(raw: RawTrigger, sources: &Sources, declared: &Declarations) -> Result<Trigger, String> {
    let kinds = [
        ("schedule", raw.schedule.is_some()),
        ("object", raw.object.is_some()),
        ("queue", raw.queue.is_some()),
        ("topic", raw.topic.is_some()),
        ("changes", raw.changes.is_some()),
        ("bus", raw.bus.is_some()),
    ];
    let named: Vec<&str> = kinds.iter().filter(|(_, set)| *set).map(|(kind, _)| *kind).collect();
    let [kind] = named[..] else {
        return Err(if named.is_empty() {
            format!("needs one of {TRIGGER_KINDS}")
        } else {
            format!("names {} sources (`{}`): give exactly one", named.len(), named.join("`, `"))
        });
    };
    let allowed: &[&str] = match kind {
        "schedule" => &["name"],
        "object" => &["on", "prefix", "suffix"],
        "queue" => &["batch"],
        "changes" => &["prefix"],
        "bus" => &["pattern"],
        _ => &[],
    };
    let extras = [
        ("name", raw.name.is_some()),
        ("on", raw.on.is_some()),
        ("prefix", raw.prefix.is_some()),
        ("suffix", raw.suffix.is_some()),
        ("batch", raw.batch.is_some()),
        ("pattern", raw.pattern.is_some()),
    ];
    if let Some((field, _)) = extras.iter().find(|(field, set)| *set && !allowed.contains(field)) {
        return Err(format!("`{field}` does not apply to a {kind} trigger"));
    }
    let undeclared = |section: &str, noun: &str, label: &str| {
        format!("no {noun} `{label}` is declared (declare it with `[{section}.{label}]`)")
    };
    // `object` / `changes`: a label of the capability emitting those events.
    let emitted_by = |label: &str| -> Result<(), String> {
        let emitter = crate::capability::emitting(kind).ok_or_else(|| format!("no capability emits {kind} events"))?;
        if declared.get(emitter.name).is_some_and(|labels| labels.contains_key(label)) {
            Ok(())
        } else {
            Err(undeclared(emitter.name, emitter.noun, label))
        }
    };
    Ok(match kind {
        "schedule" => {
            let name = raw.name.ok_or("a schedule needs a `name` (what the plugin sees, e.g. \"sweep\")")?;
            check_label(&name).map_err(|m| format!("name: {m}"))?;
            let schedule =
                Schedule::parse(raw.schedule.as_deref().unwrap_or_default()).map_err(|m| format!("schedule: {m}"))?;
            Trigger::Schedule { name, schedule }
        }
        "object" => {
            let container = raw.object.unwrap_or_default();
            emitted_by(&container)?;
            let on = raw.on.unwrap_or_else(|| vec!["created".into(), "removed".into()]);
            if on.is_empty() {
                return Err("on: name `created`, `removed` or both".into());
            }
            if let Some(unknown) = on.iter().find(|c| *c != "created" && *c != "removed") {
                return Err(format!("on: unknown change `{unknown}` (use `created` or `removed`)"));
            }
            let prefix = raw.prefix.unwrap_or_default();
            let suffix = raw.suffix.unwrap_or_default();
            check_affix(&prefix, "prefix")?;
            check_affix(&suffix, "suffix")?;
            Trigger::Object {
                container,
                created: on.iter().any(|c| c == "created"),
                removed: on.iter().any(|c| c == "removed"),
                prefix,
                suffix,
            }
        }
        "queue" => {
            let queue = raw.queue.unwrap_or_default();
            if !sources.queues.contains_key(&queue) {
                return Err(undeclared("queue", "queue", &queue));
            }
            let batch = raw.batch.unwrap_or(10);
            if !(1..=10).contains(&batch) {
                return Err(format!("batch {batch} is outside 1..=10"));
            }
            Trigger::Queue { queue, batch }
        }
        "topic" => {
            let topic = raw.topic.unwrap_or_default();
            if !sources.topics.contains(&topic) {
                return Err(undeclared("topic", "topic", &topic));
            }
            Trigger::Topic { topic }
        }
        "changes" => {
            let store = raw.changes.unwrap_or_default();
            emitted_by(&store)?;
            let prefix = raw.prefix.unwrap_or_default();
            check_affix(&prefix, "prefix")?;
            Trigger::Changes { store, prefix }
        }
        _ => {
            let bus = raw.bus.unwrap_or_default();
            if !sources.buses.contains(&bus) {
                return Err(undeclared("bus", "bus", &bus));
            }
            let pattern = raw.pattern.ok_or("a bus trigger needs a `pattern`, e.g. `{ source = [\"shop\"] }`")?;
            let pattern = serde_json::to_value(pattern).map_err(|e| format!("pattern: {e}"))?;
            Trigger::Bus { bus, pattern: Pattern::parse(pattern).map_err(|m| format!("pattern: {m}"))? }
        }
    })
}

/// Object and change events carry a container's keys and a store's values: a plugin
/// receives them only for labels it is granted (read is enough), like reading them.
pub fn check_granted(triggers: &[Trigger], grants: &GrantedAccess) -> Result<(), String> {
    for (i, trigger) in triggers.iter().enumerate() {
        let Some((word, label)) = trigger.emitted() else { continue };
        let Some(capability) = crate::capability::emitting(word).map(|kind| kind.name) else { continue };
        if !grants.get(capability).is_some_and(|labels| labels.contains_key(label)) {
            return Err(format!(
                "events[{i}]: {trigger} events reveal what `{label}` holds: grant the plugin `{label}` \
                 (e.g. `{capability} = {{ {label} = \"read\" }}`)"
            ));
        }
    }
    Ok(())
}

/// Two plugins consuming one queue would each get some of its messages: refuse it.
pub fn check_one_consumer_per_queue<'a>(
    plugins: impl IntoIterator<Item = (&'a PluginId, &'a [Trigger])>,
) -> Result<(), String> {
    let mut consumers: BTreeMap<&str, &PluginId> = BTreeMap::new();
    for (plugin, triggers) in plugins {
        for trigger in triggers {
            let Trigger::Queue { queue, .. } = trigger else { continue };
            if let Some(other) = consumers.insert(queue, plugin)
                && other != plugin
            {
                return Err(format!(
                    "plugins `{other}` and `{plugin}` both consume queue `{queue}`: a queue has one consumer \
                     (publish to a topic to fan out)"
                ));
            }
        }
    }
    Ok(())
}

fn check_affix(text: &str, field: &str) -> Result<(), String> {
    if text.len() > 1024 || text.chars().any(char::is_control) {
        return Err(format!("{field}: at most 1024 bytes, no control characters"));
    }
    Ok(())
}

/// Labels and schedule names follow the plugin id rules (they appear in logs, rule names).
fn check_label(label: &str) -> Result<(), String> {
    PluginId::parse(label)
        .map(drop)
        .map_err(|_| format!("invalid name `{label}`: use 1-63 lower-case letters, digits, `-` or `_`"))
}

fn message(e: &toml::de::Error) -> String {
    e.message().trim().to_owned()
}
