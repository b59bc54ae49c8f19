//! `plughost trigger`: fires an event at a running `plughost serve` (its
//! `POST /_plughost/events`), or shows its queues and dead letters — for trying an
//! event-driven plugin by hand and for scripts. Plain HTTP to the local server only.

use clap::{Args, Subcommand};
use std::collections::BTreeMap;

#[derive(Args)]
pub struct TriggerArgs {
    /// The running `plughost serve`.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "PLUGHOST_URL")]
    url: String,
    #[command(subcommand)]
    event: TriggerEvent,
}

#[derive(Subcommand)]
enum TriggerEvent {
    /// Send a message to a queue (`[queue.<label>]`).
    Queue {
        label: String,
        /// The message body (`-`: read it from stdin).
        #[arg(default_value = "")]
        body: String,
        /// A message attribute, `name=value` (repeatable).
        #[arg(long = "attribute", value_parser = parse_pair)]
        attributes: Vec<(String, String)>,
        /// The message group (FIFO queues: required).
        #[arg(long)]
        group: Option<String>,
    },
    /// Publish a notification on a topic (`[topic.<label>]`).
    Topic {
        label: String,
        #[arg(default_value = "")]
        body: String,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long = "attribute", value_parser = parse_pair)]
        attributes: Vec<(String, String)>,
    },
    /// Put an event on a bus (`[bus.<label>]`); the triggers whose pattern matches get it.
    Bus {
        label: String,
        #[arg(long)]
        source: String,
        #[arg(long)]
        detail_type: String,
        /// The event's detail: a JSON object.
        #[arg(default_value = "{}")]
        detail: String,
    },
    /// Fire a plugin's schedule now.
    Schedule { plugin: String, name: String },
    /// An object event of a container (without writing the object).
    Object {
        container: String,
        key: String,
        /// `created` or `removed`.
        #[arg(long, default_value = "created")]
        change: String,
        #[arg(long, default_value_t = 0)]
        size: u64,
    },
    /// A change event of a store (without writing the key).
    Changes {
        store: String,
        key: String,
        /// `inserted`, `modified` or `removed`.
        #[arg(long, default_value = "modified")]
        kind: String,
        #[arg(long)]
        old: Option<String>,
        #[arg(long)]
        new: Option<String>,
    },
    /// Show the local queues, the outbox and the dead letters.
    Status,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{text}` is not name=value"))
}

fn read_body(body: String) -> anyhow::Result<String> {
    if body != "-" {
        return Ok(body);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
    Ok(text)
}

/// Runs `plughost trigger`: prints the server's answer, fails on an error status.
pub async fn run(args: TriggerArgs) -> anyhow::Result<()> {
    let attributes = |pairs: Vec<(String, String)>| pairs.into_iter().collect::<BTreeMap<_, _>>();
    let request = match args.event {
        TriggerEvent::Status => None,
        TriggerEvent::Queue { label, body, attributes: pairs, group } => Some(serde_json::json!({
            "queue": label, "body": read_body(body)?, "attributes": attributes(pairs), "group": group,
        })),
        TriggerEvent::Topic { label, body, subject, attributes: pairs } => Some(serde_json::json!({
            "topic": label, "body": read_body(body)?, "subject": subject, "attributes": attributes(pairs),
        })),
        TriggerEvent::Bus { label, source, detail_type, detail } => {
            let detail: serde_json::Value = serde_json::from_str(&read_body(detail)?)
                .map_err(|e| anyhow::anyhow!("the detail is not JSON: {e}"))?;
            Some(serde_json::json!({ "bus": label, "source": source, "detail-type": detail_type, "detail": detail }))
        }
        TriggerEvent::Schedule { plugin, name } => Some(serde_json::json!({ "schedule": name, "plugin": plugin })),
        TriggerEvent::Object { container, key, change, size } => {
            Some(serde_json::json!({ "object": container, "key": key, "change": change, "size": size }))
        }
        TriggerEvent::Changes { store, key, kind, old, new } => {
            Some(serde_json::json!({ "changes": store, "key": key, "kind": kind, "old": old, "new": new }))
        }
    };
    let (status, body) = http_call(&args.url, request.map(|r| r.to_string())).await?;
    println!("{body}");
    if !(200..300).contains(&status) {
        anyhow::bail!("the server answered {status}");
    }
    Ok(())
}

/// One HTTP/1.1 request to `<base>/_plughost/events` (POST with `body`, else GET); the
/// status and the body.
async fn http_call(base: &str, body: Option<String>) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(base).map_err(|e| anyhow::anyhow!("--url {base}: {e}"))?;
    if url.scheme() != "http" {
        anyhow::bail!("--url {base}: plughost trigger talks to a local `plughost serve` over http://");
    }
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(80);
    let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach plughost serve at {base}: {e}"))?;
    let path = crate::serve::EVENTS_PATH;
    let request = match &body {
        Some(body) => format!(
            "POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => format!("GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n\r\n"),
    };
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.take(4 * 1024 * 1024).read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // axum answers with content-length (no chunking) for these small JSON bodies.
    Ok((status, body.to_owned()))
}
