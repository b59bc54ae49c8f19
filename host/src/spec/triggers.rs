//! The manifest's event sections: the sources triggers read from (the `queue`, `topic` and
//! `bus` capabilities' declarations, as [`Sources`]) and each plugin's `events = [...]`
//! triggers. Data only, checked here; `manifest.rs`
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

use crate::spec::id::PluginId;
use crate::spec::pattern::Pattern;
use crate::spec::queues::QueueSpec;
use crate::spec::schedule::Schedule;
use crate::spec::section::{Declarations, GrantedAccess, Section, emitting};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Every queue, topic and bus the manifest declares (their `[queue.*]`, `[topic.*]` and
/// `[bus.*]` sections belong to those capabilities; this is the view triggers need).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    pub queues: BTreeMap<String, QueueSpec>,
    pub topics: BTreeSet<String>,
    pub buses: BTreeSet<String>,
}

impl Sources {
    /// The sources among the manifest's `declared` labels; a queue's `topics` must name
    /// declared topics.
    pub fn from_declared(declared: &Declarations) -> Result<Self, String> {
        let labels = |section: &str| declared.get(section).into_iter().flat_map(BTreeMap::iter);
        let topics: BTreeSet<String> = labels("topic").map(|(label, _)| label.clone()).collect();
        let buses = labels("bus").map(|(label, _)| label.clone()).collect();
        let mut queues = BTreeMap::new();
        for (label, table) in labels("queue") {
            let spec = QueueSpec::parse(table).map_err(|m| format!("[queue.{label}]: {m}"))?;
            if let Some(topic) = spec.topics.iter().find(|topic| !topics.contains(*topic)) {
                return Err(format!(
                    "[queue.{label}]: topics: no topic `{topic}` is declared (declare it with `[topic.{topic}]`)"
                ));
            }
            queues.insert(label.clone(), spec);
        }
        Ok(Self { queues, topics, buses })
    }

    /// The queues subscribed to `topic` (declared with `topics = ["<topic>"]`).
    pub fn subscribers_of<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.queues
            .iter()
            .filter(move |(_, spec)| spec.topics.iter().any(|t| t == topic))
            .map(|(label, _)| label.as_str())
    }
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

/// The trigger kinds, each named by its key: in a manifest's `events = [...]`, and in what
/// `POST /_plughost/events` fires (`serve/sources/fire.rs`). One table for both: find the
/// key that is present ([`kind_named`]), then read that kind's own fields.
pub const KINDS: [&str; 6] = ["schedule", "object", "queue", "topic", "changes", "bus"];

/// The one kind among `keys` (a table's or a JSON object's); the error says what is
/// missing, too many, or unknown.
pub fn kind_named<'k>(keys: impl IntoIterator<Item = &'k str>) -> Result<&'static str, String> {
    let keys: Vec<&str> = keys.into_iter().collect();
    let named: Vec<&'static str> = KINDS.iter().copied().filter(|kind| keys.contains(kind)).collect();
    match named[..] {
        [kind] => Ok(kind),
        [] => {
            let kinds = KINDS.map(|kind| format!("`{kind}`")).join(", ");
            Err(match keys.first() {
                Some(key) => format!("unknown field `{key}` (name one of {kinds})"),
                None => format!("needs one of {kinds}"),
            })
        }
        _ => Err(format!("names {} sources (`{}`): give exactly one", named.len(), named.join("`, `"))),
    }
}

/// `value` as the fields of one `kind` (a `deny_unknown_fields` struct); an unknown field
/// is named as one that does not apply to this kind.
pub fn fields_of<T: serde::de::DeserializeOwned, V: serde::de::IntoDeserializer<'static, E>, E>(
    value: V,
    kind: &str,
    noun: &str,
) -> Result<T, String>
where
    E: serde::de::Error + fmt::Display,
{
    T::deserialize(value.into_deserializer()).map_err(|e: E| {
        let message = e.to_string();
        match message.trim().strip_prefix("unknown field `").and_then(|rest| rest.split_once('`')) {
            Some((field, _)) => format!("`{field}` does not apply to a {kind} {noun}"),
            None => message.trim().to_owned(),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFields {
    schedule: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectFields {
    object: String,
    on: Option<Vec<String>>,
    prefix: Option<String>,
    suffix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFields {
    queue: String,
    batch: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFields {
    topic: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesFields {
    changes: String,
    prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BusFields {
    bus: String,
    pattern: Option<toml::Value>,
}

/// A plugin's `events = [...]`, each naming a declared source.
pub fn parse_triggers(
    value: toml::Value,
    sources: &Sources,
    declared: &Declarations,
    sections: &[Section],
) -> Result<Vec<Trigger>, String> {
    let toml::Value::Array(entries) = value else {
        return Err("events: must be a list of triggers, e.g. `events = [{ queue = \"orders\" }]`".into());
    };
    let mut triggers = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let at = |m: String| format!("events[{i}]: {m}");
        let toml::Value::Table(entry) = entry else {
            return Err(at("must be a table, e.g. `{ queue = \"orders\" }`".into()));
        };
        let trigger = parse_trigger(entry, sources, declared, sections).map_err(at)?;
        if let Trigger::Schedule { name, .. } = &trigger
            && triggers.iter().any(|t| matches!(t, Trigger::Schedule { name: n, .. } if n == name))
        {
            return Err(at(format!("a schedule named `{name}` is already declared by this plugin")));
        }
        triggers.push(trigger);
    }
    Ok(triggers)
}

fn parse_trigger(
    entry: toml::Table,
    sources: &Sources,
    declared: &Declarations,
    sections: &[Section],
) -> Result<Trigger, String> {
    let kind = kind_named(entry.keys().map(String::as_str))?;
    let entry = toml::Value::Table(entry);
    let undeclared = |section: &str, noun: &str, label: &str| {
        format!("no {noun} `{label}` is declared (declare it with `[{section}.{label}]`)")
    };
    // `object` / `changes`: a label of the capability emitting those events.
    let emitted_by = |label: &str| -> Result<(), String> {
        let emitter = emitting(sections, kind).ok_or_else(|| format!("no capability emits {kind} events"))?;
        if declared.get(emitter.name).is_some_and(|labels| labels.contains_key(label)) {
            Ok(())
        } else {
            Err(undeclared(emitter.name, emitter.noun, label))
        }
    };
    Ok(match kind {
        "schedule" => {
            let fields: ScheduleFields = fields_of(entry, kind, "trigger")?;
            let name = fields.name.ok_or("a schedule needs a `name` (what the plugin sees, e.g. \"sweep\")")?;
            check_label(&name).map_err(|m| format!("name: {m}"))?;
            let schedule = Schedule::parse(&fields.schedule).map_err(|m| format!("schedule: {m}"))?;
            Trigger::Schedule { name, schedule }
        }
        "object" => {
            let fields: ObjectFields = fields_of(entry, kind, "trigger")?;
            emitted_by(&fields.object)?;
            let on = fields.on.unwrap_or_else(|| vec!["created".into(), "removed".into()]);
            if on.is_empty() {
                return Err("on: name `created`, `removed` or both".into());
            }
            if let Some(unknown) = on.iter().find(|c| *c != "created" && *c != "removed") {
                return Err(format!("on: unknown change `{unknown}` (use `created` or `removed`)"));
            }
            let prefix = fields.prefix.unwrap_or_default();
            let suffix = fields.suffix.unwrap_or_default();
            check_affix(&prefix, "prefix")?;
            check_affix(&suffix, "suffix")?;
            Trigger::Object {
                container: fields.object,
                created: on.iter().any(|c| c == "created"),
                removed: on.iter().any(|c| c == "removed"),
                prefix,
                suffix,
            }
        }
        "queue" => {
            let QueueFields { queue, batch } = fields_of(entry, kind, "trigger")?;
            if !sources.queues.contains_key(&queue) {
                return Err(undeclared("queue", "queue", &queue));
            }
            let batch = batch.unwrap_or(10);
            if !(1..=10).contains(&batch) {
                return Err(format!("batch {batch} is outside 1..=10"));
            }
            Trigger::Queue { queue, batch }
        }
        "topic" => {
            let TopicFields { topic } = fields_of(entry, kind, "trigger")?;
            if !sources.topics.contains(&topic) {
                return Err(undeclared("topic", "topic", &topic));
            }
            Trigger::Topic { topic }
        }
        "changes" => {
            let ChangesFields { changes: store, prefix } = fields_of(entry, kind, "trigger")?;
            emitted_by(&store)?;
            let prefix = prefix.unwrap_or_default();
            check_affix(&prefix, "prefix")?;
            Trigger::Changes { store, prefix }
        }
        _ => {
            let BusFields { bus, pattern } = fields_of(entry, kind, "trigger")?;
            if !sources.buses.contains(&bus) {
                return Err(undeclared("bus", "bus", &bus));
            }
            let pattern = pattern.ok_or("a bus trigger needs a `pattern`, e.g. `{ source = [\"shop\"] }`")?;
            let pattern = serde_json::to_value(pattern).map_err(|e| format!("pattern: {e}"))?;
            Trigger::Bus { bus, pattern: Pattern::parse(pattern).map_err(|m| format!("pattern: {m}"))? }
        }
    })
}

/// Object and change events carry a container's keys and a store's values: a plugin
/// receives them only for labels it is granted (read is enough), like reading them.
pub fn check_granted(triggers: &[Trigger], grants: &GrantedAccess, sections: &[Section]) -> Result<(), String> {
    for (i, trigger) in triggers.iter().enumerate() {
        let Some((word, label)) = trigger.emitted() else { continue };
        let Some(capability) = emitting(sections, word).map(|section| section.name) else { continue };
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
