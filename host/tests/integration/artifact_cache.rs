//! The on-disk cache of compiled components (`runtime/artifact_cache.rs`): a second engine (a
//! restart, a Lambda cold start) loads what the first compiled, and a damaged or foreign
//! cache file is never loaded — the component is compiled again and the file repaired.

use crate::support;

use plughost::runtime::artifact_cache::LoadedFrom;
use plughost::spec::manifest::Digest;
use plughost::{App, Capabilities, EngineSettings, PluginEngine};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use support::{get, guest_wasm, manifest};

fn engine_with_cache(dir: &std::path::Path) -> PluginEngine {
    PluginEngine::new(EngineSettings {
        max_instances: 4,
        max_memory_per_instance: 64 << 20,
        ..EngineSettings::default()
    })
    .unwrap()
    .with_artifact_cache(dir)
}

fn hello() -> (Vec<u8>, Digest) {
    let bytes = std::fs::read(guest_wasm("hello")).unwrap();
    let digest = Digest::parse(&format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))).unwrap();
    (bytes, digest)
}

/// The compiled artifacts in `dir` (each has its checksum file beside it).
fn cached_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    let artifacts: Vec<_> = files.iter().filter(|f| f.extension().is_some_and(|e| e == "cwasm")).cloned().collect();
    assert_eq!(files.len(), artifacts.len() * 2, "an artifact and its checksum, nothing else: {files:?}");
    artifacts
}

#[tokio::test]
async fn a_restarted_engine_loads_what_the_first_compiled_and_it_serves() {
    let cache = tempfile::tempdir().unwrap();
    let (bytes, digest) = hello();
    assert_eq!(engine_with_cache(cache.path()).compile(&digest, &bytes).unwrap().1, LoadedFrom::Compiled);
    let files = cached_files(cache.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].file_name().unwrap().to_str().unwrap().ends_with(&format!("-{}.cwasm", digest.hex())));

    // A new engine, as after a restart: the same component comes from the cache and serves.
    let restarted = Arc::new(engine_with_cache(cache.path()));
    assert_eq!(restarted.compile(&digest, &bytes).unwrap().1, LoadedFrom::Cache);
    let (_dir, path) = manifest("[plugins.hello]\nsource = \"{hello}\"\nroutes = [\"GET /hello/{name}\"]\n");
    let data = tempfile::tempdir().unwrap();
    let storage = Capabilities::embedded(data.path(), "http://127.0.0.1").unwrap();
    let app = App::load(restarted, storage, &path, 1024).await.unwrap();
    assert_eq!(get(&app, "/hello/cache").await.json()["message"], "Hello, cache!");
}

#[tokio::test]
async fn a_damaged_or_truncated_cache_file_is_recompiled_never_loaded() {
    let cache = tempfile::tempdir().unwrap();
    let (bytes, digest) = hello();
    engine_with_cache(cache.path()).compile(&digest, &bytes).unwrap();
    let file = cached_files(cache.path()).remove(0);
    let original = std::fs::read(&file).unwrap();

    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    for damaged in [flipped, original[..original.len() / 3].to_vec(), b"short".to_vec()] {
        std::fs::write(&file, &damaged).unwrap();
        let (_component, source) = engine_with_cache(cache.path()).compile(&digest, &bytes).unwrap();
        assert_eq!(source, LoadedFrom::Compiled, "a damaged file ({} bytes) must not be loaded", damaged.len());
        assert_eq!(std::fs::read(&file).unwrap().len(), original.len(), "the file is rewritten whole");
        assert_eq!(engine_with_cache(cache.path()).compile(&digest, &bytes).unwrap().1, LoadedFrom::Cache);
    }

    // The checksum lives beside the artifact: without it, or with a wrong one, the
    // artifact is not trusted either.
    let checksum = file.with_extension("cwasm.sha256");
    for damaged in [None, Some(vec![0u8; 32])] {
        match damaged {
            None => std::fs::remove_file(&checksum).unwrap(),
            Some(bytes) => std::fs::write(&checksum, bytes).unwrap(),
        }
        let (_component, source) = engine_with_cache(cache.path()).compile(&digest, &bytes).unwrap();
        assert_eq!(source, LoadedFrom::Compiled, "an artifact without a valid checksum must not be loaded");
        assert_eq!(engine_with_cache(cache.path()).compile(&digest, &bytes).unwrap().1, LoadedFrom::Cache);
    }
}

#[tokio::test]
async fn entries_are_keyed_by_component_digest_so_another_components_artifact_is_never_used() {
    let cache = tempfile::tempdir().unwrap();
    let pricing = std::fs::read(guest_wasm("pricing")).unwrap();
    let pricing_digest = Digest::parse(&format!("sha256:{}", hex::encode(Sha256::digest(&pricing)))).unwrap();
    engine_with_cache(cache.path()).compile(&pricing_digest, &pricing).unwrap();
    let (bytes, digest) = hello();
    assert_eq!(engine_with_cache(cache.path()).compile(&digest, &bytes).unwrap().1, LoadedFrom::Compiled);
    assert_eq!(cached_files(cache.path()).len(), 2, "one entry per component");
}
