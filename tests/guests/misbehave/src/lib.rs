//! Test guest `misbehave`: each route breaks a rule, and the host tests assert the host
//! contains it.
//!
//! | route                 | does                                  | the host must                      |
//! |-----------------------|---------------------------------------|------------------------------------|
//! | `GET /loop`           | spins forever                         | answer 504 at the deadline         |
//! | `GET /alloc`          | allocates until it fails              | answer 500 memory limit, no crash  |
//! | `GET /panic`          | panics with a message                 | answer 500, log the message        |
//! | `GET /big-response`   | returns `?bytes=N` bytes              | answer 500 past max response size  |
//! | `GET /bad-header`     | returns a header with a newline       | answer 500, not forward it         |
//! | `GET /sandbox`        | reports env, args, files it can see   | show it nothing                    |
//! | `GET /stdio`          | prints to stdout and stderr           | turn them into tagged log lines    |
//! | `GET /config`         | returns all its config values         | show only this plugin's values     |
//! | `GET /leak-config`    | logs every config value (log, stdout) | redact its secret values in logs   |
//! | `GET /ok`             | answers 200 `ok`                      | (proves the host still serves)     |
//! | `GET /binary`         | returns bytes 0..=255 (octet-stream)  | deliver them intact (base64 in Lambda) |
//! | `POST /echo`          | returns the body and its content type | deliver binary bodies both ways    |
//! | `GET /alloc-then-spin` | grows until refused (`try_reserve`), survives it, then spins | still report the memory limit (500), not the timeout it runs into |
//! | `GET /stdout-flood`   | `?bytes=N` newlines to stdout, each write as big as `check-write` permits | stay linear: answer 200 well inside the timeout |
//! | `GET /raw-write`      | one stdout write of `?bytes=N` newlines, ignoring `check-write` | trap it (500), never grind through it |
//! | `GET /log-inject`     | logs and prints lines with `\n`, `\r` and ANSI codes that imitate host lines | escape them: no forged line |
//! | `GET /exit`           | calls `exit(?code=N)` before answering | say "exited with status N", not "trapped" |
//! | `GET /many-headers`   | answers `?count=N` headers of `?size=M` bytes | refuse past the header limits (502) |
//! | `GET /count`          | counts its calls in a static, answers the count | give every request a fresh instance: always `1` |
//! | `GET /slow-version`   | works `?ms=N` milliseconds, then answers its `version` config value | finish in-flight requests on the version they started on |

use plughost_sdk::{Json, Request, Response, Router, StatusCode, config, log};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};

/// Calls this instance has handled: state that survives only if an instance is reused.
static CALLS: AtomicU32 = AtomicU32::new(0);

pub fn handle(req: Request) -> Response {
    Router::new()
        .get("/loop", |_req: Request| -> Response {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        })
        .get("/alloc", |_req: Request| -> Response {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Non-zero bytes: every page is really written, not just reserved.
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        })
        .get("/alloc-then-spin", |_req: Request| -> Response {
            // What a slow hog under load looks like to the host: the refused growth comes
            // first, the end of the request (here: its deadline) only later.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut block = Vec::new();
                if block.try_reserve_exact(1 << 20).is_err() {
                    break;
                }
                block.resize(1 << 20, 1u8);
                hoard.push(block);
            }
            std::hint::black_box(&hoard);
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        })
        .get("/panic", |_req: Request| -> Response { panic!("misbehave: deliberate panic") })
        .get("/big-response", |req: Request| {
            let bytes: usize = req.query_parse("bytes").ok().flatten().unwrap_or(1 << 20);
            Response::new(StatusCode::OK).body(vec![b'x'; bytes])
        })
        .get("/bad-header", |_req: Request| Response::new(StatusCode::OK).header("x-evil", "a\r\nset-cookie: pwned=1"))
        .get("/sandbox", |_req: Request| {
            let files: Vec<String> = ["/", ".", "/etc/passwd", "/tmp"]
                .iter()
                .filter(|p| std::fs::metadata(p).is_ok())
                .map(|p| (*p).to_owned())
                .collect();
            Json(json!({
                "env": std::env::vars().collect::<Vec<_>>(),
                "args": std::env::args().collect::<Vec<_>>(),
                "visible_paths": files,
                "cwd": std::env::current_dir().ok().map(|p| p.display().to_string()),
            }))
        })
        .get("/stdio", |req: Request| {
            println!("to stdout from {}", req.request_id());
            eprintln!("to stderr");
            log::log(log::LogLevel::Warn, "structured line", &[("answer", "42")]);
            "printed"
        })
        .get("/config", |_req: Request| Json(json!(config::all())))
        .get("/leak-config", |_req: Request| {
            for (key, value) in config::all() {
                log::log(log::LogLevel::Info, &format!("config {key} = {value}"), &[("value", &value)]);
                println!("stdout says {key} is {value}");
            }
            "logged"
        })
        .get("/stdout-flood", |req: Request| {
            let bytes: usize = req.query_parse("bytes").ok().flatten().unwrap_or(1 << 20);
            let stdout = wasi::cli::stdout::get_stdout();
            let mut left = bytes;
            while left > 0 {
                let permit = stdout.check_write().unwrap_or(0) as usize;
                if permit == 0 {
                    stdout.subscribe().block();
                    continue;
                }
                let chunk = permit.min(left);
                stdout.write(&vec![b'\n'; chunk]).expect("a write within the permit");
                left -= chunk;
            }
            format!("flooded {bytes}")
        })
        .get("/raw-write", |req: Request| {
            let bytes: usize = req.query_parse("bytes").ok().flatten().unwrap_or(1 << 20);
            let stdout = wasi::cli::stdout::get_stdout();
            let written = stdout.write(&vec![b'\n'; bytes]).is_ok();
            format!("raw write accepted: {written}")
        })
        .get("/log-inject", |_req: Request| {
            let forged = "INFO plughost::access: method=GET path=\"/admin\" status=200 plugin=\"admin\" forged";
            log::log(log::LogLevel::Info, &format!("innocent\n{forged}"), &[("k", "v\nINFO forged field")]);
            println!("stdout line\r{forged}");
            eprintln!("\u{1b}[2J\u{1b}[31mred {forged}");
            "injected"
        })
        .get("/exit", |req: Request| -> Response {
            let code: i32 = req.query_parse("code").ok().flatten().unwrap_or(0);
            std::process::exit(code)
        })
        .get("/many-headers", |req: Request| {
            let count: usize = req.query_parse("count").ok().flatten().unwrap_or(20_000);
            let size: usize = req.query_parse("size").ok().flatten().unwrap_or(8);
            (0..count).fold(Response::new(StatusCode::OK), |response, i| {
                response.header(&format!("x-h{i}"), "v".repeat(size))
            })
        })
        .get("/ok", |_req: Request| "ok")
        .get("/count", |_req: Request| (CALLS.fetch_add(1, Ordering::SeqCst) + 1).to_string())
        .get("/slow-version", |req: Request| {
            let ms: u64 = req.query_parse("ms").ok().flatten().unwrap_or(1000);
            log::info("slow-version started");
            let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
            while std::time::Instant::now() < until {
                std::hint::black_box(0);
            }
            config::get("version").unwrap_or_default()
        })
        .get("/binary", |_req: Request| {
            Response::new(StatusCode::OK)
                .header("content-type", "application/octet-stream")
                .body((0..=255u8).collect::<Vec<u8>>())
        })
        .post("/echo", |req: Request| {
            let content_type = req.header("content-type").unwrap_or("application/octet-stream").to_owned();
            Response::new(StatusCode::OK).header("content-type", content_type).body(req.body().to_vec())
        })
        .handle(req)
}

plughost_sdk::plugin!(handle);
