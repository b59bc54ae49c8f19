//! A manifest or plugin that cannot work must fail at load — with an error naming the
//! manifest, the plugin and the problem — never at request time.

use crate::support;

use plughost::App;
use support::{engine, guest_wasm, manifest, shared_storage};

/// Loads like `plughost check` does, from a plain test.
fn load(path: &std::path::Path) -> anyhow::Result<App> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(App::load(engine(), shared_storage(), path, 1024))
}

fn load_error(text: &str) -> String {
    let (_dir, path) = manifest(text);
    match load(&path) {
        Ok(_) => panic!("manifest loaded but should not have:\n{text}"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn missing_component_file_is_named() {
    let error = load_error("[plugins.ghost]\nsource = \"nowhere/ghost.wasm\"\nroutes = [\"/g\"]\n");
    assert!(error.contains("plughost.toml: plugin `ghost`: source `"), "{error}");
    assert!(error.contains("nowhere/ghost.wasm`: file not found"), "{error}");
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let (dir, _) = manifest("");
    std::fs::write(dir.path().join("junk.wasm"), b"this is not webassembly").unwrap();
    let (_d2, path) = manifest(&format!(
        "[plugins.junk]\nsource = \"{}\"\nroutes = [\"/j\"]\n",
        dir.path().join("junk.wasm").display()
    ));
    let error = format!("{:#}", load(&path).err().expect("must fail"));
    assert!(error.contains("plugin `junk`") && error.contains("not a WebAssembly file"), "{error}");
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("core.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let (_d, path) = manifest(&format!("[plugins.core]\nsource = \"{}\"\nroutes = [\"/c\"]\n", module.display()));
    let error = format!("{:#}", load(&path).err().expect("must fail"));
    assert!(error.contains("plugin `core`") && error.contains("not a component"), "{error}");
}

#[test]
fn a_truncated_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(guest_wasm("hello")).unwrap();
    let truncated = dir.path().join("truncated.wasm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (_d, path) = manifest(&format!("[plugins.cut]\nsource = \"{}\"\nroutes = [\"/c\"]\n", truncated.display()));
    let error = format!("{:#}", load(&path).err().expect("must fail"));
    assert!(error.contains("plugin `cut`") && error.contains("invalid component"), "{error}");
}

#[test]
fn a_component_of_another_world_is_refused_naming_the_import() {
    let error = load_error("[plugins.stranger]\nsource = \"{wrong-world}\"\nroutes = [\"/s\"]\n");
    assert!(error.contains("plugin `stranger`"), "{error}");
    assert!(error.contains("does not fit the `plughost:plugin` worlds"), "{error}");
    assert!(error.contains("acme:elsewhere/clock-tower"), "{error}");
}

#[test]
fn conflicting_routes_name_both_plugins() {
    let error = load_error(
        "[plugins.a]\nsource = \"{hello}\"\nroutes = [\"GET /x/{id}\"]\n\
         [plugins.b]\nsource = \"{hello}\"\nroutes = [\"GET /x/{id}\"]\n",
    );
    assert!(error.contains("plugin `b`: route `GET /x/{id}` is already served by plugin `a`"), "{error}");

    let error = load_error(
        "[plugins.a]\nsource = \"{hello}\"\nroutes = [\"GET /x/{id}\"]\n\
         [plugins.b]\nsource = \"{hello}\"\nroutes = [\"GET /x/{name}\"]\n",
    );
    assert!(error.contains("plugin `b`: route `GET /x/{name}`: conflicts with `/x/{id}` of plugin `a`"), "{error}");
}

#[test]
fn same_path_different_methods_from_two_plugins_is_fine() {
    let (_d, path) = manifest(
        "[plugins.a]\nsource = \"{hello}\"\nroutes = [\"GET /x\"]\n\
         [plugins.b]\nsource = \"{hello}\"\nroutes = [\"POST /x\"]\n",
    );
    let app = load(&path).expect("loads");
    assert_eq!(app.table().plugins().len(), 2);
}

#[test]
fn memory_limit_above_the_engine_ceiling_is_refused() {
    let error =
        load_error("[plugins.big]\nsource = \"{hello}\"\nroutes = [\"/b\"]\nlimits = { max_memory = \"1 GiB\" }\n");
    assert!(error.contains("plugin `big`: limits: max_memory 1 GiB is outside 1 MiB..=128 MiB"), "{error}");
}

#[test]
fn malformed_toml_names_the_file() {
    let error = load_error("[plugins.a\nsource=");
    assert!(error.contains("plughost.toml: invalid TOML at byte"), "{error}");
}

#[test]
fn a_grant_of_an_undeclared_store_fails_the_load_naming_plugin_and_label() {
    let error = load_error(
        "[kv.users]\n[plugins.probe]\nsource = \"{kv-probe}\"\nroutes = [\"/p\"]\nkv = { sessions = \"read\" }\n",
    );
    assert!(error.contains("plugin `probe`: kv.sessions: no kv store `sessions` is declared"), "{error}");
}

#[test]
fn a_component_importing_storage_it_is_not_granted_fails_the_load() {
    let error = load_error("[plugins.probe]\nsource = \"{kv-probe}\"\nroutes = [\"/p\"]\n");
    assert!(error.contains("plugin `probe`"), "{error}");
    assert!(error.contains("imports `plughost:plugin/kv@0.1.4` but the manifest grants it no kv store"), "{error}");
    let error = load_error("[blob.images]\n[plugins.probe]\nsource = \"{blob-probe}\"\nroutes = [\"/p\"]\n");
    assert!(
        error.contains("imports `plughost:plugin/blob@0.1.4` but the manifest grants it no blob container"),
        "{error}"
    );
}

#[test]
fn a_component_sending_messages_needs_a_grant_of_each_messaging_capability_it_imports() {
    let routes = "routes = [\"/p\"]";
    let error = load_error(&format!("[plugins.probe]\nsource = \"{{message-probe}}\"\n{routes}\n"));
    assert!(error.contains("imports `plughost:plugin/queue@0.1.4` but the manifest grants it no queue"), "{error}");
    let error = load_error(&format!(
        "[queue.orders]\n[plugins.probe]\nsource = \"{{message-probe}}\"\n{routes}\nqueue = {{ orders = \"send\" }}\n"
    ));
    assert!(error.contains("imports `plughost:plugin/topic@0.1.4` but the manifest grants it no topic"), "{error}");
    let error = load_error(&format!(
        "[queue.orders]\n[plugins.probe]\nsource = \"{{message-probe}}\"\n{routes}\nqueue = {{ orders = \"write\" }}\n"
    ));
    assert!(error.contains("plugin `probe`: queue.orders: unknown access `write` (use \"send\")"), "{error}");
    let error = load_error(&format!(
        "[topic.alerts]\n[plugins.probe]\nsource = \"{{message-probe}}\"\n{routes}\nbus = {{ alerts = \"put\" }}\n"
    ));
    assert!(error.contains("bus.alerts: no bus `alerts` is declared (declare it with `[bus.alerts]`)"), "{error}");
    let error =
        load_error("[queue.audit]\ntopics = [\"alerts\"]\n[plugins.h]\nsource = \"{hello}\"\nroutes = [\"/h\"]\n");
    assert!(error.contains("[queue.audit]: topics: no topic `alerts` is declared"), "{error}");
}

#[test]
fn routes_need_the_handler_export_and_events_need_the_events_export() {
    let error = load_error(
        "[kv.seen]\n[plugins.counter]\nsource = \"{event-counter}\"\nroutes = [\"/c\"]\nkv = { seen = \"read-write\" }\n",
    );
    assert!(error.contains("plugin `counter`"), "{error}");
    assert!(
        error.contains(
            "the manifest gives it routes, but the component does not export `plughost:plugin/handler@0.1.4`"
        ),
        "{error}"
    );
    let error = load_error("[queue.jobs]\n[plugins.hello]\nsource = \"{hello}\"\nevents = [{ queue = \"jobs\" }]\n");
    assert!(
        error.contains("the manifest gives it events (queue jobs), but the component does not export `plughost:plugin/events@0.1.4`")
            && error.contains("plughost_sdk::events!"),
        "{error}"
    );
    // A component exporting both serves routes and events.
    let (_dir, path) = manifest(
        "[kv.activity]\n[kv.products]\n[blob.images]\n[queue.jobs]\n[plugins.activity]\nsource = \"{activity}\"\n\
         routes = [\"GET /v1/activity\"]\nevents = [{ queue = \"jobs\" }]\n\
         kv = { activity = \"read-write\", products = \"read\" }\nblob = { images = \"read\" }\n",
    );
    load(&path).expect("a plugin with both exports loads");
}
