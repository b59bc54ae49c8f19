//! A real HTTP server on 127.0.0.1 for outbound-request tests: what a plugin's outgoing
//! requests reach (or must not). It counts the requests it receives.
//!
//! | route            | answer                                                               |
//! |------------------|----------------------------------------------------------------------|
//! | `/echo`          | `{"method", "path", "headers": {..}}` of the request it got          |
//! | `/redirect`      | `302` to the instance metadata address                               |
//! | `/slow`          | `200` after 30 s                                                     |
//! | `/huge`          | 4 MiB streamed in chunks (no content-length)                         |
//! | `/huge-declared` | 4 MiB with its content-length                                        |
//! | `/latest`        | [`LATEST`]: rates as frankfurter.app answers (the `rates` plugin's API) |
//!
//! [`TlsUpstream`] answers [`LATEST`] to every request over TLS, with a certificate from the
//! test CA in `tests/fixtures/tls/` (trusted by no system).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What `/latest` answers: one EUR rate, in frankfurter.app's format.
pub const LATEST: &str = r#"{"amount":1.0,"base":"EUR","date":"2026-12-01","rates":{"USD":1.0842}}"#;

/// Bytes `/huge` and `/huge-declared` answer with.
pub const HUGE: usize = 4 * 1024 * 1024;

pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new()
            .route("/echo", get(echo).post(echo))
            .route(
                "/redirect",
                get(|| async { (StatusCode::FOUND, [("location", "http://169.254.169.254/latest/meta-data/")]) }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route(
                "/huge",
                get(|| async {
                    let chunks =
                        (0..HUGE / 65536).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 65536])));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route("/huge-declared", get(|| async { vec![b'x'; HUGE] }))
            .route("/latest", get(|| async { ([("content-type", "application/json")], LATEST) }))
            .layer(axum::middleware::from_fn(move |request, next: axum::middleware::Next| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { next.run(request).await }
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, hits, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap) -> axum::Json<Value> {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), Value::String(value.to_str().unwrap_or("").to_owned())))
        .collect();
    axum::Json(json!({ "method": method.as_str(), "path": uri.to_string(), "headers": headers }))
}

/// The test CA's certificate (PEM): what `SSL_CERT_FILE` points at to trust [`TlsUpstream`].
pub fn test_ca() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem")
}

/// A TLS server on 127.0.0.1 answering every request `200` [`LATEST`], its certificate (for
/// `127.0.0.1` and `localhost`) issued by the test CA.
pub struct TlsUpstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsUpstream {
    pub async fn start() -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
            .expect("server.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind TLS upstream");
        let addr = listener.local_addr().expect("TLS upstream address");
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(socket).await else { return };
                    let mut buffer = [0u8; 4096];
                    let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buffer).await;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{LATEST}",
                        LATEST.len()
                    );
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, reply.as_bytes()).await;
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
