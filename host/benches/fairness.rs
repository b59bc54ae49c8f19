//! `make bench`, fairness table: does one plugin's abuse slow another? The real `plughost
//! serve` (release) on loopback, a neighbour (`GET /hello/{name}` from 4 clients) measured
//! alone and then while 30 concurrent hostile clients hammer another plugin with each kind
//! of attack, one kind at a time, all in one run so the ratios hold on a noisy machine:
//!
//! | attack         | what the hostile plugin does                                  |
//! |----------------|---------------------------------------------------------------|
//! | cpu loop       | `misbehave /loop`: spins until its timeout; 30 clients are more than its concurrency cap, so this is also the slot hog |
//! | memory hog     | `misbehave /alloc`: allocates until its `max_memory`          |
//! | stdout flood   | `misbehave /stdout-flood`: 1 MiB of newlines to stdout        |
//! | kv storm       | `kv-probe /kv-storm`: transactions of 100 x 350 KiB values    |
//! | hung backend   | `kv-probe /kv` on a store in DynamoDB (moto) that is SIGSTOPped |
//! | sign-up crowd  | `users POST /v1/user`: new accounts, each an Argon2id hash (19 MiB, ~100 ms) |
//! | dns hang       | `http-probe /fetch` of names whose DNS server never answers (`PLUGHOST_DNS_SERVERS` points at a silent socket) |
//!
//! The DNS hang is also measured against a storage neighbour — kv writes of another
//! plugin (`PUT /kv/notes/{key}`, 4 clients), alone and beside it — the case where lookups
//! on tokio's shared blocking pool once left embedded storage without a thread.
//!
//! Printed per attack: the neighbour's p50/p99 and their ratio to alone, the neighbour's
//! non-200 answers, the hostile requests' statuses and their slowest time (as the server's
//! access log measured it, and as the client saw it: client and server share the cores,
//! so the client's figure includes its own scheduling delays) against their
//! bound (timeout + queue timeout), and the server's resident memory after each attack
//! and its high-water mark so far (`VmRSS` / `VmHWM`). Goal: neighbour p99 < 250 ms, no 503 for it, every
//! hostile request ended within its bound + 100 ms.
//!
//! Needs the guests (`make plugins`) and moto (`make tools`); `make bench` does both.

#[path = "../tests/integration/support/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(6);
const HOSTILE_CLIENTS: usize = 30;
const NEIGHBOUR_CLIENTS: usize = 4;
/// The hostile plugins' timeout and the server's queue timeout: a hostile request's bound.
const TIMEOUT: Duration = Duration::from_secs(2);
const QUEUE_TIMEOUT: Duration = Duration::from_millis(500);

fn guest(name: &str) -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/plugin").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} missing: run `make plugins`", path.display());
    path
}

struct Server {
    child: Child,
    base: String,
    /// `(path, micros)` of every access line so far (server-side durations).
    access: Arc<Mutex<Vec<(String, u64)>>>,
}

impl Server {
    /// The longest server-side time of requests whose path does not start with
    /// `/hello`, among the access lines since the last call.
    fn slowest_hostile(&self) -> Duration {
        let lines = std::mem::take(&mut *self.access.lock().unwrap());
        let micros = lines.iter().filter(|(path, _)| !path.starts_with("/hello")).map(|(_, m)| *m).max();
        Duration::from_micros(micros.unwrap_or(0))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path, env: &[(&str, &str)]) -> Server {
    let manifest = dir.join("plughost.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[kv.scratch]
[kv.remote]
[kv.users]

[plugins.users]
source = "{users}"
routes = ["POST /v1/user"]
kv = {{ users = "read-write" }}
limits = {{ timeout = "2s" }}

[plugins.hello]
source = "{hello}"
routes = ["GET /hello/{{name}}"]

[plugins.hostile]
source = "{misbehave}"
routes = ["GET /loop", "GET /alloc", "GET /stdout-flood"]
limits = {{ timeout = "2s", max_memory = "64 MiB" }}

[plugins.stormy]
source = "{kv_probe}"
routes = ["POST /kv-storm/{{label}}"]
kv = {{ scratch = "read-write" }}
limits = {{ timeout = "2s" }}

[plugins.remote]
source = "{kv_probe}"
routes = ["GET /other/kv/{{label}}/{{key}}"]
kv = {{ remote = "read" }}
limits = {{ timeout = "2s" }}

[kv.notes]

[plugins.resolver]
source = "{http_probe}"
routes = ["POST /fetch"]
allowed_outbound_hosts = ["*://*:*"]
limits = {{ timeout = "2s" }}

[plugins.writer]
source = "{kv_probe}"
routes = ["PUT /kv/{{label}}/{{key}}"]
kv = {{ notes = "read-write" }}
"#,
            hello = guest("hello").display(),
            misbehave = guest("misbehave").display(),
            kv_probe = guest("kv_probe").display(),
            users = guest("users").display(),
            http_probe = guest("http_probe").display(),
        ),
    )
    .unwrap();
    let storage = dir.join("storage.toml");
    std::fs::write(&storage, "[kv.remote]\ndynamodb = { table = \"bench\", prefix = \"remote\" }\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_plughost"))
        .arg("serve")
        .args(["--manifest", manifest.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--no-watch"])
        .args(["--storage", storage.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--max-instances", "64", "--queue-timeout", "500ms"])
        .envs(env.iter().copied())
        .args(["--log-format", "json"])
        .env("RUST_LOG", "warn,plughost::access=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start plughost");
    let mut child = child;
    let stderr = child.stderr.take().unwrap();
    let access = Arc::new(Mutex::new(Vec::new()));
    let sink = access.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if event["target"] == "plughost::access" {
                let path = event["path"].as_str().unwrap_or_default().to_owned();
                sink.lock().unwrap().push((path, event["micros"].as_u64().unwrap_or(0)));
            }
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "plughost did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, base, access }
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
}

impl Samples {
    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort();
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }

    fn max(&self) -> Duration {
        self.latencies.iter().max().copied().unwrap_or_default()
    }

    fn non_200(&self) -> usize {
        self.statuses.iter().filter(|(s, _)| **s != 200).map(|(_, n)| n).sum()
    }

    fn statuses(&self) -> String {
        self.statuses.iter().map(|(s, n)| format!("{s}x{n}")).collect::<Vec<_>>().join(" ")
    }
}

/// `clients` loops of `request` until `stop`; every answer's latency and status.
async fn hammer(
    http: reqwest::Client,
    clients: usize,
    stop: Arc<AtomicBool>,
    request: impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + Clone + 'static,
) -> Samples {
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (http, stop, request) = (http.clone(), stop.clone(), request.clone());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let status = match request(&http, client * 1_000_000 + n).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    samples.latencies.push(started.elapsed());
                    *samples.statuses.entry(status).or_default() += 1;
                    n += 1;
                }
                samples
            })
        })
        .collect();
    let mut all = Samples::default();
    for task in tasks {
        let samples = task.await.unwrap();
        all.latencies.extend(samples.latencies);
        for (status, count) in samples.statuses {
            *all.statuses.entry(status).or_default() += count;
        }
    }
    all
}

/// One kind of request, numbered per client loop.
type Request = Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let moto = moto::Moto::start().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    moto.create_kv_table(&dynamo, "bench").await;
    let dir = tempfile::tempdir().unwrap();
    // A name server that never answers: it receives, and says nothing.
    let silent_dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = silent_dns.local_addr().unwrap().to_string();
    let mut env = moto.env().to_vec();
    env.push(("PLUGHOST_DNS_SERVERS", dns.as_str()));
    let server = start_server(dir.path(), &env);
    let base = server.base.clone();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(64).build().unwrap();
    // Warm up: every plugin answers once.
    for path in ["/hello/warm", "/other/kv/remote/x"] {
        let status = http.get(format!("{base}{path}")).send().await.unwrap().status();
        assert_eq!(status, 200, "{path}");
    }

    let url = move |path: String| format!("{base}{path}");
    let get = |path: &'static str| {
        let url = url.clone();
        Arc::new(move |http: &reqwest::Client, _: usize| http.get(url(path.into()))) as Request
    };
    let attacks: Vec<(&str, Request)> = vec![
        ("cpu loop/slots", get("/loop")),
        ("memory hog", get("/alloc")),
        ("stdout flood", get("/stdout-flood?bytes=1048576")),
        ("kv storm", {
            let url = url.clone();
            Arc::new(move |http: &reqwest::Client, _: usize| {
                http.post(url("/kv-storm/scratch?rounds=1000&values=100&size=358400".into()))
            })
        }),
        ("hung backend", {
            let url = url.clone();
            Arc::new(move |http: &reqwest::Client, n: usize| http.get(url(format!("/other/kv/remote/k{n}"))))
        }),
        ("sign-up crowd", {
            let url = url.clone();
            Arc::new(move |http: &reqwest::Client, n: usize| {
                let body = format!(
                    r#"{{"username":"crowd{n}@example.com","password":"a long enough password","first_name":"C","last_name":"D"}}"#
                );
                http.post(url("/v1/user".into())).header("content-type", "application/json").body(body)
            })
        }),
        ("dns hang", dns_hang(url.clone())),
    ];

    let hello_request: Request = {
        let url = url.clone();
        Arc::new(move |http: &reqwest::Client, n: usize| http.get(url(format!("/hello/n{n}"))))
    };
    // `neighbour` from NEIGHBOUR_CLIENTS for WINDOW, beside `attack` from HOSTILE_CLIENTS.
    let measure = |neighbour: Request, attack: Option<Request>| {
        let http = http.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let hostile = attack.map(|request| {
                let request = move |http: &reqwest::Client, n: usize| request(http, n);
                tokio::spawn(hammer(http.clone(), HOSTILE_CLIENTS, stop.clone(), request))
            });
            // Let the attack reach its steady state before measuring the neighbour.
            if hostile.is_some() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let neighbour = move |http: &reqwest::Client, n: usize| neighbour(http, n);
            let measured = tokio::spawn(hammer(http.clone(), NEIGHBOUR_CLIENTS, stop.clone(), neighbour));
            tokio::time::sleep(WINDOW).await;
            stop.store(true, Ordering::Relaxed);
            let neighbour = measured.await.unwrap();
            let hostile = match hostile {
                Some(task) => Some(task.await.unwrap()),
                None => None,
            };
            (neighbour, hostile)
        }
    };

    let pid = server.child.id();
    let (mut alone, _) = measure(hello_request.clone(), None).await;
    let (alone_p50, alone_p99) = (alone.percentile(0.5), alone.percentile(0.99));
    println!(
        "\nfairness: GET /hello/{{name}} from {NEIGHBOUR_CLIENTS} clients for {WINDOW:?}, alone and beside \
         {HOSTILE_CLIENTS} hostile clients (plughost serve, release; hostile timeout {TIMEOUT:?}, queue timeout \
         {QUEUE_TIMEOUT:?})\n"
    );
    let row = |cells: [String; 9]| println!("| {} |", cells.join(" | "));
    row([
        "beside",
        "hello p50",
        "× alone",
        "hello p99",
        "× alone",
        "hello non-200",
        "hostile answers",
        "hostile slowest: server (client)",
        "server RSS now / peak",
    ]
    .map(str::to_owned));
    println!("|{}|", ["---"; 9].join("|"));
    row([
        "(alone)".into(),
        format!("{alone_p50:.2?}"),
        "1.00".into(),
        format!("{alone_p99:.2?}"),
        "1.00".into(),
        alone.non_200().to_string(),
        String::new(),
        String::new(),
        memory(pid),
    ]);
    let bound = TIMEOUT + QUEUE_TIMEOUT;
    server.slowest_hostile();
    for (name, request) in attacks {
        if name == "hung backend" {
            moto.pause();
        }
        let (mut hello, hostile) = measure(hello_request.clone(), Some(request)).await;
        if name == "hung backend" {
            moto.resume();
        }
        let hostile = hostile.unwrap();
        let (p50, p99) = (hello.percentile(0.5), hello.percentile(0.99));
        let (slowest, client_slowest) = (server.slowest_hostile(), hostile.max());
        let verdict = if slowest <= bound + Duration::from_millis(100) { "within" } else { "OVER" };
        let neighbour_errors = match hello.non_200() {
            0 => "0".to_owned(),
            n => format!("{n} ({})", hello.statuses()),
        };
        row([
            name.to_owned(),
            format!("{p50:.2?}"),
            format!("{:.2}", p50.as_secs_f64() / alone_p50.as_secs_f64()),
            format!("{p99:.2?}"),
            format!("{:.2}", p99.as_secs_f64() / alone_p99.as_secs_f64()),
            neighbour_errors,
            hostile.statuses(),
            format!("{slowest:.2?} ({client_slowest:.2?}) {verdict} bound"),
            memory(pid),
        ]);
    }
    println!(
        "\nbound = hostile timeout + queue timeout ({bound:?}); goal: hello p99 < 250 ms, no 503 for hello, \
         every hostile answer within bound + 100 ms"
    );

    // The storage neighbour: kv writes alone, then beside the DNS hang.
    let writer: Request = {
        let url = url.clone();
        Arc::new(move |http: &reqwest::Client, n: usize| http.put(url(format!("/kv/notes/w{n}"))).body("v"))
    };
    let (mut alone, _) = measure(writer.clone(), None).await;
    let (mut beside, _) = measure(writer, Some(dns_hang(url.clone()))).await;
    println!(
        "\nstorage neighbour: PUT /kv/notes/{{key}} (embedded kv) from {NEIGHBOUR_CLIENTS} clients for {WINDOW:?}\n"
    );
    println!("| beside | write p50 | × alone | write p99 | × alone | writes not 200 |");
    println!("|---|---|---|---|---|---|");
    let (a50, a99) = (alone.percentile(0.5), alone.percentile(0.99));
    println!("| (alone) | {a50:.2?} | 1.00 | {a99:.2?} | 1.00 | {} |", alone.non_200());
    let (b50, b99) = (beside.percentile(0.5), beside.percentile(0.99));
    println!(
        "| dns hang | {b50:.2?} | {:.2} | {b99:.2?} | {:.2} | {} |",
        b50.as_secs_f64() / a50.as_secs_f64(),
        b99.as_secs_f64() / a99.as_secs_f64(),
        beside.non_200()
    );
    drop(silent_dns);
    drop(server);
}

/// The DNS hang: each request looks up a fresh name under `hang.test`, which the silent
/// name server never answers; the lookup waits until the request's deadline.
fn dns_hang(url: impl Fn(String) -> String + Send + Sync + 'static) -> Request {
    Arc::new(move |http: &reqwest::Client, n: usize| {
        let body = format!(r#"{{"url":"http://n{n}.hang.test/"}}"#);
        http.post(url("/fetch".into())).header("content-type", "application/json").body(body)
    })
}

/// `VmRSS / VmHWM` of process `pid`, in MiB.
fn memory(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or_else(|| "?".to_owned(), |kib| (kib / 1024).to_string())
    };
    format!("{} / {} MiB", field("VmRSS:"), field("VmHWM:"))
}
