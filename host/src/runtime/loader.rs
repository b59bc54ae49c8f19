//! Turns a [`Manifest`] into loaded plugins (`app.rs` builds the routing table of them): reads each plugin's component (a file,
//! or bytes fetched from the deployment by digest, which are verified against it, or a
//! compilation the artifact cache already had), compiles it (or reuses the compilation of
//! identical bytes), makes it runnable (`plugin::prepare`: grants and world checked),
//! and binds its grants (`Capabilities::grants`).
//!
//! Every failure names the manifest, the plugin, and what is wrong with which file. The
//! loader never publishes anything: `routing/registry.rs` does, and only a complete table.
//!
//! With lazy compilation (`--compile lazy`), a component that is not in the artifact
//! cache is not compiled here: its digest and header are checked, and compiling, the world
//! check and the grant check happen on its first request ([`Prepared::Lazy`]). That
//! shortens a cold start to what the first request needs, at a price: a component that
//! then fails to compile answers 503 instead of keeping the previous version serving
//! (`plughost push`/`deploy` compile and check every component before uploading it, so
//! only a component no operator command checked can get there).

use crate::capability::Capabilities;
use crate::capability::config::secrets::{self, Secrets};
use crate::runtime::engine::PluginEngine;
use crate::runtime::plugin::{LazyComponent, LoadedPlugin, Prepared, prepare};
use crate::spec::manifest::{ComponentRef, Digest, Manifest, PluginSpec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::Component;

/// Compiles plugins, remembering compiled components by content digest so a reload only
/// compiles what changed.
pub struct Loader {
    engine: Arc<PluginEngine>,
    capabilities: Capabilities,
    compiled: Mutex<HashMap<Digest, Component>>,
}

/// Components of a deployed manifest, fetched (async) before the table is built.
pub type Fetched = HashMap<Digest, FetchedComponent>;

/// One fetched component.
pub enum FetchedComponent {
    /// Its bytes, downloaded from the deployment: compiled when the table is built.
    Bytes(Vec<u8>),
    /// Its compilation, from the artifact cache (local, or the deployment's shared tier).
    Compiled(Component),
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{manifest}: plugin `{plugin}`: {message}")]
pub struct LoadError {
    pub manifest: String,
    pub plugin: String,
    pub message: String,
}

impl Loader {
    pub fn new(engine: Arc<PluginEngine>, capabilities: Capabilities) -> Self {
        Self { engine, capabilities, compiled: Mutex::new(HashMap::new()) }
    }

    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    pub fn engine(&self) -> &Arc<PluginEngine> {
        &self.engine
    }

    /// Whether the component with this digest is compiled already (its bytes need not
    /// be fetched again).
    pub fn has_compiled(&self, digest: &Digest) -> bool {
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).contains_key(digest)
    }

    /// Loads every plugin of `manifest`, in manifest order (the routing table is built from
    /// them by the caller). `fetched` holds the digest-named components not compiled yet.
    /// CPU-heavy (compilation): call it from a blocking context.
    pub fn load_plugins(
        &self,
        manifest: &Manifest,
        secrets: &Secrets,
        fetched: &Fetched,
    ) -> anyhow::Result<Vec<LoadedPlugin>> {
        self.capabilities
            .check_bindings(&manifest.declared)
            .map_err(|m| anyhow::anyhow!("{}: {m}", manifest.path.display()))?;
        let mut plugins = Vec::with_capacity(manifest.plugins.len());
        for spec in &manifest.plugins {
            plugins.push(self.load_plugin(manifest, spec, secrets, fetched)?);
        }
        warn_of_short_visibility(manifest);
        Ok(plugins)
    }

    /// Forgets the compilations no plugin of the published version uses any more.
    pub fn keep_only<'a>(&self, live: impl IntoIterator<Item = &'a Arc<LoadedPlugin>>) {
        let live: Vec<&Digest> = live.into_iter().map(|p| &p.digest).collect();
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).retain(|digest, _| live.contains(&digest));
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
        // A file's bytes are read here; fetched ones are borrowed (copied only if a lazy
        // component must keep them).
        let read;
        let (digest, found) = match source {
            ComponentRef::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        fail(format!("source `{source}`: file not found (build the plugin first: `make plugins`)"))
                    } else {
                        fail(format!("source `{source}`: cannot read: {e}"))
                    }
                })?;
                let digest = Digest::of(&bytes);
                read = FetchedComponent::Bytes(bytes);
                (digest, Some(&read))
            }
            ComponentRef::Digest(digest) => (digest.clone(), fetched.get(digest)),
        };
        // The component's own problems are reported first, then its grants and config.
        let finish = |digest: Digest, prepared: Prepared| {
            let grants = self.capabilities.grants(&manifest.declared, &spec.grants).map_err(&fail)?;
            let config = secrets::resolve(&spec.config, secrets).map_err(&fail)?;
            let metrics = self.engine.metrics().plugin(spec.id.as_str());
            Ok(LoadedPlugin::new(spec, digest, prepared, grants, config, self.concurrency(spec), metrics))
        };

        let cached = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&digest).cloned();
        let component = match (cached, found) {
            (Some(component), _) => component,
            (None, Some(FetchedComponent::Compiled(component))) => {
                tracing::info!(plugin = %spec.id, digest = digest.short(), "component loaded from the precompiled cache");
                component.clone()
            }
            (None, None) => {
                return Err(fail(format!("component `{source}` was neither fetched nor in the precompiled cache")));
            }
            (None, Some(FetchedComponent::Bytes(bytes))) => {
                check_bytes(source, bytes).map_err(&fail)?;
                if self.engine.compiles_lazily() {
                    // Lazy: a compilation already cached is loaded now (reading and checking
                    // it once); anything else waits for its first request.
                    match self.engine.load_cached(&digest) {
                        Some(component) => component,
                        None => {
                            let lazy = LazyComponent {
                                engine: self.engine.clone(),
                                spec: spec.clone(),
                                digest: digest.clone(),
                                bytes: bytes.clone(),
                                prepared: tokio::sync::OnceCell::new(),
                            };
                            return finish(digest, Prepared::Lazy(Arc::new(lazy)));
                        }
                    }
                } else {
                    let started = std::time::Instant::now();
                    let (component, from) = self
                        .engine
                        .compile(&digest, bytes)
                        .map_err(|e| fail(format!("source `{source}`: invalid component: {e:#}")))?;
                    let how = match from {
                        crate::runtime::artifact_cache::LoadedFrom::Cache => "loaded from the precompiled cache",
                        crate::runtime::artifact_cache::LoadedFrom::Compiled => "compiled",
                    };
                    let took = started.elapsed();
                    let compiled = matches!(from, crate::runtime::artifact_cache::LoadedFrom::Compiled);
                    self.engine.metrics().component_loaded(spec.id.as_str(), compiled, took);
                    tracing::info!(plugin = %spec.id, digest = digest.short(), millis = took.as_millis() as u64, "component {how}");
                    component
                }
            }
        };
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).insert(digest.clone(), component.clone());
        let pre = prepare(&self.engine, &component, spec).map_err(|m| fail(format!("source `{source}`: {m}")))?;
        finish(digest, Prepared::Ready(pre))
    }

    /// The plugin's concurrency cap: its manifest's, or the host's default share.
    fn concurrency(&self, spec: &PluginSpec) -> u32 {
        let slots = self.engine.settings().max_instances;
        spec.limits
            .max_concurrency
            .unwrap_or_else(|| crate::runtime::admission::default_max_concurrency(slots))
            .min(slots)
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

/// Checks that `bytes` are a component of the `plughost:plugin` worlds this engine
/// can run, whose imports `spec` grants: what `plughost push` and `deploy` verify before
/// uploading anything.
pub fn check_component(engine: &PluginEngine, bytes: &[u8], spec: &PluginSpec) -> Result<(), String> {
    check_component_header(bytes)?;
    let (component, _) = engine.compile(&Digest::of(bytes), bytes).map_err(|e| format!("invalid component: {e:#}"))?;
    prepare(engine, &component, spec).map(drop)
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

/// A queue whose `visibility_timeout` is not longer than its consumer's `timeout` hands a
/// message out again while its first delivery may still run: the idempotency guard then
/// refuses the second (its claim is live), which spends one of `max_receives` for nothing.
/// AWS refuses such a queue as a Lambda event source; locally it is allowed, and said.
fn warn_of_short_visibility(manifest: &Manifest) {
    for plugin in &manifest.plugins {
        for trigger in &plugin.triggers {
            let crate::spec::triggers::Trigger::Queue { queue, .. } = trigger else { continue };
            let Some(spec) = manifest.sources.queues.get(queue) else { continue };
            if spec.visibility_timeout <= plugin.limits.timeout {
                tracing::warn!(
                    manifest = %manifest.path.display(),
                    plugin = %plugin.id,
                    queue,
                    "queue `{queue}`: visibility_timeout {:?} is not longer than its consumer's timeout {:?}; a \
                     message may come back while its first delivery still runs (make it longer, as AWS requires \
                     of a Lambda event source)",
                    spec.visibility_timeout,
                    plugin.limits.timeout
                );
            }
        }
    }
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
