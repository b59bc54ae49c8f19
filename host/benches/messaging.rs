//! `make bench`: messages out, measured side by side in one process (ratios hold on a
//! noisy shared machine), on the embedded backends (`plughost serve`'s durable queue):
//!
//! - the cost of one `send` through the host call: a request to the `message-probe`
//!   guest that sends one message, vs the same message as a backend call
//!   (`LocalEvents::send`), vs a request to a guest that sends nothing (`noop`) —
//!   interleaved round by round; the host call's own cost is within what is left (with
//!   the probe's JSON handling and its larger instance);
//! - send → consume latency through the embedded queue, p50/p99: a plugin sends, the
//!   local pump wakes, receives, delivers to the consuming plugin (`noop`) on a fresh
//!   instance; measured from the send request's start to the consumer's `event` line
//!   (one message in flight at a time), and messages per second with many in flight.
//!
//! Needs the guests built (`make plugins`; `make bench` does it).

use bytes::Bytes;
use plughost::serve::sources::pump;
use plughost::{App, Capabilities, EngineSettings, PluginEngine};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const ROUNDS: usize = 500;
const LATENCY_MESSAGES: usize = 300;
const IN_FLIGHT: usize = 2_000;

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// When each event id's consumer answered: the `plughost::events` line the host writes
/// after a delivery, caught as it is emitted.
#[derive(Clone, Default)]
struct Deliveries(Arc<Mutex<HashMap<String, Instant>>>);

struct EventId(Option<String>);

impl tracing::field::Visit for EventId {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "event_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Deliveries {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "plughost::events" {
            return;
        }
        let mut id = EventId(None);
        event.record(&mut id);
        if let Some(id) = id.0 {
            self.0.lock().unwrap().insert(id, Instant::now());
        }
    }
}

impl Deliveries {
    async fn wait_for(&self, id: &str) -> Instant {
        loop {
            if let Some(at) = self.0.lock().unwrap().get(id) {
                return *at;
            }
            tokio::task::yield_now().await;
        }
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guest = |name: &str| root.join(format!("target/wasm32-wasip2/plugin/{name}.wasm"));
    for name in ["noop", "message_probe"] {
        anyhow::ensure!(guest(name).exists(), "{} missing: run `make plugins`", guest(name).display());
    }
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("plughost.toml");
    std::fs::write(
        &manifest,
        format!(
            "[queue.jobs]\n[queue.sink]\n[topic.unused]\n[bus.unused]\n\
             [plugins.probe]\nsource = \"{}\"\nroutes = [\"POST /queue/{{label}}\"]\nqueue = {{ jobs = \"send\", sink = \"send\" }}\n\
             topic = {{ unused = \"publish\" }}\nbus = {{ unused = \"put\" }}\n\
             [plugins.noop]\nsource = \"{}\"\nroutes = [\"GET /noop\"]\nevents = [{{ queue = \"jobs\", batch = 10 }}]\n",
            guest("message_probe").display(),
            guest("noop").display()
        ),
    )?;
    let deliveries = Deliveries::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("warn,plughost::events=info"))
        .with(deliveries.clone())
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let engine = Arc::new(PluginEngine::new(EngineSettings::default())?);
        let capabilities = Capabilities::embedded(&dir.path().join("data"), "http://127.0.0.1")?;
        let app = Arc::new(App::load(engine, capabilities, &manifest, 1 << 20).await?);
        host_call_vs_backend_call(&app).await?;
        send_to_consume(&app, &deliveries).await
    })
}

fn send_request(body: &str, label: &str) -> http::Request<Bytes> {
    http::Request::post(format!("/queue/{label}"))
        .header("content-type", "application/json")
        .body(Bytes::from(format!("{{\"body\": {}}}", serde_json::Value::from(body))))
        .unwrap()
}

/// One send through the host call vs the backend call vs no send, interleaved.
async fn host_call_vs_backend_call(app: &Arc<App>) -> anyhow::Result<()> {
    let events = app.capabilities().local_events().get().await?.clone();
    let noop = || http::Request::get("/noop").body(Bytes::new()).unwrap();
    for _ in 0..50 {
        app.handle(send_request("warm", "sink")).await;
        app.handle(noop()).await;
    }
    let (mut through_host, mut backend, mut nothing) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let body = format!("{{\"n\":{i}}}");
        let started = Instant::now();
        let response = app.handle(send_request(&body, "sink")).await;
        through_host.push(started.elapsed());
        anyhow::ensure!(response.body().starts_with(b"{\"ok\""), "send failed: {:?}", response.body());

        let started = Instant::now();
        events.send("sink", body.into_bytes(), Vec::new()).await?;
        backend.push(started.elapsed());

        let started = Instant::now();
        let response = app.handle(noop()).await;
        nothing.push(started.elapsed());
        anyhow::ensure!(response.status() == 204 || response.status() == 200, "noop: {}", response.status());
    }
    let (h, b, n) = (percentile(&mut through_host, 0.5), percentile(&mut backend, 0.5), percentile(&mut nothing, 0.5));
    println!("\nmessaging: one send, {ROUNDS} rounds interleaved, p50 (embedded queue: SQLite, synchronous=FULL)");
    println!("{:<60} {:>9.1} us", "request that sends one message (message-probe)", us(h));
    println!("{:<60} {:>9.1} us", "the same send as a backend call (LocalEvents::send)", us(b));
    println!("{:<60} {:>9.1} us", "request that sends nothing (noop)", us(n));
    println!("{:<60} {:>9.1} us", "left: the host call + the probe's own work (JSON, instance)", us(h) - us(b) - us(n));
    println!("{:<60} {:>9.2}x", "send request vs backend call alone", us(h) / us(b));
    Ok(())
}

/// Send -> consume through the embedded queue and the real pump.
async fn send_to_consume(app: &Arc<App>, deliveries: &Deliveries) -> anyhow::Result<()> {
    let events = app.capabilities().local_events().get().await?.clone();
    pump::watch_triggered_labels(app, &mut Default::default()).await;
    let pump = pump::spawn(app.clone(), events.clone());
    let id_of = |response: &http::Response<Bytes>| -> anyhow::Result<String> {
        let reply: serde_json::Value = serde_json::from_slice(response.body())?;
        reply["ok"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("send failed: {reply}"))
    };
    // One message in flight at a time: the latency of each.
    let mut latencies = Vec::with_capacity(LATENCY_MESSAGES);
    for i in 0..LATENCY_MESSAGES + 20 {
        let started = Instant::now();
        let id = id_of(&app.handle(send_request(&i.to_string(), "jobs")).await)?;
        let delivered = tokio::time::timeout(Duration::from_secs(30), deliveries.wait_for(&id)).await?;
        if i >= 20 {
            latencies.push(delivered - started);
        }
    }
    // Many in flight: messages per second, sent by concurrent requests.
    let before = deliveries.count();
    let started = Instant::now();
    let sends = (0..IN_FLIGHT).map(|i| {
        let app = app.clone();
        async move { app.handle(send_request(&i.to_string(), "jobs")).await }
    });
    for response in futures::future::join_all(sends).await {
        id_of(&response)?;
    }
    let sent = started.elapsed();
    while deliveries.count() < before + IN_FLIGHT {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "not all messages were consumed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let consumed = started.elapsed();
    pump.abort();
    let (p50, p99) = (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.99));
    println!("\nmessaging: send -> consume through the embedded queue (plugin sends, pump delivers to noop)");
    println!("{:<60} {:>9.2} ms", "latency p50 (one message in flight)", p50.as_secs_f64() * 1e3);
    println!("{:<60} {:>9.2} ms", "latency p99 (one message in flight)", p99.as_secs_f64() * 1e3);
    println!(
        "{:<60} {:>9.0} /s",
        format!("sent by {IN_FLIGHT} concurrent requests"),
        IN_FLIGHT as f64 / sent.as_secs_f64()
    );
    println!("{:<60} {:>9.0} /s", "sent and consumed (all delivered)", IN_FLIGHT as f64 / consumed.as_secs_f64());
    Ok(())
}
