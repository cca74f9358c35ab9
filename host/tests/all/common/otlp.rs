//! A real OTLP/HTTP trace receiver for the tracing tests: it accepts
//! `POST /v1/traces`, decodes the protobuf body with the OpenTelemetry
//! protocol's own types and keeps every span, or (hanging) accepts
//! connections and never answers, as a stuck collector does.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received span, with the `service.name` of the resource it came with.
#[derive(Clone, Debug)]
pub struct Received {
    pub span: opentelemetry_proto::tonic::trace::v1::Span,
    pub service: String,
}

impl Received {
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    /// A string, integer or boolean attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }
    /// Whether the span's status is `ERROR`.
    pub fn failed(&self) -> bool {
        self.span.status.as_ref().is_some_and(|s| s.code == 2)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    Some(match value.value.as_ref()? {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        Value::BoolValue(b) => b.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

pub struct Receiver {
    pub url: String,
    spans: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// A receiver that answers every export with 200.
    pub async fn start() -> Receiver {
        Receiver::serve(false).await
    }

    /// A collector that accepts connections and never answers.
    pub async fn hanging() -> Receiver {
        Receiver::serve(true).await
    }

    async fn serve(hang: bool) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (keep, count) = (spans.clone(), connections.clone());
        let server = tokio::spawn(async move {
            let mut open = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let keep = keep.clone();
                open.spawn(async move {
                    if hang {
                        let _held = stream;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    let service = hyper::service::service_fn(move |request| {
                        let keep = keep.clone();
                        async move { Ok::<_, std::convert::Infallible>(receive(request, &keep).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Receiver {
            url,
            spans,
            connections,
            server,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans of `trace_id`, once there are at least `count` (10 s at most).
    pub async fn trace(&self, trace_id: &str, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let spans: Vec<Received> = (self.spans().into_iter())
                .filter(|s| s.trace_id() == trace_id)
                .collect();
            if spans.len() >= count {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let all = self.spans();
        panic!("trace {trace_id}: fewer than {count} spans arrived; all spans: {all:#?}");
    }

    /// The first span received that `matches` (10 s at most).
    pub async fn span(&self, what: &str, matches: impl Fn(&Received) -> bool) -> Received {
        for _ in 0..200 {
            if let Some(span) = self.spans().into_iter().find(&matches) {
                return span;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no span {what} arrived; all spans: {:#?}", self.spans());
    }
}

async fn receive(
    request: hyper::Request<Incoming>,
    keep: &Mutex<Vec<Received>>,
) -> hyper::Response<String> {
    let answer = |status: u16, body: &str| {
        hyper::Response::builder()
            .status(status)
            .body(body.to_string())
            .unwrap()
    };
    if request.method() != hyper::Method::POST || request.uri().path() != "/v1/traces" {
        return answer(404, "not an OTLP trace export");
    }
    let protobuf = request.headers().get("content-type").map(|v| v.as_bytes())
        == Some(b"application/x-protobuf");
    let Ok(body) = request.into_body().collect().await else {
        return answer(400, "body failed");
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return answer(400, "not an ExportTraceServiceRequest");
    };
    if !protobuf {
        return answer(415, "content-type is not application/x-protobuf");
    }
    let mut keep = keep.lock().unwrap();
    for resource in export.resource_spans {
        let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
        let service = attribute(&attributes, "service.name").unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                keep.push(Received {
                    span,
                    service: service.clone(),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse is zero bytes of protobuf.
    hyper::Response::builder()
        .header("content-type", "application/x-protobuf")
        .body(String::new())
        .unwrap()
}
