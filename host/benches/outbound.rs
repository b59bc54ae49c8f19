//! `make bench`: outgoing HTTP, measured side by side in one process (ratios hold on a
//! noisy shared machine), rounds interleaved:
//!
//! - one outgoing request through the host — a request to the `http-probe` guest that
//!   makes one `GET` to a server on 127.0.0.1, minus the same guest answering without one —
//!   vs the same `GET` from native code (hyper, a fresh connection each time, as the host
//!   opens one per request);
//! - an in-process chained call (`front` calls `http://back.plughost.internal/...`) vs the
//!   direct request to `back`.
//!
//! Needs the guests built (`make plugins`; `make bench` does it).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use plughost::{App, Capabilities, EngineSettings, PluginEngine};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 500;

fn p50(samples: &mut [Duration]) -> f64 {
    samples.sort_unstable();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let probe = root.join("target/wasm32-wasip2/plugin/http_probe.wasm");
    anyhow::ensure!(probe.exists(), "{} missing: run `make plugins`", probe.display());
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("plughost.toml");
    std::fs::write(
        &manifest,
        format!(
            "[plugins.front]\nsource = \"{probe}\"\nroutes = [\"POST /fetch\", \"GET /whoami\"]\n\
             allowed_outbound_hosts = [\"http://127.0.0.1:*\", \"http://back.plughost.internal\"]\n\
             limits = {{ max_outbound_requests = 4 }}\n\
             [plugins.back]\nsource = \"{probe}\"\nroutes = [\"GET /back/whoami\"]\n\
             allowed_outbound_hosts = [\"https://api.example.com\"]\n",
            probe = probe.display()
        ),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let upstream = upstream().await?;
        let engine = Arc::new(PluginEngine::new(EngineSettings::default())?);
        let capabilities = Capabilities::embedded(&dir.path().join("data"), "http://127.0.0.1")?;
        let app = Arc::new(App::load(engine, capabilities, &manifest, 1 << 20).await?);
        // On a worker thread, as `serve` runs every connection: a task the request spawns
        // (wasi:http runs each outgoing request in one) then starts on the same thread
        // rather than waking another.
        tokio::spawn(async move { side_by_side(&app, upstream).await }).await?
    })
}

/// A server on 127.0.0.1 answering `GET /echo` with a small JSON body.
async fn upstream() -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new()
        .route("/echo", axum::routing::get(|| async { axum::Json(serde_json::json!({ "ok": true })) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn fetch(url: &str) -> http::Request<Bytes> {
    http::Request::post("/fetch")
        .header("content-type", "application/json")
        .body(Bytes::from(serde_json::json!({ "url": url }).to_string()))
        .unwrap()
}

fn get(path: &str) -> http::Request<Bytes> {
    http::Request::get(path).body(Bytes::new()).unwrap()
}

/// The same GET from native code: connect, HTTP/1.1, read the body.
async fn native_get(addr: SocketAddr) -> anyhow::Result<Bytes> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let request = http::Request::get("/echo").header("host", addr.to_string()).body(Empty::<Bytes>::new())?;
    let body = sender.send_request(request).await?.into_body().collect().await?.to_bytes();
    connection.abort();
    Ok(body)
}

async fn side_by_side(app: &Arc<App>, upstream: SocketAddr) -> anyhow::Result<()> {
    let echo = format!("http://{upstream}/echo");
    let chained = "http://back.plughost.internal/back/whoami";
    let ok = |response: &http::Response<Bytes>, what: &str| -> anyhow::Result<()> {
        anyhow::ensure!(response.status() == 200, "{what}: {}", response.status());
        anyhow::ensure!(!response.body().windows(7).any(|w| w == b"\"error\""), "{what}: {:?}", response.body());
        Ok(())
    };
    for _ in 0..50 {
        ok(&app.handle(fetch(&echo)).await, "warm fetch")?;
        ok(&app.handle(fetch(chained)).await, "warm chain")?;
        native_get(upstream).await?;
    }
    // `PLUGHOST_BENCH_PROFILE=chain`: only chained calls, for a profiler to look at.
    if std::env::var("PLUGHOST_BENCH_PROFILE").as_deref() == Ok("chain") {
        let started = Instant::now();
        for _ in 0..20_000 {
            ok(&app.handle(fetch(chained)).await, "chained")?;
        }
        println!("20000 chained calls in {:?}", started.elapsed());
        return Ok(());
    }
    let mut samples: [Vec<Duration>; 5] = Default::default();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        ok(&app.handle(fetch(&echo)).await, "fetch")?;
        samples[0].push(started.elapsed());

        let started = Instant::now();
        ok(&app.handle(get("/whoami")).await, "whoami")?;
        samples[1].push(started.elapsed());

        let started = Instant::now();
        native_get(upstream).await?;
        samples[2].push(started.elapsed());

        let started = Instant::now();
        ok(&app.handle(fetch(chained)).await, "chained")?;
        samples[3].push(started.elapsed());

        let started = Instant::now();
        ok(&app.handle(get("/back/whoami")).await, "direct")?;
        samples[4].push(started.elapsed());
    }
    let [fetch, answer, native, chain, direct] = samples.map(|mut s| p50(&mut s));
    let through_host = fetch - answer;
    println!("\noutbound HTTP: {ROUNDS} rounds interleaved, p50, one server on 127.0.0.1");
    println!("{:<66} {:>9.1} us", "request to http-probe making one GET (fetch)", fetch);
    println!("{:<66} {:>9.1} us", "request to http-probe making none (whoami)", answer);
    println!("{:<66} {:>9.1} us", "  => one outgoing GET through the host (the difference)", through_host);
    println!("{:<66} {:>9.1} us", "the same GET from native code (hyper, fresh connection)", native);
    println!("{:<66} {:>9.2}x", "outgoing GET through the host vs native", through_host / native);
    println!("{:<66} {:>9.1} us", "front calling back in-process (chained)", chain);
    println!("{:<66} {:>9.1} us", "the direct request to back", direct);
    println!("{:<66} {:>9.2}x", "chained call vs direct request", chain / direct);
    Ok(())
}
