//! `make bench`: what observability costs a dispatch — `App::handle` of `GET /hello/{name}`
//! measured side by side in one process, interleaved so the machine's noise falls on
//! every case alike.
//!
//! The first three cases alternate request by request; the export case runs in blocks
//! between them (its exporter works in the background).
//!
//! - **off**: no subscriber (spans and log lines disabled; metrics still recorded — they
//!   are always on);
//! - **log lines, no spans**: the host's lines (the access line, at `info`, text, to a
//!   sink) without any span — what the host did before it had traces;
//! - **log lines + spans**: the host's own subscriber as it runs (`logging::subscriber`):
//!   the same lines, each with the trace id of the request's root span (the inner spans
//!   exist only for an exporter);
//! - **+ OTLP export**: the same with the OTLP exporter, batching to a local receiver on
//!   127.0.0.1 that reads and discards what it gets.
//!
//! And the metrics alone: the recording calls one request makes, timed in a loop, as a
//! share of the "off" dispatch.
//!
//! `PLUGHOST_BENCH_ROUNDS=1` also prints each round's p50; `PLUGHOST_BENCH_PROFILE=spans`
//! (or `=off`) runs only that case, `PLUGHOST_BENCH_ITERATIONS` times, for `perf record`.
//!
//! Needs the guests built (`make plugins`; `make bench` does it).

use bytes::Bytes;
use plughost::observability::logging::{self, LogFormat};
use plughost::observability::telemetry::{Entry, Phase};
use plughost::{App, EngineSettings, PluginEngine};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::Dispatch;

const ROUNDS: usize = 7;
const SAMPLES: usize = 3_000;
const WARMUP: usize = 500;

/// A local OTLP/HTTP receiver that reads each export and answers 200; counts bytes.
fn start_receiver(received: Arc<AtomicU64>) -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: Bytes| {
                    received.fetch_add(body.len() as u64, Ordering::Relaxed);
                    async { "" }
                }),
            );
            axum::serve(listener, app).await.expect("receiver");
        });
    });
    Ok(endpoint)
}

/// One access line alone, as `serve` writes it: inside a request's root span, text,
/// through the line buffer (to a sink) and the console's recent lines. Per line.
fn time_access_lines(profile: &Option<String>, loops: u32) -> anyhow::Result<Duration> {
    let served = Dispatch::new(logging::subscriber(
        LogFormat::Text,
        Some(plughost::observability::telemetry::RecentLogs::default()),
        logging::LineBuffer::spawn(std::io::sink())?,
    ));
    tracing::dispatcher::with_default(&served, || {
        let span = tracing::info_span!(
            target: "plughost::dispatch",
            "request",
            request_id = "01J9ZQ4V8X6T2M5R7K3N1P0ABC",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let _in = span.enter();
        let plugin = plughost::spec::id::PluginId::parse("hello").map_err(anyhow::Error::msg)?;
        let (method, status) = (http::Method::GET, http::StatusCode::OK);
        // `PLUGHOST_BENCH_PROFILE=line`: this loop alone, longer, for `perf record`.
        let loops = if profile.as_deref() == Some("line") { loops * 20 } else { loops };
        let started = Instant::now();
        for _ in 0..loops {
            plughost::http::access_log(
                &method,
                black_box("/hello/bench"),
                status,
                Some(&plugin),
                Some("/hello/{name}"),
                "01J9ZQ4V8X6T2M5R7K3N1P0ABC",
                started,
            );
        }
        Ok(started.elapsed() / loops)
    })
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let hello_wasm = root.join("target/wasm32-wasip2/plugin/hello.wasm");
    anyhow::ensure!(hello_wasm.exists(), "{} missing: run `make plugins`", hello_wasm.display());
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("plughost.toml");
    let text = format!(
        "[plugins.hello]\nsource = \"{}\"\nroutes = [\"GET /hello/{{name}}\"]\nconfig = {{ greeting = \"Hello\" }}\n",
        hello_wasm.display()
    );
    std::fs::write(&manifest, text)?;
    let engine = Arc::new(PluginEngine::new(EngineSettings::default())?);
    let storage = plughost::Capabilities::embedded(dir.path(), "http://127.0.0.1")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let app = runtime.block_on(App::load(engine.clone(), storage, &manifest, plughost::http::DEFAULT_MAX_BODY))?;

    // The subscribers: built before the OTLP variables are set, these have no exporter.
    let off = Dispatch::none();
    // What the host logged before it had spans: the same lines, no span.
    let access_only = Dispatch::new(logging::lines_only_subscriber(LogFormat::Text, std::io::sink));
    let logs = Dispatch::new(logging::subscriber(LogFormat::Text, None, std::io::sink));
    let received = Arc::new(AtomicU64::new(0));
    let endpoint = start_receiver(received.clone())?;
    // SAFETY: the receiver's thread does not read the environment; the exporter reads
    // its configuration from it when built, below.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "200");
        std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", "65536");
        std::env::set_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096");
    }
    let otlp = Dispatch::new(logging::subscriber(LogFormat::Text, None, std::io::sink));
    anyhow::ensure!(plughost::observability::telemetry::traces::exporting(), "the OTLP exporter did not start");

    let request = || http::Request::get("/hello/bench").body(Bytes::new()).unwrap();
    // `PLUGHOST_BENCH_PROFILE=spans`: only the spans case, for a while, for `perf record`.
    // (`=off`: the same without a subscriber, to compare the two profiles.)
    let profile = std::env::var("PLUGHOST_BENCH_PROFILE").ok();
    if profile.as_deref() == Some("line") {
        let per_line = time_access_lines(&profile, 200_000)?;
        println!("line: {:.3} us per access line", per_line.as_secs_f64() * 1e6);
        return Ok(());
    }
    if let Some(profile @ ("spans" | "off")) = profile.as_deref() {
        let dispatch = if profile == "spans" { &logs } else { &off };
        tracing::dispatcher::with_default(dispatch, || {
            let n = std::env::var("PLUGHOST_BENCH_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000);
            let started = Instant::now();
            for _ in 0..n {
                black_box(runtime.block_on(app.handle(request())));
            }
            println!("{profile}: {:.2} us per request", started.elapsed().as_secs_f64() * 1e6 / n as f64);
        });
        return Ok(());
    }
    let cases = [
        ("off (metrics only)", &off),
        ("log lines, no spans", &access_only),
        ("log lines + spans (default)", &logs),
        ("+ OTLP export", &otlp),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut round_p50s: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    // The cases without an exporter alternate request by request (no drift between them);
    // the export case runs in blocks, each followed by an untimed flush, so the exporter's
    // work falls on its own requests and not on the others'.
    let one = |dispatch: &Dispatch| {
        tracing::dispatcher::with_default(dispatch, || {
            let started = Instant::now();
            black_box(runtime.block_on(app.handle(request())));
            started.elapsed()
        })
    };
    for _round in 0..ROUNDS {
        let mut round: Vec<Vec<Duration>> = vec![Vec::with_capacity(SAMPLES); cases.len()];
        for _ in 0..WARMUP {
            cases[..3].iter().for_each(|(_, dispatch)| {
                one(dispatch);
            });
        }
        for _ in 0..SAMPLES {
            for (index, (_, dispatch)) in cases[..3].iter().enumerate() {
                round[index].push(one(dispatch));
            }
        }
        for _ in 0..WARMUP {
            one(&otlp);
        }
        round[3] = (0..SAMPLES).map(|_| one(&otlp)).collect();
        plughost::observability::telemetry::traces::flush();
        for (index, mut durations) in round.into_iter().enumerate() {
            samples[index].extend_from_slice(&durations);
            round_p50s[index].push(percentile(&mut durations, 0.5));
        }
    }
    plughost::observability::telemetry::traces::flush();

    // The metrics one hello request records, alone.
    let metrics = engine.metrics().plugin("bench");
    let loops = 200_000;
    let started = Instant::now();
    for _ in 0..loops {
        metrics.phase(Phase::Instantiate, black_box(Duration::from_micros(20)));
        metrics.phase(Phase::Call, black_box(Duration::from_micros(5)));
        metrics.response_bytes(black_box(27));
        metrics.invocation(Entry::Http, Ok(()), black_box(Duration::from_micros(30)));
    }
    let per_request = started.elapsed() / loops;

    let per_line = time_access_lines(&profile, loops)?;

    println!(
        "plughost observability benchmark — App::handle GET /hello/{{name}}, {ROUNDS} interleaved rounds of {SAMPLES}"
    );
    println!("{:<30} {:>12} {:>12} {:>16}", "case", "p50", "p99", "p50 vs off");
    let median = |p50s: &mut Vec<Duration>| percentile(p50s, 0.5);
    let base = median(&mut round_p50s[0].clone());
    for (index, (name, _)) in cases.iter().enumerate() {
        let p50 = median(&mut round_p50s[index]);
        let p99 = percentile(&mut samples[index], 0.99);
        let overhead = (p50.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0;
        println!(
            "{name:<30} {:>9.2} us {:>9.2} us {:>+15.1}%",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            overhead
        );
    }
    // The parts timed alone, as a share of the "off" dispatch.
    for (name, alone) in [("metrics recording alone", per_request), ("access line alone (serve)", per_line)] {
        println!(
            "{name:<30} {:>9.3} us {:>12} {:>15.2}%",
            alone.as_secs_f64() * 1e6,
            "",
            alone.as_secs_f64() / base.as_secs_f64() * 100.0
        );
    }
    println!(
        "(p50: median of the rounds' p50s; p99: over all samples; OTLP bytes received: {})",
        received.load(Ordering::Relaxed)
    );
    if std::env::var_os("PLUGHOST_BENCH_ROUNDS").is_some() {
        for (index, (name, _)) in cases.iter().enumerate() {
            let rounds: Vec<String> =
                round_p50s[index].iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1e6)).collect();
            println!("  {name:<28} rounds' p50 (us): {}", rounds.join(" "));
        }
    }
    Ok(())
}
