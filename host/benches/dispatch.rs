//! `make bench`: where a request's time goes, measured side by side in one process so
//! ratios hold on a noisy shared machine.
//!
//! Prints one table:
//! - dispatch of `GET /hello` through `App::handle` (route + fresh store and instance +
//!   call + response conversion), p50/p99/mean;
//! - the same handler logic compiled natively and called directly, and the ratio;
//! - a breakdown: routing alone, store + instantiation alone, the handler call alone;
//! - compiling the component vs deserialising a precompiled artifact;
//! - the storage path on embedded storage: the reference API's `GET /v1/product/{id}` and
//!   `POST /v1/product` (p50, and requests per second for GET under concurrency), and
//!   one kv `get` through the host call vs the same get on the backend directly;
//! - pool settings (what a slot keeps between requests) side by side: one engine each,
//!   interleaved, with each setting's cost paired against the default's.
//!
//! Needs the guests built (`make plugins`; `make bench` does it).

use bytes::Bytes;
use plughost::bindings::{Method, Request};
use plughost::capability::config::ConfigCtx;
use plughost::capability::invocation::InvocationCtx;
use plughost::capability::log::LogSink;
use plughost::capability::outbound::{CallOrigin, OutboundCtx};
use plughost::capability::request_context::RequestContext;
use plughost::capability::state::State;
use plughost::routing::registry::Lookup;
use plughost::{App, EngineSettings, PluginEngine};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Component;
use wasmtime::{Store, UpdateDeadline};

const WARMUP: usize = 1_000;
const SAMPLES: usize = 10_000;

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort_unstable();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Stats { p50: at(0.50), p99: at(0.99), mean }
}

fn measure(mut f: impl FnMut()) -> Stats {
    for _ in 0..WARMUP {
        f();
    }
    let samples = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    stats(samples)
}

fn us(d: Duration) -> String {
    format!("{:>9.2} us", d.as_secs_f64() * 1e6)
}

fn row(name: &str, s: &Stats) {
    println!("{name:<48} {} {} {}", us(s.p50), us(s.p99), us(s.mean));
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let hello_wasm = root.join("target/wasm32-wasip2/plugin/hello.wasm");
    anyhow::ensure!(hello_wasm.exists(), "{} missing: run `make plugins`", hello_wasm.display());

    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("plughost.toml");
    std::fs::write(
        &manifest,
        format!(
            "[plugins.hello]\nsource = \"{}\"\nroutes = [\"GET /hello\", \"GET /hello/{{name}}\"]\nconfig = {{ greeting = \"Hello\" }}\n",
            hello_wasm.display()
        ),
    )?;
    let engine = Arc::new(PluginEngine::new(EngineSettings::default())?);
    let storage = plughost::Capabilities::embedded(dir.path(), "http://127.0.0.1")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let app = runtime.block_on(App::load(engine.clone(), storage, &manifest, plughost::http::DEFAULT_MAX_BODY))?;

    println!("plughost dispatch benchmark — {SAMPLES} samples after {WARMUP} warm-up, one process");
    println!(
        "pooling allocator, PAGEMAP_SCAN available: {}",
        wasmtime::PoolingAllocationConfig::is_pagemap_scan_available()
    );
    println!("{:<48} {:>12} {:>12} {:>12}", "case", "p50", "p99", "mean");

    // (a) Full dispatch through the app.
    let request = || http::Request::get("/hello/bench").body(Bytes::new()).unwrap();
    let probe = runtime.block_on(app.handle(request()));
    anyhow::ensure!(probe.status() == 200, "hello answered {}", probe.status());
    let dispatch = measure(|| {
        black_box(runtime.block_on(app.handle(request())));
    });
    row("wasm: App::handle GET /hello/{name}", &dispatch);

    // (b) The same handler natively.
    plughost_sdk::testing::set_config("greeting", "Hello");
    let native = measure(|| {
        let req = plughost_sdk::Request::builder(plughost_sdk::Method::Get, "/hello/{name}")
            .path("/hello/bench")
            .param("name", "bench")
            .build();
        black_box(hello::handle(req).into_wit());
    });
    row("native: hello::handle called directly", &native);
    println!(
        "{:<48} {:>11.1}x {:>11.1}x {:>11.1}x",
        "ratio wasm / native",
        dispatch.p50.as_secs_f64() / native.p50.as_secs_f64(),
        dispatch.p99.as_secs_f64() / native.p99.as_secs_f64(),
        dispatch.mean.as_secs_f64() / native.mean.as_secs_f64()
    );

    // Breakdown of the wasm path.
    println!("breakdown of one dispatch:");
    let table = app.table();
    let route = measure(|| {
        black_box(matches!(table.lookup(&http::Method::GET, "/hello/bench"), Lookup::Found(_)));
    });
    row("  route lookup (matchit + params)", &route);
    let plugin = match table.lookup(&http::Method::GET, "/hello/bench") {
        Lookup::Found(m) => m.plugin.clone(),
        _ => anyhow::bail!("route missing"),
    };
    let new_store = || {
        let sink = LogSink::new(plugin.id.clone(), "bench".into(), plugin.secret_values.clone());
        let limits = &plugin.limits;
        let ends_at = std::time::Instant::now() + limits.timeout;
        let request = RequestContext::for_call(ends_at, limits.timeout, plugin.metrics.clone());
        let state = State::new(
            ConfigCtx::new(plugin.config.clone()),
            InvocationCtx::ending_in(limits.timeout),
            plugin.grants.clone(),
            &sink,
            limits.max_memory,
            limits.max_host_io,
            OutboundCtx::new(
                &sink,
                plugin.outbound.clone(),
                limits.max_outbound_requests,
                limits.max_outbound_response,
                CallOrigin::outside(None, "bench"),
                plugin.metrics.clone(),
                plugin.lookups.clone(),
                request.clone(),
            ),
            request,
        );
        let mut store = Store::new(engine.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        store
    };
    let store_only = measure(|| {
        black_box(new_store());
    });
    row("  new store (WASI ctx, limiter, log sink)", &store_only);
    let pre = runtime.block_on(plugin.pre.get()).expect("hello is compiled");
    let instantiate = measure(|| {
        let mut store = new_store();
        black_box(runtime.block_on(pre.instance_pre.instantiate_async(&mut store)).unwrap());
    });
    row("  new store + instantiate", &instantiate);
    let wit_request = Request {
        method: Method::Get,
        path: "/hello/bench".into(),
        route: "/hello/{name}".into(),
        params: vec![("name".into(), "bench".into())],
        query: vec![],
        raw_query: String::new(),
        headers: vec![],
        body: vec![],
        request_id: "bench".into(),
    };
    // The call alone, on a fresh instance (instantiation untimed), then a second call on
    // the same instance: the difference is first-touch cost (page faults, guest init).
    let mut first_call = Vec::with_capacity(SAMPLES);
    let mut second_call = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUP + SAMPLES {
        let mut store = new_store();
        let instance = runtime.block_on(pre.instance_pre.instantiate_async(&mut store)).unwrap();
        let handler = pre.handler.as_ref().unwrap().load(&mut store, &instance).unwrap();
        let start = Instant::now();
        black_box(runtime.block_on(handler.call_handle(&mut store, &wit_request)).unwrap());
        let first = start.elapsed();
        let start = Instant::now();
        black_box(runtime.block_on(handler.call_handle(&mut store, &wit_request)).unwrap());
        let second = start.elapsed();
        if i >= WARMUP {
            first_call.push(first);
            second_call.push(second);
        }
    }
    row("  handler call on a fresh instance", &stats(first_call));
    row("  handler call again on the same instance", &stats(second_call));
    let invoke = measure(|| {
        black_box(
            runtime
                .block_on(plughost::runtime::invoke::invoke(
                    engine.engine(),
                    engine.admission(),
                    &plugin,
                    wit_request.clone(),
                    None,
                    CallOrigin::outside(None, "bench"),
                ))
                .unwrap(),
        );
    });
    row("  invoke (store + instantiate + call)", &invoke);

    // (c) Compile vs precompiled.
    let bytes = std::fs::read(&hello_wasm)?;
    let compile_samples: Vec<Duration> = (0..10)
        .map(|_| {
            let start = Instant::now();
            black_box(Component::from_binary(engine.engine(), &bytes).unwrap());
            start.elapsed()
        })
        .collect();
    let compiled = Component::from_binary(engine.engine(), &bytes)?;
    let artifact = compiled.serialize()?;
    let load_samples: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            // SAFETY: `artifact` was produced just above by this same engine configuration.
            black_box(unsafe { Component::deserialize(engine.engine(), &artifact) }.unwrap());
            start.elapsed()
        })
        .collect();
    let (compile, load) = (stats(compile_samples), stats(load_samples));
    println!("compile vs precompiled ({} KB component, {} KB artifact):", bytes.len() / 1024, artifact.len() / 1024);
    row("  compile with Cranelift (10 runs)", &compile);
    row("  deserialize precompiled (200 runs)", &load);
    println!(
        "{:<48} {:>11.0}x",
        "  ratio compile / precompiled (p50)",
        compile.p50.as_secs_f64() / load.p50.as_secs_f64()
    );

    storage_path(&engine)?;
    pool_settings(&manifest)
}

/// Rounds of the pool comparison, and requests per variant in each.
const POOL_ROUNDS: usize = 20;
const POOL_BLOCK: usize = 500;

/// Pool settings side by side: one engine per setting, each with its own `App` over the
/// same manifest, driven in interleaved blocks (a noisy machine slows them alike), so the
/// ratios say which setting makes dispatch cheaper — sequential runs swing more than the
/// settings differ.
fn pool_settings(manifest: &Path) -> anyhow::Result<()> {
    use plughost::PoolTuning;
    let default = PoolTuning::default();
    // 16 slots each (the settings' cost does not depend on it), but one row with the
    // default's 128, to see whether the pool's size does.
    let variants: [(&str, u32, PoolTuning); 7] = [
        ("default (memory 2 MiB, table/stack 64 KiB kept)", 16, default),
        ("default, 128 slots (--max-instances default)", 128, default),
        ("memory keep 0 (madvise all)", 16, PoolTuning { linear_memory_keep_resident: 0, ..default }),
        ("memory keep 1 MiB", 16, PoolTuning { linear_memory_keep_resident: 1 << 20, ..default }),
        ("memory keep 4 MiB", 16, PoolTuning { linear_memory_keep_resident: 4 << 20, ..default }),
        ("table/stack keep 0", 16, PoolTuning { table_keep_resident: 0, async_stack_keep_resident: 0, ..default }),
        ("decommit batch 8", 16, PoolTuning { decommit_batch_size: 8, ..default }),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let apps = variants
        .iter()
        .map(|(_, slots, pool)| {
            let settings = EngineSettings { max_instances: *slots, pool: *pool, ..EngineSettings::default() };
            let engine = Arc::new(PluginEngine::new(settings)?);
            let storage = plughost::Capabilities::embedded(dir.path(), "http://127.0.0.1")?;
            runtime.block_on(App::load(engine, storage, manifest, plughost::http::DEFAULT_MAX_BODY))
        })
        .collect::<anyhow::Result<Vec<App>>>()?;
    let request = || http::Request::get("/hello/bench").body(Bytes::new()).unwrap();
    let mut samples = vec![Vec::with_capacity(POOL_ROUNDS * POOL_BLOCK); apps.len()];
    // Per round, each variant's mean over the default's: the paired ratio.
    let mut paired = vec![Vec::with_capacity(POOL_ROUNDS); apps.len()];
    for round in 0..=POOL_ROUNDS {
        let mut means = Vec::with_capacity(apps.len());
        for (app, kept) in apps.iter().zip(&mut samples) {
            let mut total = Duration::ZERO;
            for _ in 0..POOL_BLOCK {
                let start = Instant::now();
                let response = runtime.block_on(app.handle(request()));
                let took = start.elapsed();
                anyhow::ensure!(response.status() == 200, "hello answered {}", response.status());
                total += took;
                // Round 0 warms every slot up and is not kept.
                if round > 0 {
                    kept.push(took);
                }
            }
            means.push(total.as_secs_f64());
        }
        if round > 0 {
            for (ratios, mean) in paired.iter_mut().zip(&means) {
                ratios.push(mean / means[0]);
            }
        }
    }
    println!(
        "pool settings side by side (App::handle GET /hello/{{name}}; {POOL_ROUNDS} interleaved rounds of {POOL_BLOCK}):"
    );
    println!("{:<48} {:>12} {:>12} {:>12} {:>14}", "  setting", "p50", "p99", "mean", "paired / def.");
    for ((name, _, _), (kept, ratios)) in variants.iter().zip(samples.into_iter().zip(&mut paired)) {
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        let s = stats(kept);
        println!("{:<48} {} {} {} {:>13.3}x", format!("  {name}"), us(s.p50), us(s.p99), us(s.mean), median);
    }
    Ok(())
}

/// The reference API and the kv host call on embedded storage (see the module header).
fn storage_path(engine: &Arc<PluginEngine>) -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = |name: &str| root.join(format!("target/wasm32-wasip2/plugin/{name}.wasm")).display().to_string();
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("plughost.toml");
    std::fs::write(
        &manifest,
        format!(
            "[kv.users]\n[kv.products]\n[kv.bench]\n[blob.images]\n\
             [plugins.users]\nsource = \"{}\"\nroutes = [\"POST /v1/user\"]\nkv = {{ users = \"read-write\" }}\n\
             [plugins.products]\nsource = \"{}\"\nroutes = [\"POST /v1/product\", \"GET /v1/product/{{productId}}\"]\n\
             kv = {{ products = \"read-write\", users = \"read\" }}\nblob = {{ images = \"read-write\" }}\n\
             [plugins.probe]\nsource = \"{}\"\nroutes = [\"GET /kv/{{label}}/{{key}}\", \"PUT /kv/{{label}}/{{key}}\"]\n\
             kv = {{ bench = \"read-write\" }}\n",
            wasm("users"),
            wasm("products"),
            wasm("kv_probe")
        ),
    )?;
    let storage = plughost::Capabilities::embedded(dir.path(), "http://127.0.0.1")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let app =
        Arc::new(runtime.block_on(App::load(engine.clone(), storage, &manifest, plughost::http::DEFAULT_MAX_BODY))?);
    let call = |method: &str, uri: &str, auth: bool, body: &str| {
        let mut request = http::Request::builder().method(method).uri(uri).header("content-type", "application/json");
        if auth {
            // bench@example.com:bench password
            request = request.header("authorization", "Basic YmVuY2hAZXhhbXBsZS5jb206YmVuY2ggcGFzc3dvcmQ=");
        }
        request.body(Bytes::from(body.to_owned())).unwrap()
    };
    let signup = r#"{"username":"bench@example.com","password":"bench password","first_name":"B","last_name":"B"}"#;
    let created = runtime.block_on(app.handle(call("POST", "/v1/user", false, signup)));
    anyhow::ensure!(created.status() == 201, "sign-up answered {}", created.status());
    let product = |sku: &str| {
        format!(r#"{{"name":"Lamp","description":"A lamp","sku":"{sku}","manufacturer":"Acme","quantity":5}}"#)
    };
    let created = runtime.block_on(app.handle(call("POST", "/v1/product", true, &product("BENCH-0"))));
    anyhow::ensure!(created.status() == 201, "create product answered {}", created.status());
    let id = serde_json::from_slice::<serde_json::Value>(created.body())?["id"].as_str().unwrap_or_default().to_owned();
    let get_uri = format!("/v1/product/{id}");

    println!("storage path (embedded SQLite; reference API through App::handle):");
    let get = measure(|| {
        let response = runtime.block_on(app.handle(call("GET", &get_uri, false, "")));
        assert_eq!(response.status(), 200);
    });
    row("  GET /v1/product/{id} (one kv get)", &get);
    // POST authenticates with Argon2id (~19 MiB, 2 passes) inside the sandbox: that, not
    // the host, dominates; fewer samples keep the run short.
    let mut sku = 0;
    let post_samples: Vec<Duration> = (0..40)
        .map(|_| {
            sku += 1;
            let request = call("POST", "/v1/product", true, &product(&format!("BENCH-{sku}")));
            let start = Instant::now();
            let response = runtime.block_on(app.handle(request));
            let elapsed = start.elapsed();
            assert_eq!(response.status(), 201);
            elapsed
        })
        .collect();
    row("  POST /v1/product (Basic auth: Argon2id) x40", &stats(post_samples));
    let window = Duration::from_secs(3);
    let served = runtime.block_on(async {
        let deadline = Instant::now() + window;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (app, uri) = (app.clone(), get_uri.clone());
                tokio::spawn(async move {
                    let mut served = 0u64;
                    while Instant::now() < deadline {
                        let request = http::Request::get(&uri).body(Bytes::new()).unwrap();
                        if app.handle(request).await.status() == 200 {
                            served += 1;
                        }
                    }
                    served
                })
            })
            .collect();
        let mut served = 0;
        for task in tasks {
            served += task.await.unwrap_or(0);
        }
        served
    });
    println!(
        "{:<48} {:>12.0} req/s (16 concurrent clients, 2 worker threads, {window:?})",
        "  GET /v1/product/{id} throughput",
        served as f64 / window.as_secs_f64()
    );

    // One kv get: through the guest's host call vs on the backend directly. The guest's
    // request is measured with and without the get (an ungranted label is refused before
    // any backend call), so the difference is the host call plus the backend.
    let put = runtime.block_on(app.handle(call("PUT", "/kv/bench/k", false, "value")));
    anyhow::ensure!(put.status() == 200, "kv put answered {}", put.status());
    let with_get = measure(|| {
        black_box(runtime.block_on(app.handle(call("GET", "/kv/bench/k", false, ""))));
    });
    let without_get = measure(|| {
        black_box(runtime.block_on(app.handle(call("GET", "/kv/ungranted/k", false, ""))));
    });
    let backend = plughost::capability::kv::SqliteKv::open(&dir.path().join("kv.sqlite3"))?;
    let raw = measure(|| {
        use plughost::capability::kv::KvBackend;
        black_box(runtime.block_on(backend.get("bench", "k")).unwrap());
    });
    row("  kv-probe GET /kv/bench/k (open + get)", &with_get);
    row("  kv-probe GET /kv/ungranted/k (open refused)", &without_get);
    row("  SqliteKv::get called directly", &raw);
    let through_host = with_get.p50.saturating_sub(without_get.p50);
    println!(
        "{:<48} {} = {:.1}x the direct get (p50 difference; noisy)",
        "  one kv get through the host call",
        us(through_host),
        through_host.as_secs_f64() / raw.p50.as_secs_f64()
    );
    Ok(())
}
