//! `make bench`: events, measured side by side in one process (ratios hold on a noisy
//! shared machine), on the `noop` guest so the numbers are the host's:
//!
//! - an SQS batch of 10 records through the Lambda entry's handler (`lambda::events::sqs`:
//!   parse, label lookup, 10 deliveries on fresh instances, `batchItemFailures`) vs the same
//!   10 as HTTP requests through `App::handle`, one after another and all at once;
//! - events per second through `plughost serve`'s embedded queue: messages sent to the
//!   durable SQLite queue and consumed by the pump (receive, deliver, acknowledge).
//!
//! Needs the guests built (`make plugins`; `make bench` does it).

use bytes::Bytes;
use plughost::capability::message_store::LocalEvents;
use plughost::serve::sources::pump;
use plughost::{App, Capabilities, EngineSettings, PluginEngine};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 2_000;
const QUEUED: usize = 5_000;

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let noop = root.join("target/wasm32-wasip2/plugin/noop.wasm");
    anyhow::ensure!(noop.exists(), "{} missing: run `make plugins`", noop.display());
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("plughost.toml");
    std::fs::write(
        &manifest,
        format!(
            "[queue.jobs]\n[plugins.noop]\nsource = \"{}\"\nroutes = [\"GET /noop\"]\nevents = [{{ queue = \"jobs\", batch = 10 }}]\n",
            noop.display()
        ),
    )?;
    // The storage map binds the queue (as in Lambda), so the AWS config loader runs: give
    // it a region and credentials. SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
    }
    // Warnings and errors only: a failed delivery in a bench is a bug to see.
    tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let engine = Arc::new(PluginEngine::new(EngineSettings::default())?);
        let storage_map = r#"{"queue":{"jobs":{"sqs":{"arn":"arn:aws:sqs:us-east-1:123456789012:jobs"}}}}"#;
        let capabilities = Capabilities::open(&dir.path().join("data"), "http://127.0.0.1", Some(storage_map)).await?;
        let app = Arc::new(App::load(engine, capabilities, &manifest, 1 << 20).await?);
        batch_vs_requests(&app).await?;
        embedded_queue(&app, &dir.path().join("data")).await
    })
}

/// Per record: an SQS batch of 10 vs 10 HTTP requests, interleaved round by round.
async fn batch_vs_requests(app: &Arc<App>) -> anyhow::Result<()> {
    let records: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            serde_json::json!({
                "messageId": format!("m{i}"), "receiptHandle": "r", "body": "{}", "md5OfBody": "",
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
                "awsRegion": "us-east-1", "attributes": { "ApproximateReceiveCount": "1" }, "messageAttributes": {}
            })
        })
        .collect();
    let batch = serde_json::json!({ "Records": records });
    let request = || http::Request::get("/noop").body(Bytes::new()).unwrap();
    let (mut in_batch, mut sequential, mut concurrent) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS + 200 {
        let started = Instant::now();
        let Some(Ok(plughost::lambda::records::AwsEvent::Records { event_source, records })) =
            plughost::lambda::records::recognise(&batch)
        else {
            anyhow::bail!("the batch is not recognised as records");
        };
        let answer = plughost::lambda::records::records(app, &event_source, &records, "bench", None)
            .await
            .map_err(|failure| anyhow::anyhow!("{}", failure.message))?;
        let batch_time = started.elapsed();
        anyhow::ensure!(answer["batchItemFailures"].as_array().is_some_and(Vec::is_empty), "{answer}");

        let started = Instant::now();
        for _ in 0..10 {
            anyhow::ensure!(app.handle(request()).await.status() == 200);
        }
        let sequential_time = started.elapsed();

        let started = Instant::now();
        let all = futures::future::join_all((0..10).map(|_| app.handle(request()))).await;
        anyhow::ensure!(all.iter().all(|r| r.status() == 200));
        let concurrent_time = started.elapsed();
        if round >= 200 {
            in_batch.push(batch_time / 10);
            sequential.push(sequential_time / 10);
            concurrent.push(concurrent_time / 10);
        }
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (b, s, c) =
        (percentile(&mut in_batch, 0.5), percentile(&mut sequential, 0.5), percentile(&mut concurrent, 0.5));
    println!("\nevents: per record / per request, {ROUNDS} rounds interleaved, p50 (noop guest)");
    println!("{:<56} {:>9.2} us", "SQS batch of 10 through the Lambda handler, per record", us(b));
    println!("{:<56} {:>9.2} us", "10 HTTP requests one after another, per request", us(s));
    println!("{:<56} {:>9.2} us", "10 HTTP requests at once, per request", us(c));
    println!("{:<56} {:>9.2}x", "batch record vs concurrent HTTP request", us(b) / us(c));
    Ok(())
}

/// Events per second through the embedded durable queue: send, then let the pump drain it.
async fn embedded_queue(app: &Arc<App>, data: &Path) -> anyhow::Result<()> {
    let events = LocalEvents::open(data)?;
    let started = Instant::now();
    for i in 0..QUEUED {
        events.send("jobs", format!("{{\"n\":{i}}}").into_bytes(), Vec::new()).await?;
    }
    let sent = started.elapsed();
    // The storage map binds `jobs` to an SQS ARN without a URL: the embedded queue serves it.
    let pump = pump::spawn(app.clone(), events.clone());
    let started = Instant::now();
    loop {
        let status = events.status().await?;
        if !status.queues.contains_key("jobs") {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "the queue did not drain: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed();
    pump.abort();
    println!("\nevents: the embedded durable queue (SQLite, synchronous=FULL), {QUEUED} messages");
    println!("{:<56} {:>9.0} /s", "sent (one durable insert each)", QUEUED as f64 / sent.as_secs_f64());
    println!(
        "{:<56} {:>9.0} /s",
        "consumed (receive batch of 10, deliver, acknowledge)",
        QUEUED as f64 / drained.as_secs_f64()
    );
    Ok(())
}
