//! `make bench`: throughput over real sockets, side by side in one run — the same
//! `GET /hello/{name}` answering `{"message":"Hello, ada!"}` from
//!
//! - a **native axum** server with that handler (this binary, re-run as the server);
//! - **`plughost serve`** (the release binary cargo built beside this bench) with the example
//!   manifest: the `hello` plugin, a fresh instance per request; the same with the access
//!   log off (`RUST_LOG=warn`); and `GET /v1/product/{id}` of the `products` plugin (one
//!   kv read on embedded storage);
//! - **`wasmtime serve`** 48 with a wasi:http hello component, when
//!   `scripts/install-bench-tools` could build them into `target/tools` (said and skipped
//!   otherwise).
//!
//! Each is driven by `wrk` (Debian's, installed by the script) with the same load; rounds
//! are interleaved (every server once per round) and the table prints medians, the ratio
//! to the native server, and the server's CPU per request (its user + system time from
//! `/proc` over the requests it answered). Client and servers share the machine's cores, so
//! the absolute figures are the machine's; the ratios are the result.
//!
//! Knobs: `PLUGHOST_LOAD_SECONDS` (per run, default 10), `PLUGHOST_LOAD_ROUNDS` (default 3),
//! `PLUGHOST_LOAD_CONNECTIONS` (default 32), `PLUGHOST_LOAD_ONLY=plughost` (only rows whose
//! name contains it; e.g. to `perf record` one server).

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set to an address: this binary serves the native handler there instead of benchmarking.
const NATIVE_SERVER_ENV: &str = "PLUGHOST_BENCH_NATIVE_LISTEN";

fn main() -> anyhow::Result<()> {
    if let Ok(listen) = std::env::var(NATIVE_SERVER_ENV) {
        return native_server(listen.parse()?);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize()?;
    let settings = Settings::from_env();
    let Some(wrk) = find_wrk() else {
        println!("load: wrk is not installed (scripts/install-bench-tools installs it): skipped");
        return Ok(());
    };
    for wasm in ["hello", "products", "users"] {
        let path = root.join(format!("target/wasm32-wasip2/plugin/{wasm}.wasm"));
        anyhow::ensure!(path.exists(), "{} missing: run `make plugins`", path.display());
    }
    let work = tempfile::tempdir()?;

    let mut servers = Vec::new();
    servers.push(Server::start("native axum handler", native_command()?, "/hello/ada")?);
    // Each plughost has its own data directory (embedded storage, local event sources) and
    // all share one compiled-component cache, filled by a first start: the measured servers
    // start like a restarted one, and their idle memory is not the compiler's.
    let plughost = |name: &str, level: &str| -> anyhow::Result<Server> {
        let command = plughost_command(&root, &work.path().join(dir_name(name)), &work.path().join("compiled"), level)?;
        Server::start(name, command, "/hello/ada")
    };
    plughost("warming the compiled cache", "info")?.stop();
    let hello = plughost("plughost serve, hello", "info")?;
    let quiet = plughost("plughost serve, hello, access log off", "warn")?;
    // The product reads in a process of their own: the two hello processes then differ in
    // their log level alone (the setup's Argon2id and the reads are no one's history).
    let mut products = plughost("plughost serve, GET /v1/product/{id}", "info")?;
    products.path = format!("/v1/product/{}", create_product(products.addr)?);
    servers.extend([hello, quiet, products]);
    match wasmtime_serve_command(&root) {
        Ok(command) => servers.push(Server::start("wasmtime serve (wasi:http hello)", command, "/hello/ada")?),
        Err(why) => println!("load: `wasmtime serve` skipped: {why}"),
    }
    // Rows left out stay alive to the end (and are stopped then).
    let (servers, _left_out): (Vec<Server>, Vec<Server>) = servers
        .into_iter()
        .partition(|server| settings.only.as_ref().is_none_or(|only| server.name.contains(only.as_str())));

    println!(
        "load: wrk -t2 -c{} -d{}s, {} rounds interleaved, medians; {} cores shared by client and servers",
        settings.connections,
        settings.seconds,
        settings.rounds,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut runs: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
    for round in 0..settings.rounds {
        // Every other round runs the servers in reverse order: none always follows the same
        // one (a server run right after a heavy one meets a warmer, busier machine).
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let (server, runs) = (&servers[index], &mut runs[index]);
            let run = drive(&wrk, server, &settings)?;
            if settings.rounds > 1 {
                println!(
                    "  round {}: {:<42} {:>9.0} req/s  cpu {:>6.1} µs/req",
                    round + 1,
                    server.name,
                    run.requests_per_second,
                    run.cpu_per_request_micros
                );
            }
            runs.push(run);
        }
    }

    let medians: Vec<Run> = runs.iter().map(|runs| Run::median(runs)).collect();
    // Ratios are taken round by round (the two runs of a round met the same machine) and
    // their median reported: steadier than a ratio of medians on a noisy machine.
    let row = |name: &str| servers.iter().position(|s| s.name == name);
    let paired = |a: usize, b: usize, of: fn(&Run) -> f64| {
        let mut ratios: Vec<f64> = runs[a].iter().zip(&runs[b]).map(|(a, b)| of(a) / of(b)).collect();
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    };
    let ratio = |a: usize, b: usize| paired(a, b, |run| run.requests_per_second);
    let native = row("native axum handler");
    println!();
    println!("| server | req/s | × native | p50 | p99 | server CPU per request | idle RSS (anon) | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (index, (server, run)) in servers.iter().zip(&medians).enumerate() {
        let ratio = native.map_or("—".to_owned(), |native| format!("{:.2}×", ratio(index, native)));
        println!(
            "| {} | {:.0} | {} | {} | {} | {:.1} µs | {:.1} MiB ({:.1}) | {:.1} MiB |",
            server.name,
            run.requests_per_second,
            ratio,
            micros(run.p50),
            micros(run.p99),
            run.cpu_per_request_micros,
            server.idle_kib as f64 / 1024.0,
            server.idle_anon_kib as f64 / 1024.0,
            rss_kib(server.pid, "VmHWM") as f64 / 1024.0,
        );
    }
    println!();
    let hello = row("plughost serve, hello");
    if let (Some(hello), Some(quiet)) = (hello, row("plughost serve, hello, access log off")) {
        let cost = 1.0 - ratio(hello, quiet);
        // Throughput moves ±10% between runs of one server here; the CPU each request
        // takes is steadier, so both are printed.
        let cpu = paired(hello, quiet, |run| run.cpu_per_request_micros) - 1.0;
        println!(
            "access log: costs {:.1}% of throughput (hello with it vs without, median of the rounds), {:+.1}% CPU per request",
            cost * 100.0,
            cpu * 100.0
        );
    }
    if let (Some(hello), Some(product)) = (hello, row("plughost serve, GET /v1/product/{id}")) {
        println!("GET /v1/product/{{id}}: {:.2}× hello's req/s", ratio(product, hello));
    }
    if let (Some(hello), Some(wasmtime)) = (hello, row("wasmtime serve (wasi:http hello)")) {
        println!("plughost hello: {:.1}× `wasmtime serve`", ratio(hello, wasmtime));
    }
    println!("(idle RSS: after start with a warm compiled cache and one request; peak: the most it held by the end)");
    for server in servers {
        server.stop();
    }
    Ok(())
}

struct Settings {
    seconds: u64,
    rounds: usize,
    connections: u32,
    only: Option<String>,
}

impl Settings {
    fn from_env() -> Self {
        let number =
            |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        Self {
            seconds: number("PLUGHOST_LOAD_SECONDS", 10),
            rounds: number("PLUGHOST_LOAD_ROUNDS", 3).max(1) as usize,
            connections: number("PLUGHOST_LOAD_CONNECTIONS", 32) as u32,
            only: std::env::var("PLUGHOST_LOAD_ONLY").ok(),
        }
    }
}

/// One server process under test and the path its rows request.
struct Server {
    name: String,
    pid: u32,
    addr: SocketAddr,
    path: String,
    child: Option<Child>,
    /// Resident memory once it answered its first request.
    idle_kib: u64,
    /// Of that, anonymous memory (heap, stacks, instance slots in use): what the process
    /// holds for itself. The rest is file-backed — the binary's and the compiled
    /// components' mapped pages, shared with the page cache and reclaimable.
    idle_anon_kib: u64,
}

impl Server {
    /// Starts `command` (which listens on the address given as `{addr}` in its arguments
    /// or environment) and waits until `path` answers 200.
    fn start(name: &str, (mut command, addr): (Command, SocketAddr), path: &str) -> anyhow::Result<Self> {
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).spawn()?;
        let mut server = Self {
            name: name.to_owned(),
            pid: child.id(),
            addr,
            path: path.to_owned(),
            child: Some(child),
            idle_kib: 0,
            idle_anon_kib: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(200) = get_status(addr, path) {
                server.idle_kib = rss_kib(server.pid, "VmRSS");
                server.idle_anon_kib = rss_kib(server.pid, "RssAnon");
                return Ok(server);
            }
            anyhow::ensure!(Instant::now() < deadline, "{name} did not answer GET {path} on {addr} within 180 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (also when dropped: a failed or filtered-out run leaves nothing behind).
    fn stop(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: plughost finishes in-flight requests and flushes its log.
            // SAFETY: a signal to our own child, whose pid is not reused before we reap it.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory name for a row's name.
fn dir_name(name: &str) -> String {
    name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
}

/// A free port on 127.0.0.1 (bound, read, released: the server binds it next).
fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn native_command() -> anyhow::Result<(Command, SocketAddr)> {
    let addr = free_addr()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.env(NATIVE_SERVER_ENV, addr.to_string());
    Ok((command, addr))
}

/// `plughost serve` of the example manifest, its log to a file (as a log shipper would
/// read it), at `level`.
fn plughost_command(root: &Path, data_dir: &Path, cache: &Path, level: &str) -> anyhow::Result<(Command, SocketAddr)> {
    let addr = free_addr()?;
    std::fs::create_dir_all(data_dir)?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_plughost"));
    command
        .current_dir(root)
        .args(["serve", "--manifest", "plughost.toml", "--no-watch", "--listen", &addr.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--cache-dir")
        .arg(cache)
        .env("RUST_LOG", level)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .stderr(std::fs::File::create(data_dir.join("plughost.log"))?);
    Ok((command, addr))
}

/// `wasmtime serve` of the wasi:http hello, both from `target/tools`.
fn wasmtime_serve_command(root: &Path) -> Result<(Command, SocketAddr), String> {
    let wasmtime = root.join("target/tools/wasmtime/bin/wasmtime");
    let component = root.join("target/tools/wasi-http-hello.wasm");
    for (path, what) in [(&wasmtime, "the wasmtime CLI"), (&component, "the wasi:http hello component")] {
        if !path.exists() {
            return Err(format!("{what} is not built ({}; scripts/install-bench-tools builds it)", path.display()));
        }
    }
    let addr = free_addr().map_err(|e| e.to_string())?;
    let mut command = Command::new(wasmtime);
    // `-Scli`: the wasi:cli imports a Rust guest's std links (environment, exit, stdio).
    command.args(["serve", "-Scli", "--addr", &addr.to_string()]).arg(component).stderr(Stdio::null());
    Ok((command, addr))
}

fn find_wrk() -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join("wrk")).find(|p| p.exists())
}

/// The median run of each measure (taken separately).
struct Run {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_request_micros: f64,
}

impl Run {
    fn median(runs: &[Run]) -> Run {
        let mid = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let durations = |f: fn(&Run) -> Duration| {
            let mut values: Vec<Duration> = runs.iter().map(f).collect();
            values.sort();
            values[values.len() / 2]
        };
        Run {
            requests_per_second: mid(runs.iter().map(|r| r.requests_per_second).collect()),
            p50: durations(|r| r.p50),
            p99: durations(|r| r.p99),
            cpu_per_request_micros: mid(runs.iter().map(|r| r.cpu_per_request_micros).collect()),
        }
    }
}

/// One wrk run against `server`, with the server's CPU time over it.
fn drive(wrk: &Path, server: &Server, settings: &Settings) -> anyhow::Result<Run> {
    let url = format!("http://{}{}", server.addr, server.path);
    let cpu_before = cpu_seconds(server.pid)?;
    let output = Command::new(wrk)
        .args(["-t2", &format!("-c{}", settings.connections), &format!("-d{}s", settings.seconds), "--latency", &url])
        .stderr(Stdio::inherit())
        .output()?;
    let cpu = cpu_seconds(server.pid)? - cpu_before;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "wrk failed on {url}: {text}");
    // Every answer must be the real one: a server that fails fast is not a fast server.
    anyhow::ensure!(
        !text.contains("Non-2xx or 3xx responses"),
        "{}: answers that are not 200 under load:\n{text}",
        server.name
    );
    let requests: f64 =
        field(&text, "requests in").ok_or_else(|| anyhow::anyhow!("no request count in wrk's output:\n{text}"))?;
    let requests_per_second =
        field(&text, "Requests/sec:").ok_or_else(|| anyhow::anyhow!("no Requests/sec:\n{text}"))?;
    Ok(Run {
        requests_per_second,
        p50: latency(&text, "50%").unwrap_or_default(),
        p99: latency(&text, "99%").unwrap_or_default(),
        cpu_per_request_micros: cpu / requests.max(1.0) * 1e6,
    })
}

/// The number beside `label` in wrk's output (`1043490 requests in 10.00s`,
/// `Requests/sec: 104349.00`).
fn field(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.contains(label))?;
    if line.trim_start().starts_with(label) {
        line.trim_start()[label.len()..].split_whitespace().next()?.parse().ok()
    } else {
        line.split_whitespace().next()?.parse().ok()
    }
}

/// A latency percentile from wrk's `--latency` distribution (`50%  241.00us`).
fn latency(text: &str, percentile: &str) -> Option<Duration> {
    let line = text.lines().map(str::trim).find(|line| line.starts_with(percentile))?;
    let value = line.split_whitespace().nth(1)?;
    let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic())?);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

fn micros(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// User + system CPU seconds of process `pid` and its threads so far (`/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').ok_or_else(|| anyhow::anyhow!("odd /proc/{pid}/stat"))? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks as f64 / per_second)
}

/// A `/proc/<pid>/status` memory line (`VmRSS`, `VmHWM`) in KiB.
fn rss_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A plain HTTP/1.1 GET, its status code (readiness checks; no client library needed).
fn get_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// Signs a user up and creates a product on the `plughost` at `addr`; returns its id.
fn create_product(addr: SocketAddr) -> anyhow::Result<String> {
    let client = reqwest::blocking::Client::new();
    let base = format!("http://{addr}");
    let (user, password) = ("bench@example.com", "correct horse battery");
    let signed_up = client
        .post(format!("{base}/v1/user"))
        .json(&serde_json::json!({ "username": user, "password": password, "first_name": "Ben", "last_name": "Ch" }))
        .send()?;
    // 400: signed up by an earlier run on the same data directory.
    anyhow::ensure!(matches!(signed_up.status().as_u16(), 201 | 400), "sign-up: {}", signed_up.status());
    let sku = format!("BENCH-{}", std::process::id());
    let created = client
        .post(format!("{base}/v1/product"))
        .basic_auth(user, Some(password))
        .json(&serde_json::json!({ "name": "Lamp", "description": "A desk lamp", "sku": sku, "manufacturer": "Acme", "quantity": 5 }))
        .send()?;
    anyhow::ensure!(created.status().as_u16() == 201, "create product: {}", created.status());
    let product: serde_json::Value = created.json()?;
    product["id"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no product id in {product}"))
}

/// The native handler: what a user would write in axum instead of a plugin.
fn native_server(listen: SocketAddr) -> anyhow::Result<()> {
    async fn hello(axum::extract::Path(name): axum::extract::Path<String>) -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({ "message": format!("Hello, {name}!") }))
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let app = axum::Router::new().route("/hello/{name}", axum::routing::get(hello));
        axum::serve(listener, app).await?;
        Ok(())
    })
}
