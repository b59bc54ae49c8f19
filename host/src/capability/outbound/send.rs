//! Sends one allowed request over the network — the only file here that opens sockets.
//!
//! In order, each step bounded by the request's deadline:
//! 1. resolve the name once (an IP literal is not resolved), within the plugin's share of
//!    lookups (`resolve.rs`);
//! 2. keep the addresses the fence (`fence.rs`) accepts, refuse if none is left;
//! 3. connect to one of exactly those addresses (never to a second lookup's answer);
//! 4. TLS for `https`, verified against the system's roots (rustls; `SSL_CERT_FILE` /
//!    `SSL_CERT_DIR` add an operator's own CA) — nothing a plugin can turn off;
//! 5. HTTP/1.1: the request line carries only the path, the `Host` header the target; the
//!    response comes back as it is (no redirect is followed), without hop-by-hop headers,
//!    its body cut off past `max_outbound_response` or the deadline.

use super::allow_list::{AllowList, Target};
use super::fence;
use super::resolve::{Lookups, Resolver};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

/// What the connection's I/O task resolves to once the body is read (wasmtime keeps it
/// running beside the response body).
pub type Io = Box<dyn std::future::Future<Output = Result<(), Error>> + Send>;

/// The time and size bounds of one request.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The invocation's deadline for host calls (`capability/request_context.rs`).
    pub deadline: Option<Instant>,
    /// The plugin's own `request-options`, each capped by the deadline.
    pub connect_timeout: Option<Duration>,
    pub first_byte_timeout: Option<Duration>,
    pub between_bytes_timeout: Option<Duration>,
    /// `max_outbound_response`.
    pub max_response: u64,
}

impl Bounds {
    /// The earlier of the deadline and `now + timeout`.
    fn until(&self, timeout: Option<Duration>) -> Option<tokio::time::Instant> {
        let by_timeout = timeout.map(|t| Instant::now() + t);
        let at = match (self.deadline, by_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        at.map(tokio::time::Instant::from_std)
    }
}

/// Runs `step` until `at` (if any); past it, `timeout` is the error.
async fn within<T>(
    at: Option<tokio::time::Instant>,
    timeout: Error,
    step: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match at {
        Some(at) => tokio::time::timeout_at(at, step).await.unwrap_or(Err(timeout)),
        None => step.await,
    }
}

/// Why the fence refused a request (logged by the caller with the plugin and request id).
pub struct Refused(pub String);

/// Sends `request` to `target` (already allowed by name) and returns the response head
/// with its body streaming, or the error the plugin receives. `Err(Ok(refused))` is the
/// fence refusing every address the name resolved to.
pub async fn send(
    mut request: http::Request<WasiBody>,
    target: Target,
    allow: Arc<AllowList>,
    resolver: Resolver,
    lookups: Lookups,
    bounds: Bounds,
) -> Result<(http::Response<WasiBody>, Io), Result<Refused, Error>> {
    let connect_by = bounds.until(bounds.connect_timeout);
    let addrs = match target.host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => {
            let lookup = async {
                let _slot = lookups.slot().await;
                resolver(target.host.clone(), target.port).await.map_err(|e| Error::DnsError {
                    rcode: Some(format!("{} did not resolve: {e}", target.host)),
                    info_code: None,
                })
            };
            within(connect_by, Error::DnsTimeout, lookup).await.map_err(Err)?
        }
    };
    let runtime_api = crate::platform::environment::runtime_api();
    let mut refusals = Vec::new();
    let checked: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| match fence::check(&allow, &target, *addr, runtime_api) {
            Ok(()) => true,
            Err(why) => {
                refusals.push(why);
                false
            }
        })
        .collect();
    if checked.is_empty() {
        let why = refusals.into_iter().next().unwrap_or_else(|| format!("{} resolved to no address", target.host));
        return Err(Ok(Refused(why)));
    }

    let stream = within(connect_by, Error::ConnectionTimeout, connect(&checked)).await.map_err(Err)?;
    let stream: Box<dyn Stream> = if target.https {
        let tls = within(connect_by, Error::ConnectionTimeout, handshake_tls(stream, &target)).await;
        Box::new(tls.map_err(Err)?)
    } else {
        Box::new(stream)
    };
    let (mut sender, connection) = within(connect_by, Error::ConnectionTimeout, async {
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(Error::from)
    })
    .await
    .map_err(Err)?;
    // The connection's I/O runs beside the exchange; dropping the handle (the plugin's
    // request ending) aborts it, so a server that never finishes holds nothing.
    let connection = wasmtime_wasi::runtime::spawn(connection);

    // Origin form on the wire: the authority is in `Host` (set from the target by wasmtime).
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    *request.uri_mut() =
        http::Uri::builder().path_and_query(path).build().map_err(|_| Err(Error::HttpRequestUriInvalid))?;

    let first_byte_by = bounds.until(bounds.first_byte_timeout);
    let response = within(first_byte_by, Error::ConnectionReadTimeout, async {
        sender
            .send_request(request)
            .await
            .map_err(|e| if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })
    })
    .await
    .map_err(Err)?;

    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(length) = content_length(&parts.headers)
        && length > bounds.max_response
    {
        return Err(Err(Error::HttpResponseBodySize(Some(length))));
    }
    let body = CappedBody::new(body, &bounds);
    let io: Io = Box::new(async move {
        match connection.await {
            Ok(()) => Ok(()),
            Err(e) if e.is_timeout() => Err(Error::HttpResponseTimeout),
            Err(e) => Err(Error::from(e)),
        }
    });
    Ok((http::Response::from_parts(parts, body.boxed_unsync()), io))
}

/// The first of `addrs` that accepts a connection.
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => Error::ConnectionTimeout,
        Some(e) => Error::Connect(e),
        None => Error::DestinationUnavailable,
    })
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

async fn handshake_tls(
    stream: TcpStream,
    target: &Target,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let name = match target.host.parse::<std::net::IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
        Err(_) => rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|_| Error::DnsError {
            rcode: Some(format!("`{}` is not a valid TLS name", target.host)),
            info_code: None,
        })?,
    };
    let connector = tokio_rustls::TlsConnector::from(tls_config().await?);
    connector.connect(name, stream).await.map_err(tls_error)
}

/// The client TLS configuration: the system's roots, loaded once (off the async workers).
async fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: tokio::sync::OnceCell<Arc<rustls::ClientConfig>> = tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_try_init(|| async {
            let roots = tokio::task::spawn_blocking(|| {
                let found = rustls_native_certs::load_native_certs();
                let mut roots = rustls::RootCertStore::empty();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if !found.errors.is_empty() {
                    tracing::warn!(errors = ?found.errors, "some system TLS roots could not be read");
                }
                tracing::debug!(roots = added, "loaded the system's TLS roots for outbound requests");
                roots
            })
            .await
            .map_err(|e| Error::InternalError(Some(format!("loading TLS roots: {e}"))))?;
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::InternalError(Some(format!("TLS configuration: {e}"))))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .await
        .cloned()
}

/// A TLS failure as the `wasi:http` error a plugin can tell apart: a certificate that does
/// not verify is `TLS-certificate-error`, an alert from the server `TLS-alert-received`.
fn tls_error(error: std::io::Error) -> Error {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(_)) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => {
            Error::TlsAlertReceived { alert_id: Some(u8::from(*alert)), alert_message: Some(format!("{alert:?}")) }
        }
        Some(_) => Error::TlsProtocolError,
        None => Error::Tls(error),
    }
}

/// Headers that describe one hop's connection, not the message: never handed to plugins.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
];

fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    // Names the `Connection` header lists are hop-by-hop too.
    let listed: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|name| name.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(listed.iter().map(String::as_str)) {
        headers.remove(name);
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A response body that fails once it passes `max_response` bytes or the deadline, or
/// stalls longer than the between-bytes timeout.
struct CappedBody {
    inner: hyper::body::Incoming,
    seen: u64,
    limit: u64,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    idle: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl CappedBody {
    fn new(inner: hyper::body::Incoming, bounds: &Bounds) -> Self {
        Self {
            inner,
            seen: 0,
            limit: bounds.max_response,
            deadline: bounds.until(None).map(|at| Box::pin(tokio::time::sleep_until(at))),
            idle: bounds.between_bytes_timeout.map(|t| (t, Box::pin(tokio::time::sleep(t)))),
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(this.seen)))));
                    }
                }
                if let Some((timeout, idle)) = &mut this.idle {
                    idle.as_mut().reset(tokio::time::Instant::now() + *timeout);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let past_deadline = this.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
                let idle_too_long = this.idle.as_mut().is_some_and(|(_, idle)| idle.as_mut().poll(cx).is_ready());
                if past_deadline || idle_too_long {
                    return Poll::Ready(Some(Err(Error::ConnectionReadTimeout)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn allow(entries: &[&str]) -> Arc<AllowList> {
        Arc::new(super::super::allow_list::for_tests(entries))
    }

    fn request(url: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        http::Request::get(url).header("host", "svc.test").body(body).unwrap()
    }

    fn bounds() -> Bounds {
        Bounds {
            deadline: Some(Instant::now() + Duration::from_secs(5)),
            connect_timeout: None,
            first_byte_timeout: None,
            between_bytes_timeout: None,
            max_response: 1 << 20,
        }
    }

    /// A one-shot HTTP server on loopback answering `200 ok`.
    async fn server() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await;
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
            let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, reply).await;
        });
        addr
    }

    #[tokio::test]
    async fn the_name_is_resolved_once_and_the_checked_address_is_the_one_connected() {
        let addr = server().await;
        // The first answer passes the fence (an entry names 127.0.0.1); any later answer
        // would point at the metadata address — it must never be asked for.
        let lookups = Arc::new(AtomicUsize::new(0));
        let counter = lookups.clone();
        let resolver: Resolver = Arc::new(move |_host, port| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let ip = if n == 0 { "127.0.0.1" } else { "169.254.169.254" };
                Ok(vec![SocketAddr::new(ip.parse().unwrap(), port)])
            })
        });
        let target = Target { https: false, host: "svc.test".into(), port: addr.port() };
        let url = format!("http://svc.test:{}/", addr.port());
        let allow = allow(&["http://svc.test:*", "http://127.0.0.1:*"]);
        let (response, _io) =
            send(request(&url), target, allow, resolver, Lookups::default(), bounds()).await.ok().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        let body = response.into_body().collect().await.ok().unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_refused_addresses_is_refused_before_connecting() {
        let resolver: Resolver =
            Arc::new(|_, port| Box::pin(async move { Ok(vec![SocketAddr::new("10.9.9.9".parse().unwrap(), port)]) }));
        let target = Target { https: false, host: "svc.test".into(), port: 80 };
        let refused = send(
            request("http://svc.test/"),
            target,
            allow(&["http://svc.test"]),
            resolver,
            Lookups::default(),
            bounds(),
        )
        .await;
        match refused {
            Err(Ok(Refused(why))) => assert!(why.contains("private"), "{why}"),
            _ => panic!("not refused"),
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_stripped() {
        let mut headers = http::HeaderMap::new();
        for (name, value) in
            [("connection", "x-secret-hop"), ("x-secret-hop", "1"), ("keep-alive", "5"), ("x-kept", "yes")]
        {
            headers.insert(http::HeaderName::from_static(name), http::HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-kept"]);
    }
}
