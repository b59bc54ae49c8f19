//! The manifest (`plughost.toml`): which plugins exist, where their components are, which
//! routes they serve, their config values and limits.
//!
//! This module only parses and validates *data*: it never touches wasm. Every error names
//! the file, the plugin and the field, so an operator can fix it without reading code.
//! Compiling the components named here is `runtime/loader.rs`'s job.
//!
//! ```toml
//! [limits]                      # defaults for every plugin (all optional)
//! max_memory = "64 MiB"
//! timeout = "5s"
//! max_response = "6 MiB"
//! max_concurrency = 8           # requests of one plugin at once (default: a quarter of the host's slots)
//! max_host_io = "64 MiB"        # bytes through storage calls per request
//! max_outbound_requests = 16    # outgoing HTTP requests per request
//! max_outbound_response = "8 MiB"  # body bytes of one outgoing response
//!
//! [<capability>.<label>]        # a label plugins may be granted (a store, a container, a
//!                               # queue, topic or bus), with its settings
//!                               # (`capability/<name>/declaration.rs`)
//!
//! [plugins.hello]
//! source = "target/wasm32-wasip2/plugin/hello.wasm"   # relative to this file
//! # or, in a deployed manifest (S3): digest = "sha256:<hex>" (see `runtime/deployment/`)
//! routes = ["GET /hello", "GET /hello/{name}", "/any-method/{*rest}"]
//! events = [{ schedule = "rate(5 minutes)", name = "sweep" }]   # triggers (`spec/triggers.rs`)
//! config = { greeting = "Hello", api_key = { secret = "hello/api-key" } }
//! limits = { timeout = "1s" }
//! allowed_outbound_hosts = ["https://api.example.com"]   # outgoing HTTP (`capability/outbound/`)
//! <capability> = { <label> = "<access>" }   # grants, e.g. a store read-write
//! ```
//!
//! Capability sections and grants are generic here: the [`Section`]s handed to
//! [`Manifest::parse`] (`capability::sections()`) say which capabilities exist, and each
//! checks its own declarations — the spec names none.

use crate::spec::allow_list::AllowList;
pub use crate::spec::config_value::ConfigValue;
pub use crate::spec::id::{Digest, PluginId};
use crate::spec::section::{Declarations, GrantedAccess, Section, exact_bytes};
use crate::spec::triggers::{Sources, Trigger, check_granted, check_one_consumer_per_queue, parse_triggers};
use bytesize::ByteSize;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Routes under this prefix belong to the host itself (health), never to plugins.
pub const RESERVED_PREFIX: &str = "/_plughost";

/// A validated manifest.
/// The outbound capability's per-plugin limits (`[limits]`), with their defaults and bounds.
pub mod outbound_limits {
    /// Outbound requests one invocation may start.
    pub const DEFAULT_MAX_REQUESTS: u32 = 16;
    pub const MAX_REQUESTS: u32 = 1000;
    /// Bytes of one outbound response's body a plugin may read.
    pub const DEFAULT_MAX_RESPONSE: u64 = 8 * 1024 * 1024;
    pub const MAX_RESPONSE: u64 = 1024 * 1024 * 1024;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it was read from (for error messages and live reload).
    pub path: PathBuf,
    /// Declared labels per capability (`[<capability>.<label>]`): capability -> label -> the
    /// declaration's fields, checked by the capability. Grants may name only these.
    pub declared: Declarations,
    /// Declared queues, topics and buses (event sources).
    pub sources: Sources,
    /// Plugins sorted by id.
    pub plugins: Vec<PluginSpec>,
    /// Earlier component digests per plugin, newest first: written by `plughost push`
    /// and read by `plughost rollback`; the host ignores it.
    pub history: BTreeMap<String, Vec<Digest>>,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentRef {
    /// A file (local manifests), resolved against the manifest's directory.
    File(PathBuf),
    /// Content-addressed in the deployment's bucket (deployed manifests).
    Digest(Digest),
}

impl fmt::Display for ComponentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Digest(digest) => write!(f, "{digest}"),
        }
    }
}

/// One plugin, as the manifest declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub id: PluginId,
    /// The component: a file, or a digest in the deployment's bucket.
    pub source: ComponentRef,
    pub routes: Vec<RouteSpec>,
    /// The events it receives (`events = [...]`).
    pub triggers: Vec<Trigger>,
    /// Values the plugin reads through the `config` import, by key. Secrets are resolved
    /// by the host when the plugin loads (`capability/config/secrets.rs`).
    pub config: BTreeMap<String, ConfigValue>,
    pub limits: Limits,
    /// Labels this plugin may open, per capability: capability -> label -> access (one
    /// of the capability's `accesses`).
    pub grants: GrantedAccess,
    /// Where its outgoing HTTP requests may go (`allowed_outbound_hosts`; empty: nowhere).
    pub outbound: Arc<AllowList>,
}

/// `METHOD /path/{param}` or `/path` (any method).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `None` matches every method.
    pub method: Option<http::Method>,
    /// A matchit pattern: `{name}` for one segment, `{*name}` for the rest of the path.
    pub path: String,
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.method {
            Some(method) => write!(f, "{method} {}", self.path),
            None => write!(f, "* {}", self.path),
        }
    }
}

/// Per-request limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a single instance may grow to.
    pub max_memory: u64,
    /// Wall-clock time from instantiation to response; past it the client gets a 504.
    pub timeout: Duration,
    /// Largest response body the plugin may return.
    pub max_response: u64,
    /// Requests of this plugin that may run at once; beyond it they queue, then get 503
    /// (`runtime/admission.rs`). `None`: the host's default share.
    pub max_concurrency: Option<u32>,
    /// Bytes one request may move through labelled capabilities' calls (values and bodies,
    /// both directions); past it those calls fail with `limit-exceeded`.
    pub max_host_io: u64,
    /// Outgoing HTTP requests one request may start; past it they are denied.
    pub max_outbound_requests: u32,
    /// Body bytes of one outgoing response; past it reading fails.
    pub max_outbound_response: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_memory: 64 * 1024 * 1024,
            timeout: Duration::from_secs(5),
            max_response: 6 * 1024 * 1024,
            max_concurrency: None,
            max_host_io: 64 * 1024 * 1024,
            max_outbound_requests: outbound_limits::DEFAULT_MAX_REQUESTS,
            max_outbound_response: outbound_limits::DEFAULT_MAX_RESPONSE,
        }
    }
}

/// The most `max_host_io` may be set to.
const MAX_HOST_IO: u64 = 1024 * 1024 * 1024;

/// Bounds the host puts on every manifest's limits.
#[derive(Debug, Clone, Copy)]
pub struct LimitBounds {
    /// The engine's per-instance memory ceiling (its pooling allocator's slot size).
    pub max_memory: u64,
    pub max_timeout: Duration,
    pub max_response: u64,
    /// The host's instance slots: no plugin may ask for more.
    pub max_concurrency: u32,
}

impl Default for LimitBounds {
    fn default() -> Self {
        Self {
            max_memory: 256 * 1024 * 1024,
            max_timeout: Duration::from_secs(15 * 60),
            max_response: 64 * 1024 * 1024,
            max_concurrency: 128,
        }
    }
}

/// A manifest problem, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ManifestError {
    pub file: String,
    pub message: String,
}

// ---- raw TOML shape -------------------------------------------------------------

/// The manifest's own sections; every other top-level table is a capability's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    plugins: BTreeMap<String, toml::Table>,
    #[serde(default)]
    history: BTreeMap<String, Vec<String>>,
}

const MANIFEST_SECTIONS: [&str; 3] = ["limits", "plugins", "history"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    source: Option<PathBuf>,
    digest: Option<String>,
    #[serde(default)]
    routes: Vec<String>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_memory: Option<ByteSize>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    max_response: Option<ByteSize>,
    max_concurrency: Option<u32>,
    max_host_io: Option<ByteSize>,
    max_outbound_requests: Option<u32>,
    max_outbound_response: Option<ByteSize>,
}

impl Manifest {
    /// Each plugin's `config`, for fetching the secrets they reference.
    pub fn configs(&self) -> Vec<(&PluginId, &BTreeMap<String, ConfigValue>)> {
        self.plugins.iter().map(|plugin| (&plugin.id, &plugin.config)).collect()
    }

    /// Reads and validates the manifest at `path`. Does not check that sources exist:
    /// that is part of loading them.
    pub fn load(path: &Path, bounds: &LimitBounds, sections: &[Section]) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            file: path.display().to_string(),
            message: format!("cannot read manifest: {e}"),
        })?;
        Self::parse(path, &text, bounds, sections)
    }

    /// Validates manifest `text` as if read from `path` (relative sources resolve against
    /// its directory). `sections`: the labelled capabilities (`capability::sections()`).
    pub fn parse(path: &Path, text: &str, bounds: &LimitBounds, sections: &[Section]) -> Result<Self, ManifestError> {
        let file = path.display().to_string();
        let err = |message: String| ManifestError { file: file.clone(), message };

        let mut table: toml::Table = toml::from_str(text).map_err(|e| err(toml_error(&e)))?;
        // Capability sections first; what is left must be the manifest's own.
        let declared = take_declarations(&mut table, sections).map_err(&err)?;
        let sources = Sources::from_declared(&declared).map_err(&err)?;
        let raw: RawManifest =
            toml::Value::Table(table).try_into().map_err(|e| err(field_error(&e, &MANIFEST_SECTIONS, sections)))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let defaults = Limits::default().overridden_by(&raw.limits);
        defaults.check(bounds).map_err(|m| err(format!("[limits]: {m}")))?;

        if raw.plugins.is_empty() {
            return Err(err("no plugins: add a `[plugins.<id>]` table".into()));
        }
        let mut plugins = Vec::with_capacity(raw.plugins.len());
        for (id, mut plugin) in raw.plugins {
            let at = |m: String| err(format!("plugin `{id}`: {m}"));
            let plugin_id = PluginId::parse(&id).map_err(&err)?;
            let grants = take_grants(&mut plugin, &declared, sections).map_err(at)?;
            let outbound = match plugin.remove("allowed_outbound_hosts") {
                Some(hosts) => AllowList::parse(&hosts).map_err(|m| {
                    // Entry errors start with their index: `allowed_outbound_hosts[1]: ...`.
                    let separator = if m.starts_with('[') { "" } else { ": " };
                    at(format!("allowed_outbound_hosts{separator}{m}"))
                })?,
                None => AllowList::default(),
            };
            let triggers = match plugin.remove("events") {
                Some(events) => parse_triggers(events, &sources, &declared, sections).map_err(at)?,
                None => Vec::new(),
            };
            check_granted(&triggers, &grants, sections).map_err(at)?;
            let plugin: RawPlugin = toml::Value::Table(plugin).try_into().map_err(|e| {
                at(field_error(
                    &e,
                    &["source", "digest", "routes", "events", "config", "limits", "allowed_outbound_hosts"],
                    sections,
                ))
            })?;
            let source = match (plugin.source, plugin.digest) {
                (Some(path), None) if !path.as_os_str().is_empty() => ComponentRef::File(base.join(path)),
                (Some(_), None) => return Err(at("source: must name a .wasm component file".into())),
                (None, Some(digest)) => {
                    ComponentRef::Digest(Digest::parse(&digest).map_err(|m| at(format!("digest: {m}")))?)
                }
                (None, None) => {
                    return Err(at("needs `source` (a .wasm file) or, in a deployed manifest, `digest`".into()));
                }
                (Some(_), Some(_)) => return Err(at("give `source` or `digest`, not both".into())),
            };
            if plugin.routes.is_empty() && triggers.is_empty() {
                return Err(at("needs `routes` (HTTP), `events` (triggers) or both".into()));
            }
            let routes = plugin
                .routes
                .iter()
                .enumerate()
                .map(|(i, r)| RouteSpec::parse(r).map_err(|m| at(format!("routes[{i}] `{r}`: {m}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let config = plugin
                .config
                .into_iter()
                .map(|(k, v)| {
                    ConfigValue::parse(&v).map(|v| (k.clone(), v)).map_err(|m| at(format!("config.{k}: {m}")))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            let limits = defaults.overridden_by(&plugin.limits);
            limits.check(bounds).map_err(|m| at(format!("limits: {m}")))?;
            let outbound = Arc::new(outbound);
            plugins.push(PluginSpec { id: plugin_id, source, routes, triggers, config, limits, grants, outbound });
        }
        check_one_consumer_per_queue(plugins.iter().map(|p| (&p.id, p.triggers.as_slice()))).map_err(&err)?;
        let mut history = BTreeMap::new();
        for (id, digests) in raw.history {
            let digests = digests
                .iter()
                .map(|d| Digest::parse(d))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| err(format!("history.{id}: {m}")))?;
            history.insert(id, digests);
        }
        Ok(Self { path: path.to_path_buf(), declared, sources, plugins, history })
    }
}

/// Takes every capability section (`[<capability>.<label>]`) out of the manifest's top-level
/// `table`, each declaration checked by its capability.
fn take_declarations(table: &mut toml::Table, sections: &[Section]) -> Result<Declarations, String> {
    let mut declared = BTreeMap::new();
    for kind in sections {
        let Some(section) = table.remove(kind.name) else { continue };
        let toml::Value::Table(section) = section else {
            return Err(format!("[{0}]: must hold labels, e.g. `[{0}.<label>]`", kind.name));
        };
        let mut labels = BTreeMap::new();
        for (label, declaration) in section {
            let at = |m: String| format!("[{}.{label}]: {m}", kind.name);
            check_label(&label, kind.noun).map_err(at)?;
            let toml::Value::Table(declaration) = declaration else {
                return Err(at(format!("must be a table (its quotas, or empty): `[{}.{label}]`", kind.name)));
            };
            (kind.check_declaration)(&declaration).map_err(at)?;
            labels.insert(label, declaration);
        }
        declared.insert(kind.name, labels);
    }
    Ok(declared)
}

/// Takes a plugin's grants (`<capability> = { <label> = "<access>" }`) out of its `table`: each names a
/// declared label and an access its capability knows.
fn take_grants(
    table: &mut toml::Table,
    declared: &Declarations,
    sections: &[Section],
) -> Result<GrantedAccess, String> {
    let mut grants = BTreeMap::new();
    for kind in sections {
        let Some(value) = table.remove(kind.name) else { continue };
        let example = format!("`{} = {{ <label> = \"{}\" }}`", kind.name, kind.accesses[0]);
        let toml::Value::Table(value) = value else {
            return Err(format!("{}: must map labels to access, e.g. {example}", kind.name));
        };
        let mut labels = BTreeMap::new();
        for (label, access) in value {
            let at = |m: String| format!("{}.{label}: {m}", kind.name);
            let access = access.as_str().ok_or_else(|| at(format!("must be a string, e.g. {example}")))?;
            let access = kind.access(access).map_err(at)?;
            if !declared.get(kind.name).is_some_and(|labels| labels.contains_key(&label)) {
                return Err(at(format!(
                    "no {} `{label}` is declared (declare it with `[{}.{label}]`)",
                    kind.noun, kind.name
                )));
            }
            labels.insert(label, access);
        }
        grants.insert(kind.name, labels);
    }
    Ok(grants)
}

/// Labels follow the plugin id rules: they appear in logs and key namespaces.
fn check_label(label: &str, noun: &str) -> Result<(), String> {
    PluginId::parse(label)
        .map(|_| ())
        .map_err(|_| format!("invalid {noun} label `{label}`: use 1-63 lower-case letters, digits, `-` or `_`"))
}

/// A field error of a table the manifest parses itself; an unknown field also lists the
/// capabilities (their sections and grants are fields too).
fn field_error(e: &toml::de::Error, fields: &[&str], sections: &[Section]) -> String {
    let message = e.message().trim();
    if message.starts_with("unknown field") {
        let unknown = message.split('`').nth(1).unwrap_or("?");
        return format!(
            "unknown field `{unknown}` (expected {} or a capability: {})",
            fields.join(", "),
            sections.iter().map(|section| section.name).collect::<Vec<_>>().join(", ")
        );
    }
    message.to_owned()
}

impl RouteSpec {
    /// Parses `"GET /users/{id}"` or `"/users/{id}"`.
    pub fn parse(route: &str) -> Result<Self, String> {
        let route = route.trim();
        let (method, path) = match route.split_once(char::is_whitespace) {
            Some((method, path)) => (Some(parse_method(method)?), path.trim()),
            None => (None, route),
        };
        if !path.starts_with('/') {
            return Err("the path must start with `/`".into());
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#') {
            return Err("the path must not contain spaces, control characters, `?` or `#`".into());
        }
        if path == RESERVED_PREFIX || path.starts_with(&format!("{RESERVED_PREFIX}/")) {
            return Err(format!("paths under `{RESERVED_PREFIX}` are reserved for the host"));
        }
        Ok(Self { method, path: path.to_owned() })
    }
}

fn parse_method(method: &str) -> Result<http::Method, String> {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    if KNOWN.contains(&method) {
        return http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string());
    }
    Err(format!("unknown method `{method}` (use one of {}, or leave it out for any method)", KNOWN.join(", ")))
}

impl Limits {
    fn overridden_by(self, raw: &RawLimits) -> Self {
        Self {
            max_memory: raw.max_memory.map_or(self.max_memory, |b| b.as_u64()),
            timeout: raw.timeout.unwrap_or(self.timeout),
            max_response: raw.max_response.map_or(self.max_response, |b| b.as_u64()),
            max_concurrency: raw.max_concurrency.or(self.max_concurrency),
            max_host_io: raw.max_host_io.map_or(self.max_host_io, |b| b.as_u64()),
            max_outbound_requests: raw.max_outbound_requests.unwrap_or(self.max_outbound_requests),
            max_outbound_response: raw.max_outbound_response.map_or(self.max_outbound_response, |b| b.as_u64()),
        }
    }

    fn check(&self, bounds: &LimitBounds) -> Result<(), String> {
        const MIN_MEMORY: u64 = 1024 * 1024;
        if self.max_memory < MIN_MEMORY || self.max_memory > bounds.max_memory {
            return Err(format!(
                "max_memory {} is outside 1 MiB..={} (the host's per-instance ceiling, within its memory budget)",
                exact_bytes(self.max_memory),
                exact_bytes(bounds.max_memory)
            ));
        }
        if self.timeout.is_zero() || self.timeout > bounds.max_timeout {
            return Err(format!(
                "timeout {} is outside (0, {}]",
                humantime::format_duration(self.timeout),
                humantime::format_duration(bounds.max_timeout)
            ));
        }
        if self.max_response == 0 || self.max_response > bounds.max_response {
            return Err(format!(
                "max_response {} is outside (0, {}]",
                exact_bytes(self.max_response),
                exact_bytes(bounds.max_response)
            ));
        }
        if self.max_host_io == 0 || self.max_host_io > MAX_HOST_IO {
            return Err(format!(
                "max_host_io {} is outside (0, {}]",
                exact_bytes(self.max_host_io),
                exact_bytes(MAX_HOST_IO)
            ));
        }
        if self.max_outbound_requests > outbound_limits::MAX_REQUESTS {
            return Err(format!(
                "max_outbound_requests {} is over {}",
                self.max_outbound_requests,
                outbound_limits::MAX_REQUESTS
            ));
        }
        if self.max_outbound_response == 0 || self.max_outbound_response > outbound_limits::MAX_RESPONSE {
            return Err(format!(
                "max_outbound_response {} is outside (0, {}]",
                exact_bytes(self.max_outbound_response),
                exact_bytes(outbound_limits::MAX_RESPONSE)
            ));
        }
        if let Some(concurrency) = self.max_concurrency
            && (concurrency == 0 || concurrency > bounds.max_concurrency)
        {
            return Err(format!(
                "max_concurrency {concurrency} is outside 1..={} (the host's instance slots)",
                bounds.max_concurrency
            ));
        }
        Ok(())
    }
}

/// toml's errors carry a line/column and a snippet; keep them on one readable line.
fn toml_error(e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => format!("invalid TOML at byte {}..{}: {message}", span.start, span.end),
        None => format!("invalid TOML: {message}"),
    }
}

/// `text` parsed as `/srv/plughost.toml` under the default bounds: for unit tests here
/// and in the capabilities' folders (their manifest sections).
#[cfg(test)]
pub(crate) fn parse_for_tests(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(Path::new("/srv/plughost.toml"), text, &LimitBounds::default(), &crate::capability::sections())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        parse_for_tests(text)
    }

    #[test]
    fn parses_plugins_routes_config_and_limits() {
        let m = parse(
            r#"
            [limits]
            timeout = "2s"
            [plugins.hello]
            source = "hello.wasm"
            routes = ["GET /hello/{name}", "/any"]
            config = { greeting = "Hi", retries = 3, loud = true }
            limits = { max_memory = "16 MiB" }
            "#,
        )
        .unwrap();
        let p = &m.plugins[0];
        assert_eq!(p.id.as_str(), "hello");
        assert_eq!(p.source, ComponentRef::File("/srv/hello.wasm".into()));
        assert_eq!(p.routes[0], RouteSpec { method: Some(http::Method::GET), path: "/hello/{name}".into() });
        assert_eq!(p.routes[1].method, None);
        assert_eq!(p.config.get("retries"), Some(&ConfigValue::Plain("3".into())));
        assert_eq!(p.config.get("loud"), Some(&ConfigValue::Plain("true".into())));
        assert_eq!(p.limits.max_memory, 16 * 1024 * 1024);
        assert_eq!(p.limits.timeout, Duration::from_secs(2));
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let e = parse("[plugins.hello]\nsource = \"h.wasm\"\nroutes = [\"/h\"]\nrootes = []\n").unwrap_err();
        assert_eq!(e.file, "/srv/plughost.toml");
        assert!(e.message.contains("rootes"), "{e}");
    }

    #[test]
    fn bad_method_names_plugin_and_route_index() {
        let e = parse("[plugins.hello]\nsource = \"h.wasm\"\nroutes = [\"/ok\", \"FETCH /h\"]\n").unwrap_err();
        assert!(e.message.contains("plugin `hello`: routes[1] `FETCH /h`: unknown method `FETCH`"), "{e}");
    }

    #[test]
    fn outbound_hosts_and_limits_are_read_and_bad_entries_named() {
        let m = parse(
            "[limits]\nmax_outbound_requests = 3\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n\
             allowed_outbound_hosts = [\"https://api.example.com\"]\nlimits = { max_outbound_response = \"1 MiB\" }\n",
        )
        .unwrap();
        let plugin = &m.plugins[0];
        assert!(!plugin.outbound.is_empty());
        assert_eq!((plugin.limits.max_outbound_requests, plugin.limits.max_outbound_response), (3, 1024 * 1024));
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nallowed_outbound_hosts = [\"*\"]\n")
            .unwrap_err();
        assert!(e.message.contains("plugin `a`: allowed_outbound_hosts[0]: `*`: a bare `*`"), "{e}");
        let e =
            parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nlimits = { max_outbound_requests = 5000 }\n")
                .unwrap_err();
        assert!(e.message.contains("max_outbound_requests 5000 is over 1000"), "{e}");
    }

    #[test]
    fn reserved_prefix_is_refused() {
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"GET /_plughost/health\"]\n").unwrap_err();
        assert!(e.message.contains("reserved for the host"), "{e}");
    }

    #[test]
    fn limits_outside_bounds_are_refused() {
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nlimits = { max_memory = \"4 GiB\" }\n")
            .unwrap_err();
        assert!(e.message.contains("plugin `a`: limits: max_memory 4 GiB is outside"), "{e}");
        let e = parse("[limits]\ntimeout = \"0s\"\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n").unwrap_err();
        assert!(e.message.contains("[limits]: timeout"), "{e}");
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nlimits = { max_concurrency = 0 }\n")
            .unwrap_err();
        assert!(e.message.contains("plugin `a`: limits: max_concurrency 0 is outside 1..=128"), "{e}");
        let m = parse("[limits]\nmax_concurrency = 4\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n").unwrap();
        assert_eq!(m.plugins[0].limits.max_concurrency, Some(4));
    }

    #[test]
    fn invalid_ids_and_missing_routes_are_refused() {
        let e = parse("[plugins.Hello]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n").unwrap_err();
        assert!(e.message.contains("invalid plugin id `Hello`"), "{e}");
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = []\n").unwrap_err();
        assert!(e.message.contains("plugin `a`: needs `routes` (HTTP), `events` (triggers) or both"), "{e}");
    }

    #[test]
    fn deployed_plugins_name_a_digest_instead_of_a_source() {
        let hex = "ab".repeat(32);
        let m = parse(&format!(
            "[plugins.a]\ndigest = \"sha256:{hex}\"\nroutes = [\"/a\"]\n[history]\na = [\"sha256:{hex}\"]\n"
        ))
        .unwrap();
        assert_eq!(m.plugins[0].source, ComponentRef::Digest(Digest::parse(&format!("sha256:{hex}")).unwrap()));
        assert_eq!(m.history["a"].len(), 1);
        let e = parse("[plugins.a]\ndigest = \"sha256:ABC\"\nroutes = [\"/a\"]\n").unwrap_err();
        assert!(e.message.contains("plugin `a`: digest: invalid digest `sha256:ABC`"), "{e}");
        let e = parse(&format!("[plugins.a]\nsource = \"a.wasm\"\ndigest = \"sha256:{hex}\"\nroutes = [\"/a\"]\n"))
            .unwrap_err();
        assert!(e.message.contains("give `source` or `digest`, not both"), "{e}");
        let e = parse("[plugins.a]\nroutes = [\"/a\"]\n").unwrap_err();
        assert!(e.message.contains("plugin `a`: needs `source`"), "{e}");
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n[history]\na = [\"x\"]\n").unwrap_err();
        assert!(e.message.contains("history.a: invalid digest `x`"), "{e}");
    }

    #[test]
    fn malformed_toml_reports_position() {
        let e = parse("[plugins.a\nsource = 1").unwrap_err();
        assert!(e.message.starts_with("invalid TOML at byte"), "{e}");
    }

    #[test]
    fn config_values_may_reference_secrets_by_name() {
        let m = parse(
            "[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nconfig = { key = { secret = \"a/api-key\" } }\n",
        )
        .unwrap();
        assert_eq!(m.plugins[0].config.get("key"), Some(&ConfigValue::Secret("a/api-key".into())));
        let e = parse(
            "[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nconfig = { key = { secret = \"no spaces\" } }\n",
        )
        .unwrap_err();
        assert!(e.message.contains("plugin `a`: config.key: invalid secret name `no spaces`"), "{e}");
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nconfig = { key = { secrt = \"x\" } }\n")
            .unwrap_err();
        assert!(e.message.contains("config.key: must be a string, number, boolean or `{ secret"), "{e}");
    }

    const EVENTS: &str = r#"
        [kv.users]
        [blob.images]
        [queue.orders]
        max_receives = 3
        visibility_timeout = "10s"
        [topic.alerts]
        [bus.app]
        [plugins.worker]
        source = "w.wasm"
        events = [
          { schedule = "rate(5 minutes)", name = "sweep" },
          { object = "images", on = ["created"], prefix = "uploads/" },
          { queue = "orders", batch = 5 },
          { topic = "alerts" },
          { changes = "users", prefix = "user/" },
          { bus = "app", pattern = { source = ["shop"], detail = { total = [{ numeric = [">", 100] }] } } },
        ]
        kv = { users = "read" }
        blob = { images = "read" }
    "#;

    #[test]
    fn event_sources_and_triggers_parse() {
        use crate::spec::triggers::Trigger;
        let m = parse(EVENTS).unwrap();
        assert_eq!(m.sources.queues["orders"].max_receives, 3);
        assert_eq!(m.sources.queues["orders"].visibility_timeout, Duration::from_secs(10));
        assert!(m.sources.topics.contains("alerts") && m.sources.buses.contains("app"));
        let triggers = &m.plugins[0].triggers;
        assert_eq!(triggers.len(), 6);
        assert!(m.plugins[0].routes.is_empty());
        assert!(
            matches!(&triggers[0], Trigger::Schedule { name, schedule } if name == "sweep" && schedule.expression() == "rate(5 minutes)")
        );
        assert!(
            matches!(&triggers[1], Trigger::Object { created: true, removed: false, prefix, .. } if prefix == "uploads/")
        );
        assert!(matches!(&triggers[2], Trigger::Queue { batch: 5, .. }));
        assert!(
            matches!(&triggers[5], Trigger::Bus { pattern, .. } if pattern.matches(&serde_json::json!({"source": "shop", "detail": {"total": 150}})))
        );
    }

    #[test]
    fn trigger_errors_name_plugin_index_and_field() {
        let head = "[kv.users]\n[blob.images]\n[queue.orders]\n[bus.app]\n[plugins.w]\nsource = \"w.wasm\"\n";
        for (events, expected) in [
            (
                r#"[{ queue = "jobs" }]"#,
                "plugin `w`: events[0]: no queue `jobs` is declared (declare it with `[queue.jobs]`)",
            ),
            (r#"[{ object = "photos" }]"#, "events[0]: no blob container `photos` is declared"),
            (r#"[{ changes = "orders" }]"#, "events[0]: no kv store `orders` is declared"),
            (r#"[{ schedule = "rate(5 minute)", name = "s" }]"#, "events[0]: schedule: say `rate(1 minute)`"),
            (r#"[{ schedule = "cron(0 12 * * * *)", name = "s" }]"#, "one of day-of-month and day-of-week must be `?`"),
            (r#"[{ schedule = "rate(1 day)" }]"#, "a schedule needs a `name`"),
            (
                r#"[{ bus = "app", pattern = { source = "shop" } }]"#,
                "events[0]: pattern: pattern.source: must be a non-empty list",
            ),
            (r#"[{ bus = "app" }]"#, "a bus trigger needs a `pattern`"),
            (r#"[{ queue = "orders", topic = "x" }]"#, "names 2 sources"),
            (r#"[{ queue = "orders", prefix = "x" }]"#, "`prefix` does not apply to a queue trigger"),
            (r#"[{ queue = "orders", batch = 11 }]"#, "batch 11 is outside 1..=10"),
            (r#"[{ object = "images", on = ["changed"] }]"#, "on: unknown change `changed`"),
            (r#"[{ nothing = 1 }]"#, "unknown field `nothing`"),
            (
                r#"[{ schedule = "rate(1 day)", name = "a" }, { schedule = "rate(2 days)", name = "a" }]"#,
                "events[1]: a schedule named `a` is already declared",
            ),
        ] {
            let e = parse(&format!("{head}events = {events}\n")).unwrap_err();
            assert!(e.message.contains(expected), "{events}: {e}");
        }
        let e = parse(&format!("{head}events = [{{ queue = \"orders\" }}]\n[plugins.v]\nsource = \"v.wasm\"\nevents = [{{ queue = \"orders\" }}]\n")).unwrap_err();
        assert!(e.message.contains("plugins `v` and `w` both consume queue `orders`"), "{e}");
        let e = parse(&format!("{head}events = [{{ changes = \"users\" }}]\n")).unwrap_err();
        assert!(
            e.message.contains("events[0]: changes users events reveal what `users` holds: grant the plugin `users`"),
            "{e}"
        );
        let e = parse("[queue.orders]\nmax_receives = 0\n[plugins.w]\nsource = \"w.wasm\"\nroutes = [\"/w\"]\n")
            .unwrap_err();
        assert!(e.message.contains("[queue.orders]: max_receives 0 is outside 1..=1000"), "{e}");
        let e = parse("[topic.a]\nx = 1\n[plugins.w]\nsource = \"w.wasm\"\nroutes = [\"/w\"]\n").unwrap_err();
        assert!(e.message.contains("[topic.a]: unknown field `x`"), "{e}");
    }

    #[test]
    fn nested_config_values_are_refused() {
        let e = parse("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nconfig = { x = [1] }\n").unwrap_err();
        assert!(e.message.contains("config.x: must be a string"), "{e}");
    }
}
