//! `make bench`, second table: the real `plughost` binary (release) from process start to
//! its first answer, hot swap latency, and resident memory — measured side by side in one
//! run, so the ratios hold on a noisy shared machine.
//!
//! - cold start to the first `GET /hello/{name}` answer with 10 plugins: compiling
//!   everything, from the local compiled cache, from a deployment in S3 (moto) compiling,
//!   from S3 with the signed shared cache, and compiling lazily (only what the first
//!   request needs); against the host with one cached plugin;
//! - hot swap: from `plughost push` returning to the first answer from the new version
//!   (`serve --manifest s3://...` polling every 200 ms, as a warm Lambda instance would);
//! - resident memory with 10 plugins loaded, after 16 clients sent requests for 3 s.
//!
//! Needs the guests (`make plugins`) and moto (`make tools`); `make bench` does both.

#[path = "../tests/integration/support/moto.rs"]
#[allow(dead_code)]
mod moto;
#[path = "../tests/integration/support/variants.rs"]
mod variants;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;
const ARTIFACT_KEY: &str = "bench artifact key, at least 32 characters";
const BUCKET: &str = "bench";

fn guest(name: &str) -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/plugin").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} missing: run `make plugins`", path.display());
    path
}

/// `hello.wasm` answering with another 5-byte greeting: a distinct component (digest) of
/// the same size and shape.
fn hello_variant(greeting: &[u8; 5]) -> Vec<u8> {
    variants::hello_with_greeting(&std::fs::read(guest("hello")).unwrap(), greeting)
}

/// A manifest with 10 distinct components (the example plugins, the test guests and three
/// variants of hello) in `dir`; `only_hello` keeps just `hello` (the baseline).
fn write_manifest(dir: &Path, only_hello: bool) -> PathBuf {
    let mut text =
        format!("[plugins.hello]\nsource = \"{}\"\nroutes = [\"GET /hello/{{name}}\"]\n", guest("hello").display());
    if !only_hello {
        text.push_str("[kv.users]\n[kv.products]\n[kv.notes]\n[blob.images]\n");
        let plugins = [
            ("pricing", "[\"GET /v1/currencies\"]", ""),
            ("users", "[\"POST /v1/user\"]", "kv = { users = \"read-write\" }"),
            (
                "products",
                "[\"POST /v1/product\"]",
                "kv = { products = \"read-write\", users = \"read\" }\nblob = { images = \"read-write\" }",
            ),
            ("misbehave", "[\"GET /ok\"]", ""),
            ("kv_probe", "[\"GET /kv/{label}/{key}\"]", "kv = { notes = \"read\" }"),
            ("blob_probe", "[\"GET /blob/{label}\"]", "blob = { images = \"read\" }"),
        ];
        for (name, routes, grants) in plugins {
            let id = name.replace('_', "-");
            text.push_str(&format!(
                "[plugins.{id}]\nsource = \"{}\"\nroutes = {routes}\n{grants}\n",
                guest(name).display()
            ));
        }
        for (i, greeting) in [b"Hallo", b"Hola!", b"Salut"].into_iter().enumerate() {
            let file = dir.join(format!("variant{i}.wasm"));
            std::fs::write(&file, hello_variant(greeting)).unwrap();
            text.push_str(&format!(
                "[plugins.variant{i}]\nsource = \"{}\"\nroutes = [\"GET /variant{i}\"]\n",
                file.display()
            ));
        }
    }
    let path = dir.join(if only_hello { "one.toml" } else { "ten.toml" });
    std::fs::write(&path, text).unwrap();
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Host {
    child: Child,
    port: u16,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    /// `plughost serve` with `args` and `env`, and the time until `GET /hello/bench` is
    /// answered 200.
    fn start(args: &[&str], env: &[(&str, &str)]) -> (Self, Duration) {
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_plughost"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start plughost");
        let host = Self { child, port };
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        loop {
            if let Ok(response) = client.get(host.url("/hello/bench")).send()
                && response.status() == 200
            {
                return (host, started.elapsed());
            }
            assert!(started.elapsed() < Duration::from_secs(120), "plughost did not answer within 120 s");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// (VmRSS, VmHWM) in MiB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> f64 {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:>9.1} ms", d.as_secs_f64() * 1e3)
}

fn plughost_cli(args: &[&str], env: &[(&str, &str)]) {
    let output = Command::new(env!("CARGO_BIN_EXE_plughost")).args(args).envs(env.iter().copied()).output().unwrap();
    assert!(output.status.success(), "plughost {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let moto = runtime.block_on(moto::Moto::start());
    runtime.block_on(async {
        let s3 = plughost::platform::aws::s3(&moto.sdk_config().await);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    });
    let aws: Vec<(&str, &str)> = moto.env().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let one = write_manifest(dir.path(), true);
    let ten = write_manifest(dir.path(), false);
    let deployment = format!("s3://{BUCKET}/bench/manifest.toml");
    plughost_cli(&["deploy", ten.to_str().unwrap(), "--manifest", &deployment], &aws);

    let run_dir = |name: &str, i: usize| dir.path().join(format!("{name}-{i}")).display().to_string();
    let cold = |manifest: &str, data_dir: String, cache_dir: Option<String>, env: &[(&str, &str)]| {
        let mut args = vec!["--manifest", manifest, "--data-dir", &data_dir, "--no-watch"];
        let cache;
        if let Some(dir) = cache_dir {
            cache = dir;
            args.extend(["--cache-dir", &cache]);
        }
        Host::start(&args, env).1
    };
    let shared = dir.path().join("shared-cache").display().to_string();
    // Warm the caches the cached cases read: local disk, and the signed artifacts in S3.
    cold(one.to_str().unwrap(), run_dir("warm-one", 0), Some(shared.clone()), &[]);
    cold(ten.to_str().unwrap(), run_dir("warm-ten", 0), Some(shared.clone()), &[]);
    let mut with_key = aws.clone();
    with_key.push(("PLUGHOST_ARTIFACT_KEY", ARTIFACT_KEY));
    {
        let data_dir = run_dir("warm-s3", 0);
        let (_host, _) = Host::start(&["--manifest", &deployment, "--data-dir", &data_dir, "--no-watch"], &with_key);
        std::thread::sleep(Duration::from_secs(3)); // the background upload of the signed artifacts
    }

    let mut rows: Vec<(&str, Duration)> = Vec::new();
    let mut baseline = Vec::new();
    let mut scratch = Vec::new();
    let mut local = Vec::new();
    let mut s3_compile = Vec::new();
    let mut s3_shared = Vec::new();
    let mut lazy = Vec::new();
    // Interleaved, so a burst of noise hits every case alike.
    for i in 0..RUNS {
        baseline.push(cold(one.to_str().unwrap(), run_dir("one", i), Some(shared.clone()), &[]));
        scratch.push(cold(ten.to_str().unwrap(), run_dir("scratch", i), None, &[]));
        local.push(cold(ten.to_str().unwrap(), run_dir("local", i), Some(shared.clone()), &[]));
        s3_compile.push(cold(&deployment, run_dir("s3", i), None, &aws));
        s3_shared.push(cold(&deployment, run_dir("s3-shared", i), None, &with_key));
        lazy.push(cold(ten.to_str().unwrap(), run_dir("lazy", i), None, &[("PLUGHOST_COMPILE", "lazy")]));
    }
    let base = median(baseline);
    rows.push(("host + 1 plugin from the local cache (baseline)", base));
    rows.push(("10 plugins, compiling every component", median(scratch)));
    rows.push(("10 plugins, local compiled cache", median(local)));
    rows.push(("10 plugins from S3 (moto), compiling", median(s3_compile)));
    rows.push(("10 plugins from S3 (moto), signed shared cache", median(s3_shared)));
    rows.push(("10 plugins, --compile lazy, no cache", median(lazy)));

    println!();
    println!("plughost cold start — release binary, process start to first 200, median of {RUNS}");
    println!("{:<52} {:>12} {:>14}", "case", "time", "over baseline");
    for (name, time) in &rows {
        let over = time.saturating_sub(base);
        println!("{name:<52} {} {:>11.1} ms", ms(*time), over.as_secs_f64() * 1e3);
    }

    // Hot swap: push, then poll until the new answer.
    let hello = dir.path().join("hello.wasm");
    let howdy = dir.path().join("howdy.wasm");
    std::fs::copy(guest("hello"), &hello).unwrap();
    std::fs::write(&howdy, hello_variant(b"Howdy")).unwrap();
    let (host, _) =
        Host::start(&["--manifest", &deployment, "--data-dir", &run_dir("swap", 0), "--refresh", "200ms"], &with_key);
    let client = reqwest::blocking::Client::new();
    let mut swaps = Vec::new();
    let mut pushes = Vec::new();
    for i in 0..RUNS * 2 {
        let (file, expected) = if i % 2 == 0 { (&howdy, "Howdy, bench!") } else { (&hello, "Hello, bench!") };
        let push_started = Instant::now();
        plughost_cli(&["push", file.to_str().unwrap(), "--plugin", "hello", "--manifest", &deployment], &aws);
        pushes.push(push_started.elapsed());
        let pushed = Instant::now();
        loop {
            let body: serde_json::Value = client.get(host.url("/hello/bench")).send().unwrap().json().unwrap();
            if body["message"] == expected {
                swaps.push(pushed.elapsed());
                break;
            }
            assert!(pushed.elapsed() < Duration::from_secs(30), "no swap within 30 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    println!();
    println!("hot swap — `serve --manifest s3://...` refreshing every 200 ms, median of {}", RUNS * 2);
    println!("{:<52} {}", "`plughost push` (check, upload, manifest CAS)", ms(median(pushes)));
    println!("{:<52} {}", "push returned -> first answer from the new version", ms(median(swaps)));
    drop(host);

    // Memory under load.
    let (host, _) = Host::start(
        &["--manifest", ten.to_str().unwrap(), "--data-dir", &run_dir("rss", 0), "--cache-dir", &shared],
        &[],
    );
    let (idle, _) = host.memory();
    let stop = Instant::now() + Duration::from_secs(3);
    let served = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16)
            .map(|w| {
                let url = host.url(if w % 2 == 0 { "/hello/load" } else { "/v1/currencies" });
                scope.spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    let mut n = 0u64;
                    while Instant::now() < stop {
                        assert!(client.get(&url).send().unwrap().status().is_success());
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>()
    });
    let (after, peak) = host.memory();
    println!();
    println!("resident memory — 10 plugins loaded, 16 clients for 3 s ({served} requests)");
    println!("{:<52} {:>9.1} MiB", "RSS idle after loading", idle);
    println!("{:<52} {:>9.1} MiB", "RSS after the load", after);
    println!("{:<52} {:>9.1} MiB", "peak RSS (VmHWM)", peak);
}
