//! `--compile lazy`: a table goes live without compiling, each component compiles on its
//! first request (once, however many requests wait for it), and a component that cannot
//! compile answers 503 for its own routes while every other plugin serves.

use crate::support;

use plughost::{App, Capabilities, EngineSettings, PluginEngine};
use std::sync::Arc;
use support::{call, guest_wasm, manifest};

fn lazy_engine(cache: Option<&std::path::Path>) -> Arc<PluginEngine> {
    let settings =
        EngineSettings { max_instances: 16, max_memory_per_instance: 128 * 1024 * 1024, ..EngineSettings::default() };
    let engine = PluginEngine::new(settings).unwrap().with_lazy_compilation(true);
    Arc::new(match cache {
        Some(dir) => engine.with_artifact_cache(dir),
        None => engine,
    })
}

#[tokio::test]
async fn components_compile_on_first_request_and_a_broken_one_only_fails_its_routes() {
    support::capture_logs();
    let (dir, _) = manifest("");
    // Right header, missing body: only compiling it finds out.
    let hello = std::fs::read(guest_wasm("hello")).unwrap();
    std::fs::write(dir.path().join("truncated.wasm"), &hello[..hello.len() / 2]).unwrap();
    let (_manifest_dir, path) = manifest(&format!(
        "[plugins.lazy-hello]\nsource = \"{{hello}}\"\nroutes = [\"GET /hello/{{name}}\"]\n\
         [plugins.lazy-broken]\nsource = \"{}\"\nroutes = [\"GET /broken\"]\n\
         [plugins.lazy-foreign]\nsource = \"{{wrong-world}}\"\nroutes = [\"GET /foreign\"]\n",
        dir.path().join("truncated.wasm").display()
    ));
    let data = tempfile::tempdir().unwrap();
    let storage = Capabilities::embedded(data.path(), "http://127.0.0.1").unwrap();
    let app = Arc::new(App::load(lazy_engine(None), storage, &path, 1024).await.expect("a lazy load compiles nothing"));
    // The log buffer is shared with the other tests of this binary (running in parallel):
    // only lines about this test's plugins count.
    let lines_of = |plugin: &str, message: &str| {
        let field = format!("\"plugin\":\"{plugin}\"");
        support::captured_logs().lines().filter(|l| l.contains(&field) && l.contains(message)).count()
    };
    assert_eq!(lines_of("lazy-hello", "component compiled"), 0, "nothing is compiled at load");

    // Eight requests at once: one compile, eight answers.
    let calls = (0..8).map(|i| {
        let app = app.clone();
        async move { call(&app, "GET", &format!("/hello/n{i}"), &[], b"").await }
    });
    for reply in futures::future::join_all(calls).await {
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert_eq!(lines_of("lazy-hello", "component compiled on its first request"), 1);

    let broken = call(&app, "GET", "/broken", &[], b"").await;
    assert_eq!(broken.status, 503, "{}", broken.text());
    assert_eq!(broken.json()["error"]["code"], "plugin_unavailable");
    let foreign = call(&app, "GET", "/foreign", &[], b"").await;
    assert_eq!(foreign.status, 503);
    assert_eq!(lines_of("lazy-broken", "component cannot run: invalid component"), 1);
    assert_eq!(lines_of("lazy-foreign", "component cannot run: does not fit the `plughost:plugin` worlds"), 1);
    assert_eq!(call(&app, "GET", "/hello/still", &[], b"").await.status, 200);
}

#[tokio::test]
async fn a_component_in_the_compiled_cache_is_loaded_and_checked_eagerly() {
    let cache = tempfile::tempdir().unwrap();
    let (_d, path) = manifest("[plugins.hello]\nsource = \"{hello}\"\nroutes = [\"GET /hello/{name}\"]\n");
    let data = tempfile::tempdir().unwrap();
    // An eager start fills the cache...
    let eager = PluginEngine::new(EngineSettings::default()).unwrap().with_artifact_cache(cache.path());
    let storage = Capabilities::embedded(data.path(), "http://127.0.0.1").unwrap();
    drop(App::load(Arc::new(eager), storage.clone(), &path, 1024).await.unwrap());
    // ... so a lazy start has nothing left to defer: the table holds a ready component.
    let app = App::load(lazy_engine(Some(cache.path())), storage, &path, 1024).await.unwrap();
    let table = app.table();
    assert!(matches!(table.plugins()[0].pre, plughost::runtime::plugin::Prepared::Ready(_)));
    assert_eq!(call(&app, "GET", "/hello/cached", &[], b"").await.status, 200);
}
