//! The live routing table: every loaded plugin plus a method-aware router over their
//! routes, published atomically.
//!
//! A [`RoutingTable`] is immutable once built. A reload builds a whole new table and
//! [`Registry::publish`]es it; requests already running hold an `Arc` to the old table and
//! finish on it. Nothing on the request path takes a lock. A table that fails to build is
//! never published, so a bad manifest or plugin never takes working routes offline.
//!
//! `matchit` is used only here.

use crate::runtime::plugin::LoadedPlugin;
use crate::spec::manifest::Manifest;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

/// Plugins that serve one path pattern, by method.
struct PathRoutes {
    pattern: String,
    by_method: Vec<(http::Method, usize)>,
    any_method: Option<usize>,
}

/// An immutable snapshot: the router and the plugins it points at.
pub struct RoutingTable {
    /// The manifest this table was built from.
    pub manifest: Manifest,
    router: matchit::Router<usize>,
    paths: Vec<PathRoutes>,
    plugins: Vec<Arc<LoadedPlugin>>,
    /// Increases with each published table (1 for the first).
    pub generation: u64,
    pub loaded_at: SystemTime,
}

/// The outcome of routing one request.
pub enum Lookup<'t> {
    Found(RouteMatch<'t>),
    /// The path exists, but not for this method; the methods that are allowed.
    MethodNotAllowed(Vec<http::Method>),
    NotFound,
    /// A route matched, but a parameter decodes to something no plugin should receive
    /// (invalid UTF-8, control characters such as `%00`); the reason names the parameter.
    InvalidParam(String),
}

pub struct RouteMatch<'t> {
    pub plugin: &'t Arc<LoadedPlugin>,
    /// The manifest pattern that matched, e.g. `/users/{id}`.
    pub route: &'t str,
    /// Percent-decoded parameter values: valid UTF-8 without control characters.
    pub params: Vec<(String, String)>,
}

/// Two routes that cannot coexist, or a pattern the router rejects.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RouteError(String);

impl RoutingTable {
    /// Builds the router over `plugins`. Errors name both conflicting plugins and routes.
    pub fn build(manifest: Manifest, plugins: Vec<LoadedPlugin>, generation: u64) -> Result<Self, RouteError> {
        let plugins: Vec<Arc<LoadedPlugin>> = plugins.into_iter().map(Arc::new).collect();
        let mut router = matchit::Router::new();
        let mut paths: Vec<PathRoutes> = Vec::new();
        let mut path_index: HashMap<String, usize> = HashMap::new();

        for (plugin_index, plugin) in plugins.iter().enumerate() {
            for route in &plugin.routes {
                let path_slot = match path_index.get(&route.path) {
                    Some(&slot) => slot,
                    None => {
                        let slot = paths.len();
                        router.insert(route.path.clone(), slot).map_err(|e| {
                            let detail = match &e {
                                matchit::InsertError::Conflict { with } => {
                                    let owner = path_index
                                        .get(with)
                                        .map(|&s| describe_owners(&paths[s], &plugins))
                                        .unwrap_or_default();
                                    format!("conflicts with `{with}`{owner}")
                                }
                                other => other.to_string().to_lowercase(),
                            };
                            RouteError(format!("plugin `{}`: route `{route}`: {detail}", plugin.id))
                        })?;
                        path_index.insert(route.path.clone(), slot);
                        paths.push(PathRoutes { pattern: route.path.clone(), by_method: Vec::new(), any_method: None });
                        slot
                    }
                };
                let entry = &mut paths[path_slot];
                let taken_by = match &route.method {
                    Some(method) => {
                        let existing = entry.by_method.iter().find(|(m, _)| m == method).map(|(_, p)| *p);
                        if existing.is_none() {
                            entry.by_method.push((method.clone(), plugin_index));
                        }
                        existing
                    }
                    None => {
                        let existing = entry.any_method;
                        entry.any_method.get_or_insert(plugin_index);
                        existing
                    }
                };
                if let Some(other) = taken_by {
                    return Err(RouteError(format!(
                        "plugin `{}`: route `{route}` is already served by plugin `{}`",
                        plugin.id, plugins[other].id
                    )));
                }
            }
        }
        Ok(Self { manifest, router, paths, plugins, generation, loaded_at: SystemTime::now() })
    }

    /// Routes `method path` (path still percent-encoded, without query).
    pub fn lookup(&self, method: &http::Method, path: &str) -> Lookup<'_> {
        let Ok(matched) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let entry = &self.paths[*matched.value];
        let plugin_index = entry.by_method.iter().find(|(m, _)| m == method).map(|(_, p)| *p).or(entry.any_method);
        let Some(plugin_index) = plugin_index else {
            return Lookup::MethodNotAllowed(entry.by_method.iter().map(|(m, _)| m.clone()).collect());
        };
        let mut params = Vec::with_capacity(matched.params.len());
        for (name, raw) in matched.params.iter() {
            match decode_param(raw) {
                Ok(value) => params.push((name.to_owned(), value)),
                Err(why) => return Lookup::InvalidParam(format!("path parameter `{name}` {why}")),
            }
        }
        Lookup::Found(RouteMatch { plugin: &self.plugins[plugin_index], route: &entry.pattern, params })
    }

    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    /// Whether `other` serves exactly the same manifest and component bytes.
    pub fn same_content_as(&self, other: &RoutingTable) -> bool {
        self.manifest == other.manifest
            && self.plugins.len() == other.plugins.len()
            && self.plugins.iter().zip(&other.plugins).all(|(a, b)| a.digest == b.digest && a.config == b.config)
    }
}

/// Percent-decodes one path parameter, refusing what would reach a plugin as a surprise:
/// bytes that are not UTF-8 (`%FF`) and control characters (`%00`, `%0A`), which have no
/// business in a path and break logs, keys and headers downstream.
fn decode_param(raw: &str) -> Result<String, &'static str> {
    let value = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| "is not valid UTF-8")?;
    if value.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(value.into_owned())
}

fn describe_owners(entry: &PathRoutes, plugins: &[Arc<LoadedPlugin>]) -> String {
    let mut owners: Vec<&str> = entry.by_method.iter().map(|(_, p)| plugins[*p].id.as_str()).collect();
    owners.extend(entry.any_method.map(|p| plugins[p].id.as_str()));
    owners.dedup();
    if owners.is_empty() { String::new() } else { format!(" of plugin `{}`", owners.join("`, `")) }
}

/// The published table. Cheap to read from any number of requests at once.
pub struct Registry {
    current: ArcSwap<RoutingTable>,
}

impl Registry {
    pub fn new(table: RoutingTable) -> Self {
        Self { current: ArcSwap::from_pointee(table) }
    }

    /// The table to serve one request with; hold it for the whole request.
    pub fn current(&self) -> Arc<RoutingTable> {
        self.current.load_full()
    }

    /// Makes `table` the one new requests see. Requests in flight keep theirs.
    pub fn publish(&self, table: RoutingTable) {
        self.current.store(Arc::new(table));
    }
}
