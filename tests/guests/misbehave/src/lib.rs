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

use plughost_sdk::{Json, Request, Response, Router, StatusCode, config, log};
use serde_json::json;

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
        .get("/ok", |_req: Request| "ok")
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
