//! Shared by the host's integration tests: where the built guests are, one engine per
//! test binary, manifests in temp dirs, and a log capture to assert on plugin log lines.
//!
//! Guests are built from source by `make plugins` (`scripts/build-wasm`), which `make
//! test` runs first.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod dns;
pub mod lambda;
pub mod moto;
pub mod otlp;
pub mod server;
pub mod through_host;
pub mod upstream;
pub mod variants;

use bytes::Bytes;
use plughost::{App, Capabilities, EngineSettings, PluginEngine};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The built component of a plugin or test guest.
pub fn guest_wasm(name: &str) -> PathBuf {
    let path = built_guest(name);
    assert!(
        path.exists(),
        "{} is missing: build the guests first with `make plugins` (`make test` does)",
        path.display()
    );
    path
}

/// One engine per test binary: engines reserve a pool of instance slots up front. It
/// shares the servers' artifact cache ([`server::shared_cache_dir`]); tests of compiling
/// and caching itself build their own engine.
pub fn engine() -> Arc<PluginEngine> {
    static ENGINE: OnceLock<Arc<PluginEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            Arc::new(
                PluginEngine::new(EngineSettings {
                    max_instances: 32,
                    max_memory_per_instance: 128 * 1024 * 1024,
                    ..EngineSettings::default()
                })
                .expect("engine")
                .with_artifact_cache(server::shared_cache_dir()),
            )
        })
        .clone()
}

/// Writes `manifest` into a fresh temp dir. `{hello}`-style placeholders (a plugin's or
/// test guest's crate name) are replaced by the path of that guest's component; other
/// braces (inline tables, route parameters) are left alone.
pub fn manifest(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plughost.toml");
    std::fs::write(&path, with_guest_paths(text)).expect("write manifest");
    (dir, path)
}

/// `text` with each `{<guest>}` replaced by that guest's component path.
fn with_guest_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after.split('}').next().filter(|_| after.contains('}')).unwrap_or("");
        let is_guest = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && built_guest(name).exists();
        if is_guest {
            out.push_str(&guest_wasm(name).display().to_string());
            rest = &after[name.len() + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn built_guest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/plugin")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

/// Embedded storage shared by the tests of one binary that do not look at stored data.
pub fn shared_storage() -> Capabilities {
    static STORAGE: OnceLock<(tempfile::TempDir, Capabilities)> = OnceLock::new();
    STORAGE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let storage = Capabilities::embedded(dir.path(), "http://127.0.0.1").expect("embedded storage");
            (dir, storage)
        })
        .1
        .clone()
}

/// An app over `manifest_text` with its own empty embedded storage; derefs to [`App`].
#[derive(Clone)]
pub struct TestApp {
    app: Arc<App>,
    /// The manifest's and the storage's directories, removed when the last clone drops.
    _dirs: Arc<(tempfile::TempDir, tempfile::TempDir)>,
    pub data_dir: PathBuf,
}

impl std::ops::Deref for TestApp {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl TestApp {
    pub fn arc(&self) -> Arc<App> {
        self.app.clone()
    }
}

pub async fn load_app(manifest_text: &str) -> TestApp {
    load_app_on(engine(), manifest_text).await
}

/// [`load_app`] on an engine of the test's own (other admission settings, say).
pub async fn load_app_on(engine: Arc<PluginEngine>, manifest_text: &str) -> TestApp {
    let (manifest_dir, path) = manifest(manifest_text);
    let data = tempfile::tempdir().expect("tempdir");
    let storage = Capabilities::embedded(data.path(), "http://127.0.0.1").expect("embedded storage");
    let app = App::load(engine, storage, &path, plughost::http::DEFAULT_MAX_BODY).await.expect("app loads");
    TestApp { app: Arc::new(app), data_dir: data.path().to_path_buf(), _dirs: Arc::new((manifest_dir, data)) }
}

/// [`load_app`] with the labels `storage` (the storage map, inline JSON) binds on the AWS
/// server `aws` points at.
pub async fn load_app_with_storage(manifest_text: &str, storage: &str, aws: &aws_config::SdkConfig) -> TestApp {
    let (manifest_dir, path) = manifest(manifest_text);
    let data = tempfile::tempdir().expect("tempdir");
    let capabilities = Capabilities::open_with_aws(data.path(), "http://127.0.0.1", storage, aws)
        .await
        .expect("capabilities with the storage map");
    let app = App::load(engine(), capabilities, &path, plughost::http::DEFAULT_MAX_BODY).await.expect("app loads");
    TestApp { app: Arc::new(app), data_dir: data.path().to_path_buf(), _dirs: Arc::new((manifest_dir, data)) }
}

/// A decoded response.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn call(app: &App, method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.handle(request.body(Bytes::copy_from_slice(body)).expect("request")).await;
    let (parts, body) = response.into_parts();
    Reply { status: parts.status.as_u16(), headers: parts.headers, body }
}

pub async fn get(app: &App, uri: &str) -> Reply {
    call(app, "GET", uri, &[], b"").await
}

/// Everything logged through `tracing` in this test binary, for assertions on plugin lines.
pub fn captured_logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.lock().unwrap_or_else(|p| p.into_inner());
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Installs the capturing subscriber (JSON lines). Call at the start of tests that read logs.
pub fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let buffer = log_buffer();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("info")
            .with_writer(move || CaptureWriter(buffer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(Default::default).clone()
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
