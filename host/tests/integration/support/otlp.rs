//! [`OtlpReceiver`]: a real OTLP/HTTP trace receiver on 127.0.0.1 for the trace tests —
//! `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`, decoded with the
//! OpenTelemetry protocol's own generated types (`opentelemetry-proto`) — keeping every
//! span it receives. Stopped when dropped.

use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received span, with what the tests look at.
#[derive(Debug, Clone)]
pub struct Received {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: Vec<(String, String)>,
    /// The resource's `service.name`.
    pub service: String,
}

impl Received {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

pub struct OtlpReceiver {
    pub endpoint: String,
    spans: Arc<Mutex<Vec<Received>>>,
    _server: tokio::task::JoinHandle<()>,
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn received(span: &Span, service: &str) -> Received {
    Received {
        name: span.name.clone(),
        trace_id: hex::encode(&span.trace_id),
        span_id: hex::encode(&span.span_id),
        parent_span_id: hex::encode(&span.parent_span_id),
        attributes: span
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), text(kv.value.as_ref().and_then(|v| v.value.as_ref()))))
            .collect(),
        service: service.to_owned(),
    }
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: bytes::Bytes| {
                let kept = kept.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                    let mut kept = kept.lock().unwrap();
                    for resource in &request.resource_spans {
                        let service = resource
                            .resource
                            .as_ref()
                            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                            .unwrap_or_default();
                        for scope in &resource.scope_spans {
                            kept.extend(scope.spans.iter().map(|span| received(span, &service)));
                        }
                    }
                    let response = ExportTraceServiceResponse::default().encode_to_vec();
                    ([(http::header::CONTENT_TYPE, "application/x-protobuf")], response)
                }
            }),
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { endpoint, spans, _server: server }
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until a span satisfies `wanted`; returns every span received.
    pub async fn wait_for(&self, what: &str, wanted: impl Fn(&Received) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if spans.iter().any(&wanted) {
                return spans;
            }
            assert!(Instant::now() < deadline, "no span {what} arrived; got {spans:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self._server.abort();
    }
}
