//! `make bench`: where a request's time goes, measured side by side in one process so
//! ratios hold on a noisy shared machine.
//!
//! Prints one table:
//! - dispatch of `GET /hello` through `App::handle` (route + fresh store and instance +
//!   call + response conversion), p50/p99/mean;
//! - the same handler logic compiled natively and called directly, and the ratio;
//! - a breakdown: routing alone, store + instantiation alone, the handler call alone;
//! - compiling the component vs deserialising a precompiled artifact.
//!
//! Needs the guests built (`make plugins`; `make bench` does it).

use bytes::Bytes;
use plughost::bindings::{Method, Request};
use plughost::capability::config::ConfigCtx;
use plughost::capability::log::LogSink;
use plughost::registry::Lookup;
use plughost::state::State;
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
    let storage = plughost::Storage::embedded(dir.path(), "http://127.0.0.1")?;
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
        let state =
            State::new(ConfigCtx::new(plugin.config.clone()), plugin.storage.clone(), &sink, plugin.limits.max_memory);
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
    let instantiate = measure(|| {
        let mut store = new_store();
        black_box(runtime.block_on(plugin.pre.instantiate_async(&mut store)).unwrap());
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
        let instance = runtime.block_on(plugin.pre.instantiate_async(&mut store)).unwrap();
        let handler = instance.plughost_plugin_handler();
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
        black_box(runtime.block_on(plughost::invoke::invoke(engine.engine(), &plugin, wit_request.clone())).unwrap());
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
    Ok(())
}
