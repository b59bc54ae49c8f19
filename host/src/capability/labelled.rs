//! What the host's generic parts know about a capability plugins reach by label (stores,
//! containers, and every such capability to come): a [`Kind`], the static description
//! each `capability/<name>/mod.rs` defines once, and [`Backends`], what its `open`
//! returns — the process's backends for it ([`PlacedBackends`] for labels placed on
//! backends by `grants.rs`'s [`Placement`]).
//!
//! The manifest (`[<name>.<label>]` declarations, `<name> = { <label> = "<access>" }`
//! grants — through [`Kind::section`], as the spec layer's `Section`), the storage map
//! (`<name>.<label>` bindings), the loader ("imported but not granted") and the linker all
//! go through these, so none of them names a capability.
//!
//! The life of a labelled capability (Spin's factors: init, configure, prepare):
//!
//! | when                    | what                                              | here                         |
//! |-------------------------|---------------------------------------------------|------------------------------|
//! | parsing a manifest      | each declaration checked                          | [`Kind::check_declaration`]  |
//! | process start           | host functions linked; backends opened and bound | [`Kind::add_to_linker`], [`Kind::open`] |
//! | a manifest version loads | each plugin's grants bound to backends           | [`Backends::grant`]          |
//! | each request            | a view over the grants, the request's resource table | `capability/grants.rs`  |

use super::GrantSlots;
use super::grants::{Address, GrantSlot, Granted, Placement};
use crate::capability::state::State;
// What the manifest knows of a capability, and its declaration helpers, are spec (below).
pub use crate::spec::section::{
    Declarations, GrantedAccess, Section, bytes_within, exact_bytes, no_settings, parse_declaration,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Linker;

/// A capability plugins reach by label. Each is a `const` in its folder's `mod.rs`,
/// listed once in `capability/mod.rs`.
pub struct Kind {
    /// The manifest's `[<name>.<label>]` sections and `<name> = { ... }` grants, and the
    /// storage map's `<name>` section; the folder's name.
    pub name: &'static str,
    /// What one label names, in messages (a noun: "… store", "… container").
    pub noun: &'static str,
    /// The WIT interface (no version) a component may import only with a grant.
    pub interface: &'static str,
    /// The grant values, weakest first: `["read", "read-write"]`.
    pub accesses: &'static [&'static str],
    /// What the operator binds a label to, for the message when Lambda finds one unbound:
    /// `a DynamoDB table`.
    pub bound_to: &'static str,
    /// Checks one declaration (the fields of `[<name>.<label>]`); the error names the field.
    pub check_declaration: fn(&toml::Table) -> Result<(), String>,
    /// Opens this process's backends: the embedded one under `env`, and the operator's
    /// bindings (the storage map's `<name>` section). Once per process.
    pub open: fn(&Env, &Bindings) -> anyhow::Result<Arc<dyn Backends>>,
    /// Registers the capability's host functions. Once per process, by `runtime/engine.rs`.
    pub add_to_linker: fn(&mut Linker<State>) -> anyhow::Result<()>,
    /// The events its labels produce (a container's object changes, a store's changes),
    /// if any: how a manifest subscribes to them and how AWS delivers them.
    pub events: Option<&'static EventSource>,
    /// The Terraform variable of `terraform/envs/*` that lists its labels (label -> the
    /// label's prefix in the shared resource), which `plughost tfvars` prints from the
    /// manifest; `None` when the capability's labels come with richer variables.
    pub terraform_labels: Option<&'static str>,
}

/// Why a record of an AWS event source did not become an event (the error says which
/// record and what).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Not the shape its source sends.
    Malformed(String),
    /// It names a bucket, prefix or table no label of this deployment is bound to.
    Unbound(String),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) | Self::Unbound(why) => f.write_str(why),
        }
    }
}

/// How a capability's labels reach plugins as events from AWS, for the manifest's
/// triggers and `lambda/records.rs`: the trigger keyword, the Lambda records that carry
/// them, and how a batch of them is delivered and answered. Every record-shaped source
/// (S3, DynamoDB Streams, SQS, SNS) is one of these, in its capability's `events.rs`.
pub struct EventSource {
    /// The trigger in `events = [...]` (`{ <trigger> = "<label>" }`): `object`, `changes`,
    /// `queue`, `topic`.
    pub trigger: &'static str,
    /// The `eventSource` of the Lambda records carrying them: `aws:s3`, `aws:dynamodb`, ...
    pub aws_records: &'static str,
    /// The AWS service, in messages: `S3`, `SQS`.
    pub service: &'static str,
    /// One such record as the event of the bound label it names (`addresses`: where the
    /// operator bound this capability's labels). `Ok(None)`: the record is not this
    /// deployment's (another namespace of a shared table); `Err`: it should be, but no label
    /// or nothing usable matches — the error says which.
    pub from_record: fn(&serde_json::Value, &[Address]) -> Result<Option<crate::capability::event::Event>, RecordError>,
    /// Whether a batch's records keep their order (a stream, a FIFO queue): delivered one
    /// at a time, and after a failed one every later one fails too. Otherwise concurrently.
    pub ordered: fn(&[serde_json::Value]) -> bool,
    /// Failures are answered per record (`batchItemFailures`, by
    /// [`EventSource::item_identifier`]; the others are done). Otherwise any failure fails
    /// the whole invocation, which Lambda retries.
    pub partial_failures: bool,
    /// A record no plugin takes fails (a queue message stays on its queue until a consumer
    /// comes, then its dead-letter queue); otherwise it is done.
    pub must_be_taken: bool,
    /// What `batchItemFailures` names a record by, and the field it is read from (a batch
    /// with a record without one is refused whole: it could not be reported).
    pub item_identifier: fn(&serde_json::Value) -> String,
    pub item_field: &'static str,
}

impl Kind {
    /// What the manifest knows of this capability: its section, label noun, grant words
    /// and the trigger of its events.
    pub fn section(&self) -> Section {
        Section {
            name: self.name,
            noun: self.noun,
            accesses: self.accesses,
            check_declaration: self.check_declaration,
            event_trigger: self.events.map(|events| events.trigger),
        }
    }

    /// The access `word` if this capability grants it.
    pub fn access(&self, word: &str) -> Result<&'static str, String> {
        self.section().access(word)
    }

    /// Whether `import` (a component's import name, `plughost:plugin/<name>@0.1.0`) is this
    /// capability's interface.
    pub fn is_imported_as(&self, import: &str) -> bool {
        import.strip_prefix(self.interface).is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
    }
}

/// Where a process's backends are opened.
pub struct Env<'a> {
    /// Embedded backends keep their files here (`--data-dir`).
    pub data_dir: &'a Path,
    /// Where this host is reachable over HTTP, for URLs the embedded backends hand out.
    pub public_url: &'a str,
    /// The AWS configuration, when the storage map binds anything (`platform/aws.rs`).
    pub aws: Option<&'a aws_config::SdkConfig>,
    /// The embedded queues and outbox (`capability/message_store/sqlite.rs`), opened on first use.
    pub local_events: crate::capability::message_store::sqlite::SharedLocalEvents,
}

/// One capability's section of the operator's storage map: label -> binding, each a JSON
/// value the capability parses (`{"dynamodb": {"table": ..., "prefix": ...}}`).
pub struct Bindings {
    /// Where the map came from (a file path, or `PLUGHOST_STORAGE`), for messages.
    pub origin: String,
    pub capability: &'static str,
    pub by_label: BTreeMap<String, serde_json::Value>,
}

impl Bindings {
    /// Each label's binding as `T` (the capability's binding struct); the error names
    /// the map, the capability and the label.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<Vec<(String, T)>> {
        self.by_label
            .iter()
            .map(|(label, value)| {
                serde_json::from_value(value.clone())
                    .map(|binding| (label.clone(), binding))
                    .map_err(|e| self.error(label, &e.to_string()))
            })
            .collect()
    }

    /// An error about `label`'s binding.
    pub fn error(&self, label: &str, message: &str) -> anyhow::Error {
        anyhow::anyhow!("{}: {}.{label}: {message}", self.origin, self.capability)
    }

    /// The AWS configuration a binding needs (there is one whenever a map binds anything).
    pub fn aws<'a>(&self, env: &Env<'a>) -> anyhow::Result<&'a aws_config::SdkConfig> {
        env.aws
            .ok_or_else(|| anyhow::anyhow!("{}: {} bindings need an AWS configuration", self.origin, self.capability))
    }
}

/// A labelled capability's backends in this process: the embedded one, and the labels
/// the operator bound elsewhere. Shared by every routing table.
pub trait Backends: Send + Sync {
    /// Whether the operator bound `label` (in Lambda every declared label must be).
    fn is_bound(&self, label: &str) -> bool;

    /// One plugin's grants (`granted`: label -> access), each bound to its backend, with
    /// the label's declaration (`declared`: label -> its manifest table; every granted
    /// label is declared), put in this capability's field of `into`. What the capability's
    /// host functions find in `State`.
    fn grant(
        &self,
        declared: &BTreeMap<String, toml::Table>,
        granted: &BTreeMap<String, &'static str>,
        into: &mut GrantSlots,
    ) -> Result<(), String>;

    /// Routes `plughost serve` answers on the capability's behalf (presigned URLs of an
    /// embedded store). None by default.
    fn local_routes(&self) -> Option<axum::Router> {
        None
    }

    /// Where each bound label lives (for events from AWS naming a bucket or table).
    fn addresses(&self) -> &[Address] {
        &[]
    }

    /// The embedded backend's event feed, if the capability emits events.
    fn event_feed(&self) -> Option<Arc<dyn EventFeed>> {
        None
    }
}

/// An embedded backend's own events (`plughost serve`): the object or change events of
/// the labels some plugin has a trigger on, recorded with each write
/// (`capability/event_log.rs`) and taken by the local event pump (`serve/sources/`).
#[async_trait::async_trait]
pub trait EventFeed: Send + Sync {
    /// Records the events of `labels` from now on, and of no other label.
    async fn watch(&self, labels: std::collections::BTreeSet<String>) -> anyhow::Result<()>;
    /// Up to `max` recorded events, oldest first, each with its sequence number.
    async fn pending(&self, max: u32) -> anyhow::Result<Vec<(i64, crate::capability::event::Event)>>;
    /// Forgets event `seq` (the pump has taken it over).
    async fn done(&self, seq: i64) -> anyhow::Result<()>;
}

/// The [`Backends`] of a capability whose grants are `grants::Granted<B, Q>`: where its
/// labels are placed, how a declaration becomes its quota, and which grant word writes.
/// What a capability's `storage_map.rs` returns from `open`.
pub struct PlacedBackends<B: ?Sized, Q> {
    pub placement: Placement<B>,
    /// A label's declaration (`[<capability>.<label>]`) -> its quota.
    pub quota: fn(&toml::Table) -> Result<Q, String>,
    /// Whether a grant word allows writing.
    pub writes: fn(&str) -> bool,
    /// Routes the local server answers for the embedded backend (see [`Backends::local_routes`]).
    pub local_routes: Option<axum::Router>,
    /// The embedded backend's events (see [`Backends::event_feed`]).
    pub event_feed: Option<Arc<dyn EventFeed>>,
}

impl<B, Q> Backends for PlacedBackends<B, Q>
where
    B: ?Sized + Send + Sync + 'static,
    Q: Clone + Send + Sync + 'static,
    Granted<B, Q>: GrantSlot,
{
    fn is_bound(&self, label: &str) -> bool {
        self.placement.is_bound(label)
    }

    fn grant(
        &self,
        declared: &BTreeMap<String, toml::Table>,
        granted: &BTreeMap<String, &'static str>,
        into: &mut GrantSlots,
    ) -> Result<(), String> {
        *Granted::<B, Q>::slot(into) = Some(self.placement.grant(declared, granted, self.quota, self.writes)?);
        Ok(())
    }

    fn local_routes(&self) -> Option<axum::Router> {
        self.local_routes.clone()
    }

    fn addresses(&self) -> &[Address] {
        self.placement.addresses()
    }

    fn event_feed(&self) -> Option<Arc<dyn EventFeed>> {
        self.event_feed.clone()
    }
}
