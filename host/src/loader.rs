//! Turns a [`Manifest`] into a [`RoutingTable`]: reads each plugin's component (a file,
//! or bytes fetched from the deployment by digest, which are verified against it), checks
//! it is a component of the `plugin` world, compiles it (or reuses the compilation of
//! identical bytes), prepares it for instantiation and builds the router.
//!
//! Every failure names the manifest, the plugin, and what is wrong with which file. The
//! loader never publishes anything: `registry.rs` does, and only a complete table.
//!
//! With lazy compilation (`--compile lazy`), a component that is not in the artifact
//! cache is not compiled here: its digest and header are checked, and compiling, the world
//! check and the grant check happen on its first request ([`Prepared::Lazy`]). That
//! shortens a cold start to what the first request needs, at a price: a component that
//! then fails to compile answers 503 instead of keeping the previous version serving
//! (`plughost push`/`deploy` compile and check every component before uploading it, so
//! only a component no operator command checked can get there).

use crate::capability::Storage;
use crate::capability::config::secrets::{self, Secrets};
use crate::engine::{PluginEngine, PreparedPlugin};
use crate::manifest::{ComponentRef, Digest, Manifest, PluginSpec};
use crate::registry::{LoadedPlugin, RoutingTable};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::Component;

/// Compiles plugins, remembering compiled components by content digest so a reload only
/// compiles what changed.
pub struct Loader {
    engine: Arc<PluginEngine>,
    storage: Storage,
    compiled: Mutex<HashMap<String, Component>>,
}

/// Component bytes of a deployed manifest, fetched (async) before the table is built.
pub type Fetched = HashMap<Digest, Vec<u8>>;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{manifest}: plugin `{plugin}`: {message}")]
pub struct LoadError {
    pub manifest: String,
    pub plugin: String,
    pub message: String,
}

impl Loader {
    pub fn new(engine: Arc<PluginEngine>, storage: Storage) -> Self {
        Self { engine, storage, compiled: Mutex::new(HashMap::new()) }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn engine(&self) -> &Arc<PluginEngine> {
        &self.engine
    }

    /// Whether the component with this digest is compiled already (its bytes need not
    /// be fetched again).
    pub fn has_compiled(&self, digest: &Digest) -> bool {
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).contains_key(digest.hex())
    }

    /// Loads every plugin of `manifest` and builds the table. `fetched` holds the bytes
    /// of digest-named components not compiled yet. CPU-heavy (compilation): call it from
    /// a blocking context.
    pub fn build_table(
        &self,
        manifest: &Manifest,
        secrets: &Secrets,
        fetched: &Fetched,
        generation: u64,
    ) -> anyhow::Result<RoutingTable> {
        self.storage.check_bindings(manifest).map_err(|m| anyhow::anyhow!("{}: {m}", manifest.path.display()))?;
        let mut plugins = Vec::with_capacity(manifest.plugins.len());
        for spec in &manifest.plugins {
            plugins.push(self.load_plugin(manifest, spec, secrets, fetched)?);
        }
        let table = RoutingTable::build(manifest.clone(), plugins, generation)
            .map_err(|e| anyhow::anyhow!("{}: {e}", manifest.path.display()))?;
        // Forget compilations no plugin uses any more.
        let live: Vec<&str> = table.plugins().iter().map(|p| p.digest.as_str()).collect();
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).retain(|digest, _| live.contains(&digest.as_str()));
        Ok(table)
    }

    fn load_plugin(
        &self,
        manifest: &Manifest,
        spec: &PluginSpec,
        secrets: &Secrets,
        fetched: &Fetched,
    ) -> Result<LoadedPlugin, LoadError> {
        let fail = |message: String| LoadError {
            manifest: manifest.path.display().to_string(),
            plugin: spec.id.to_string(),
            message,
        };
        let source = &spec.source;
        let (digest, bytes) = match source {
            ComponentRef::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        fail(format!("source `{source}`: file not found (build the plugin first: `make plugins`)"))
                    } else {
                        fail(format!("source `{source}`: cannot read: {e}"))
                    }
                })?;
                (Digest::of(&bytes), Some(bytes))
            }
            ComponentRef::Digest(digest) => (digest.clone(), fetched.get(digest).cloned()),
        };
        let digest = digest.hex().to_owned();

        let cached = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&digest).cloned();
        if cached.is_none()
            && self.engine.compiles_lazily()
            && let Some(bytes) = &bytes
            && !self.engine.artifact_cache().is_some_and(|c| c.has_valid(self.engine.engine(), &digest))
        {
            check_bytes(source, bytes).map_err(fail)?;
            let lazy = LazyComponent {
                engine: self.engine.clone(),
                spec: spec.clone(),
                digest: digest.clone(),
                bytes: bytes.clone(),
                prepared: tokio::sync::OnceCell::new(),
            };
            let config = secrets::resolve(spec, secrets).map_err(fail)?;
            let prepared = Prepared::Lazy(Arc::new(lazy));
            return Ok(LoadedPlugin::new(
                spec,
                digest,
                prepared,
                self.storage.grants(manifest, spec),
                config,
                self.concurrency(spec),
            ));
        }
        let component = match cached {
            Some(component) => component,
            // Not downloaded because the artifact cache has it (`source.rs` checked).
            None if bytes.is_none() => {
                let component = self.engine.load_cached(&digest).ok_or_else(|| {
                    fail(format!("component `{source}` was neither fetched nor in the precompiled cache"))
                })?;
                tracing::info!(plugin = %spec.id, digest = &digest[..12], "component loaded from the precompiled cache");
                self.compiled.lock().unwrap_or_else(|p| p.into_inner()).insert(digest.clone(), component.clone());
                component
            }
            None => {
                let bytes = bytes.ok_or_else(|| fail(format!("component `{source}` was not fetched")))?;
                check_bytes(source, &bytes).map_err(fail)?;
                let started = std::time::Instant::now();
                let (component, from) = self
                    .engine
                    .compile(&digest, &bytes)
                    .map_err(|e| fail(format!("source `{source}`: invalid component: {e:#}")))?;
                let how = match from {
                    crate::artifact_cache::Source::Cache => "loaded from the precompiled cache",
                    crate::artifact_cache::Source::Compiled => "compiled",
                };
                tracing::info!(plugin = %spec.id, digest = &digest[..12], millis = started.elapsed().as_millis() as u64, "component {how}");
                self.compiled.lock().unwrap_or_else(|p| p.into_inner()).insert(digest.clone(), component.clone());
                component
            }
        };
        check_imports_are_granted(&self.engine, &component, spec)
            .map_err(|m| fail(format!("source `{source}`: {m}")))?;
        let pre = self
            .engine
            .prepare(&component)
            .map_err(|e| fail(format!("source `{source}`: does not fit the `plughost:plugin/plugin` world: {e:#}")))?;
        let config = secrets::resolve(spec, secrets).map_err(fail)?;
        Ok(LoadedPlugin::new(
            spec,
            digest,
            Prepared::Ready(pre),
            self.storage.grants(manifest, spec),
            config,
            self.concurrency(spec),
        ))
    }

    /// The plugin's concurrency cap: its manifest's, or the host's default share.
    fn concurrency(&self, spec: &PluginSpec) -> u32 {
        let slots = self.engine.settings().max_instances;
        spec.limits.max_concurrency.unwrap_or_else(|| crate::admission::default_max_concurrency(slots)).min(slots)
    }
}

/// The checks on a component's bytes before compiling (now or lazily): a deployed
/// component is trusted by its digest only once its bytes hash to it, and any component
/// must at least look like one.
fn check_bytes(source: &ComponentRef, bytes: &[u8]) -> Result<(), String> {
    if let ComponentRef::Digest(expected) = source {
        let actual = Digest::of(bytes);
        if &actual != expected {
            return Err(format!("component `{source}` is corrupt: its {} bytes hash to {actual}", bytes.len()));
        }
    }
    check_component_header(bytes).map_err(|m| format!("source `{source}`: {m}"))
}

/// A plugin's component, ready to instantiate, or compiled on its first request.
pub enum Prepared {
    Ready(PreparedPlugin),
    Lazy(Arc<LazyComponent>),
}

/// A checked (digest, header) component waiting for its first request to compile.
pub struct LazyComponent {
    engine: Arc<PluginEngine>,
    spec: PluginSpec,
    digest: String,
    bytes: Vec<u8>,
    prepared: tokio::sync::OnceCell<Result<PreparedPlugin, String>>,
}

impl Prepared {
    /// The prepared component; a lazy one is compiled (once, off the async workers) by
    /// the first request that needs it, and concurrent requests wait for that compile.
    /// The error says why it cannot run (logged once, when compiling fails).
    pub async fn get(&self) -> Result<&PreparedPlugin, &str> {
        let lazy = match self {
            Self::Ready(pre) => return Ok(pre),
            Self::Lazy(lazy) => lazy,
        };
        let prepared = lazy
            .prepared
            .get_or_init(|| {
                let lazy = lazy.clone();
                async move {
                    tokio::task::spawn_blocking(move || lazy.compile())
                        .await
                        .unwrap_or_else(|e| Err(format!("compiling was interrupted: {e}")))
                }
            })
            .await;
        prepared.as_ref().map_err(String::as_str)
    }
}

impl LazyComponent {
    fn compile(&self) -> Result<PreparedPlugin, String> {
        let started = std::time::Instant::now();
        let result =
            self.engine.compile(&self.digest, &self.bytes).map_err(|e| format!("invalid component: {e:#}")).and_then(
                |(component, _)| {
                    check_imports_are_granted(&self.engine, &component, &self.spec)?;
                    self.engine
                        .prepare(&component)
                        .map_err(|e| format!("does not fit the `plughost:plugin/plugin` world: {e:#}"))
                },
            );
        match &result {
            Ok(_) => tracing::info!(
                plugin = %self.spec.id,
                digest = &self.digest[..12],
                millis = started.elapsed().as_millis() as u64,
                "component compiled on its first request"
            ),
            Err(error) => {
                tracing::error!(plugin = %self.spec.id, digest = &self.digest[..12], "component cannot run: {error}");
                crate::metrics::count(crate::metrics::PLUGIN_UNAVAILABLE);
            }
        }
        result
    }
}

/// Checks that `bytes` are a component of the `plughost:plugin/plugin` world this engine
/// can run, whose storage imports `spec` grants: what `plughost push` and `deploy` verify
/// before uploading anything.
pub fn check_component(engine: &PluginEngine, bytes: &[u8], spec: &PluginSpec) -> Result<(), String> {
    check_component_header(bytes)?;
    let (component, _) =
        engine.compile(Digest::of(bytes).hex(), bytes).map_err(|e| format!("invalid component: {e:#}"))?;
    check_imports_are_granted(engine, &component, spec)?;
    engine.prepare(&component).map_err(|e| format!("does not fit the `plughost:plugin/plugin` world: {e:#}"))?;
    Ok(())
}

/// A component that imports a storage interface but is granted nothing of it could only
/// fail at run time, on a request: refuse it at load time instead, saying what to grant.
/// (Components import only what they use: unused imports are dropped when they are built.)
fn check_imports_are_granted(engine: &PluginEngine, component: &Component, spec: &PluginSpec) -> Result<(), String> {
    for (name, _) in component.component_type().imports(engine.engine()) {
        let (kind, granted) = if name.starts_with("plughost:plugin/kv@") {
            ("kv store", !spec.kv.is_empty())
        } else if name.starts_with("plughost:plugin/blob@") {
            ("blob container", !spec.blob.is_empty())
        } else {
            continue;
        };
        if !granted {
            let field = if kind == "kv store" { "kv" } else { "blob" };
            return Err(format!(
                "the component imports `{name}` but the manifest grants it no {kind} \
                 (add e.g. `{field} = {{ <label> = \"read\" }}` to the plugin)"
            ));
        }
    }
    Ok(())
}

/// Distinguishes "not wasm at all" and "a core module" from a component before
/// compiling, because wasmtime's messages for those are hard to act on.
fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(format!("not a WebAssembly file ({} bytes, no `\\0asm` header)", bytes.len()));
    }
    // Bytes 6..8 are the layer: 0 for a core module, 1 for a component.
    if bytes[6..8] == [0, 0] {
        return Err("a core WebAssembly module, not a component: build it for wasm32-wasip2 \
                    (or with `cargo component`) against the plughost SDK"
            .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_component_header;

    #[test]
    fn header_check_names_what_the_file_is() {
        assert!(check_component_header(b"hello world").unwrap_err().contains("not a WebAssembly file"));
        assert!(check_component_header(b"\0asm\x01\0\0\0").unwrap_err().contains("core WebAssembly module"));
        assert!(check_component_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
