//! Everything a plugin can reach, one folder per capability, and [`Capabilities`]: this
//! process's instance of each.
//!
//! Capabilities every plugin has:
//! - `config/` — the plugin's own manifest values (+ secrets);
//! - `log/`    — structured log lines, and the plugin's stdout/stderr turned into them;
//! - `trace/`  — spans of the plugin's own, in the request's trace;
//! - `invocation/` — the running invocation's deadline (what an idempotency claim expires with);
//! - `wasi.rs` — the WASI sandbox that lets ordinary Rust `std` link, with nothing in it;
//! - `outbound/` — outgoing HTTP (`wasi:http`), where the manifest's
//!   `allowed_outbound_hosts` allow, fenced off the host's own network.
//!
//! Capabilities plugins reach by label, as the manifest grants — each folder owns its
//! manifest section, storage-map binding, backends, limits, host functions and linker
//! registration, and is listed once in the `labelled!` list below (which makes [`LABELLED`]):
//! - `kv/`    — key-value stores (`sqlite.rs`, `dynamo.rs`);
//! - `blob/`  — object containers (`fs.rs`, `s3.rs`);
//! - `queue/` — queues plugins send messages to (`local.rs`, `sqs.rs`);
//! - `topic/` — topics plugins publish notifications on (`local.rs`, `sns.rs`);
//! - `bus/`   — event buses plugins put events on (`local.rs`, `eventbridge.rs`).
//!
//! What labelled capabilities share, written once:
//! - `labelled.rs`  — [`Kind`] and [`Backends`]: how
//!   the manifest, storage map, loader and linker see a capability;
//! - `grants.rs`    — placement of labels on backends, grant tables, the request's view;
//! - `error.rs`     — the errors guests receive as WIT values (or a trap);
//! - `io_budget.rs` — the bytes one request may move through host calls;
//! - `request_context.rs` — what one plugin call's host calls need of their request
//!   (storage deadline, metrics, open spans), as one value; every backend call goes
//!   through its `host_call`: cut off at the deadline, counted, traced;
//! - `paging.rs`    — the page and cursor rules every listing call shares;
//! - `message.rs`   — the body and attribute rules queues and topics share;
//! - `message_store/` — the embedded queues, outbox and dead letters (SQLite) behind the
//!   embedded queue, topic and bus backends, and what `serve`'s event sources deliver from;
//! - `clock.rs`     — "now", as every backend reads it;
//! - `storage_pool.rs` — the threads embedded storage blocks on, apart from tokio's shared pool;
//! - `sqlite_file.rs` — every embedded backend's SQLite file opened one way, and its schema migrations;
//! - `state.rs`     — [`State`]: the per-request store data, every capability's part;
//! - `event.rs`     — [`Event`](event::Event): the one event model every source produces and
//!   `App::deliver` takes; the WIT event a plugin receives is built from it.

pub mod blob;
pub mod bus;
pub mod clock;
pub mod config;
pub mod error;
pub mod event;
pub mod event_log;
pub mod grants;
pub mod invocation;
pub mod io_budget;
pub mod kv;
pub mod labelled;
pub mod log;
pub mod message;
pub mod message_store;
pub mod outbound;
pub mod paging;
pub mod queue;
pub mod request_context;
pub mod sqlite_file;
pub mod state;
pub mod storage_pool;
pub mod topic;
pub mod trace;
pub mod wasi;

use crate::capability::state::State;
use config::secrets::SecretSource;
use grants::GrantSlot;
use labelled::{Backends, Bindings, Declarations, Env, GrantedAccess, Kind};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Linker;

/// The registration list's expansion: [`LABELLED`], and a plugin's grants as one typed
/// field per capability ([`GrantSlots`], with each `Granted` type's [`GrantSlot`]).
macro_rules! labelled {
    ($($name:ident: $granted:ty => $kind:expr),* $(,)?) => {
        /// Every capability plugins reach by label, in registration order.
        pub const LABELLED: &[&Kind] = &[$(&$kind),*];

        /// One plugin's grants of every labelled capability: a field each.
        #[derive(Default)]
        pub struct GrantSlots {
            $($name: Option<$granted>,)*
        }

        $(impl GrantSlot for $granted {
            fn slot(grants: &mut GrantSlots) -> &mut Option<Self> {
                &mut grants.$name
            }
            fn get(grants: &GrantSlots) -> Option<&Self> {
                grants.$name.as_ref()
            }
        })*
    };
}

// Every capability plugins reach by label: its grants' type and its `KIND`. Adding one is
// a line here (see the README, "Adding a capability").
labelled! {
    kv: kv::KvGranted => kv::KIND,
    blob: blob::BlobGranted => blob::KIND,
    queue: queue::QueueGranted => queue::KIND,
    topic: topic::TopicGranted => topic::KIND,
    bus: bus::BusGranted => bus::KIND,
}

/// One plugin's grants of every labelled capability, shared by all its requests (one
/// `Arc`, cloned into each request's `State`).
#[derive(Clone, Default)]
pub struct PluginGrants(Arc<GrantSlots>);

impl std::ops::Deref for PluginGrants {
    type Target = GrantSlots;
    fn deref(&self) -> &GrantSlots {
        &self.0
    }
}

/// What the manifest knows of each labelled capability, for `Manifest::parse`.
pub fn sections() -> Vec<labelled::Section> {
    LABELLED.iter().map(|kind| kind.section()).collect()
}

/// The labelled capability called `name` (a manifest section, a storage-map section).
pub fn labelled(name: &str) -> Option<&'static Kind> {
    LABELLED.iter().copied().find(|kind| kind.name == name)
}

/// The labelled capability whose events arrive in Lambda records from `event_source`.
pub fn emitting_records(event_source: &str) -> Option<&'static Kind> {
    LABELLED.iter().copied().find(|kind| kind.events.is_some_and(|events| events.aws_records == event_source))
}

/// The names of the labelled capabilities, for messages: `kv, blob`.
pub fn labelled_names() -> String {
    LABELLED.iter().map(|kind| kind.name).collect::<Vec<_>>().join(", ")
}

/// This process's capabilities: each labelled capability's backends, and where secrets
/// come from. Created once at startup, shared by every routing table.
#[derive(Clone)]
pub struct Capabilities {
    /// In [`LABELLED`] order.
    backends: Arc<[(&'static Kind, Arc<dyn Backends>)]>,
    /// Where `{ secret = "name" }` config values come from.
    secrets: Arc<SecretSource>,
    /// The AWS configuration, when the storage map binds anything.
    aws: Option<aws_config::SdkConfig>,
    /// The embedded queues and outbox (`serve`'s event sources use the same).
    local_events: crate::capability::message_store::sqlite::SharedLocalEvents,
    /// Refuse manifests declaring a label without a binding (in Lambda, embedded storage
    /// would sit in the instance's /tmp and vanish with it).
    require_bindings: bool,
}

/// The operator's storage map (`--storage` / `PLUGHOST_STORAGE`): per capability, where
/// each label lives. Labels it does not mention stay embedded. A TOML file, or the same map
/// inline as JSON (`{"kv": {"users": {"dynamodb": {...}}}}`), which is how Terraform sets
/// it in Lambda. Each capability's `storage_map.rs` says what its section holds.
type StorageMap = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

impl Capabilities {
    /// Every capability on embedded backends under `data_dir` (what `plughost serve` uses
    /// by default). URLs they hand out start with `public_url` (where this host is reachable).
    pub fn embedded(data_dir: &Path, public_url: &str) -> anyhow::Result<Self> {
        Self::open_with(data_dir, public_url, StorageMap::new(), "", None)
    }

    /// Embedded backends under `data_dir`, except the labels `storage_map` (a file path,
    /// or the map inline as JSON) binds elsewhere; AWS clients are configured from the
    /// environment.
    pub async fn open(data_dir: &Path, public_url: &str, storage_map: Option<&str>) -> anyhow::Result<Self> {
        let Some(arg) = storage_map else { return Self::embedded(data_dir, public_url) };
        let (map, origin) = read_storage_map(arg).await?;
        let binds_anything = map.values().any(|labels| !labels.is_empty());
        let aws = if binds_anything { Some(crate::platform::aws::config_from_env().await) } else { None };
        Self::open_with(data_dir, public_url, map, &origin, aws.as_ref())
    }

    /// As [`Self::open`], with the AWS configuration given instead of read from the
    /// environment (tests against a local AWS-compatible server).
    pub async fn open_with_aws(
        data_dir: &Path,
        public_url: &str,
        storage_map: &str,
        aws: &aws_config::SdkConfig,
    ) -> anyhow::Result<Self> {
        let (map, origin) = read_storage_map(storage_map).await?;
        Self::open_with(data_dir, public_url, map, &origin, Some(aws))
    }

    fn open_with(
        data_dir: &Path,
        public_url: &str,
        mut map: StorageMap,
        origin: &str,
        aws: Option<&aws_config::SdkConfig>,
    ) -> anyhow::Result<Self> {
        if let Some(unknown) = map.keys().find(|name| labelled(name).is_none()) {
            anyhow::bail!("{origin}: unknown section `{unknown}` (the storage map binds {})", labelled_names());
        }
        let local_events = crate::capability::message_store::sqlite::SharedLocalEvents::new(data_dir);
        let env = Env { data_dir, public_url, aws, local_events: local_events.clone() };
        let mut backends = Vec::with_capacity(LABELLED.len());
        for kind in LABELLED {
            let by_label = map.remove(kind.name).unwrap_or_default();
            let bindings = Bindings { origin: origin.to_owned(), capability: kind.name, by_label };
            backends.push((*kind, (kind.open)(&env, &bindings)?));
        }
        Ok(Self {
            backends: backends.into(),
            aws: aws.cloned(),
            local_events,
            secrets: Arc::new(SecretSource::None),
            require_bindings: false,
        })
    }

    /// Every label a manifest declares must then be bound by the storage map.
    pub fn requiring_bindings(mut self) -> Self {
        self.require_bindings = true;
        self
    }

    /// Resolves secret config values from `source` (by default there is none, and a
    /// manifest that references a secret fails to load).
    pub fn with_secrets(mut self, source: SecretSource) -> Self {
        self.secrets = Arc::new(source);
        self
    }

    pub fn secrets(&self) -> &SecretSource {
        &self.secrets
    }

    /// The embedded queues and outbox, opened on first use (`serve`'s event sources and the
    /// embedded queue, topic and bus backends share them).
    pub fn local_events(&self) -> &crate::capability::message_store::sqlite::SharedLocalEvents {
        &self.local_events
    }

    /// The AWS configuration the storage map's bindings use (none when it binds nothing).
    pub fn aws(&self) -> Option<&aws_config::SdkConfig> {
        self.aws.as_ref()
    }

    /// Checks that every label a manifest declares has a binding, when required.
    pub fn check_bindings(&self, declared: &Declarations) -> Result<(), String> {
        if !self.require_bindings {
            return Ok(());
        }
        for (kind, backends) in self.backends.iter() {
            let mut labels = declared.get(kind.name).into_iter().flat_map(BTreeMap::keys);
            if let Some(label) = labels.find(|label| !backends.is_bound(label)) {
                return Err(format!(
                    "[{}.{label}] has no binding in the storage map (PLUGHOST_STORAGE): here it would live in \
                     this instance's /tmp and be lost; bind it to {}",
                    kind.name, kind.bound_to
                ));
            }
        }
        Ok(())
    }

    /// One plugin's grants (`granted`, of labels the manifest `declared`), each bound to
    /// its backend and namespace: the operator's binding, or the embedded backend with the
    /// label as namespace.
    pub fn grants(&self, declared: &Declarations, granted: &GrantedAccess) -> Result<PluginGrants, String> {
        let none_declared = BTreeMap::new();
        let none_granted = BTreeMap::new();
        let mut grants = GrantSlots::default();
        for (kind, backends) in self.backends.iter() {
            let declared = declared.get(kind.name).unwrap_or(&none_declared);
            let granted = granted.get(kind.name).unwrap_or(&none_granted);
            backends.grant(declared, granted, &mut grants).map_err(|m| format!("{}: {m}", kind.name))?;
        }
        Ok(PluginGrants(Arc::new(grants)))
    }

    /// Where the labels of capability `name` that the operator bound live (bucket, table,
    /// queue or topic ARN, bus name, and namespace): how an AWS event finds its label.
    pub fn addresses(&self, name: &str) -> &[grants::Address] {
        self.backends.iter().find(|(kind, _)| kind.name == name).map_or(&[], |(_, backends)| backends.addresses())
    }

    /// Each event-emitting capability's embedded event feed, with the trigger keyword
    /// that subscribes to it (`object`, `changes`).
    pub fn event_feeds(&self) -> Vec<(&'static str, Arc<dyn labelled::EventFeed>)> {
        self.backends
            .iter()
            .filter_map(|(kind, backends)| Some((kind.events?.trigger, backends.event_feed()?)))
            .collect()
    }

    /// The routes `plughost serve` answers for capabilities (presigned URLs of embedded
    /// storage), merged.
    pub fn local_routes(&self) -> axum::Router {
        self.backends
            .iter()
            .filter_map(|(_, backends)| backends.local_routes())
            .fold(axum::Router::new(), axum::Router::merge)
    }
}

/// Reads `--storage`: the map inline as JSON (starts with `{`), or a TOML file's path.
/// Returns the map and where it came from (for messages).
async fn read_storage_map(arg: &str) -> anyhow::Result<(StorageMap, String)> {
    if arg.trim_start().starts_with('{') {
        let origin = "PLUGHOST_STORAGE".to_owned();
        let map = serde_json::from_str(arg).map_err(|e| anyhow::anyhow!("{origin} (inline JSON storage map): {e}"))?;
        return Ok((map, origin));
    }
    let path = Path::new(arg).to_path_buf();
    let origin = path.display().to_string();
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| anyhow::anyhow!("{origin}: cannot read storage file: {e}"))?;
    let map: StorageMap = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{origin}: {}", e.message().trim()))?;
    Ok((map, origin))
}

/// Adds every capability to the process's linker. Called once, by `runtime/engine.rs`.
pub fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    wasi::add_to_linker(linker)?;
    outbound::add_to_linker(linker)?;
    config::add_to_linker(linker, |state| &state.config)?;
    log::add_to_linker(linker, |state| &state.log)?;
    trace::add_to_linker(linker, |state| &state.trace)?;
    invocation::add_to_linker(linker, |state| &state.invocation)?;
    for kind in LABELLED {
        (kind.add_to_linker)(linker)?;
    }
    Ok(())
}
