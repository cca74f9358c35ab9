//! Traces: a span per request, per chain element and per outbound or
//! upstream call, exported over OTLP when an endpoint is set ([`export`]).
//!
//! Off by default. Until [`export::start`] installs a tracer, [`Span::server`]
//! returns `None`, every request carries no span, and the request path does
//! no tracing work at all: nothing is sampled, no header is read or added,
//! nothing connects anywhere.
//!
//! On, the incoming request's W3C `traceparent`/`tracestate` continue the
//! caller's trace, each layer opens its span as a child of the one it runs
//! in (the server span, a middleware's span, a handler's span), and
//! outbound requests carry the current span's context on, so the next
//! service joins the same trace. The request path calls the `opentelemetry`
//! API directly rather than through `tracing-opentelemetry`: a span here
//! must outlive the call that opened it (it ends when the response body
//! does), and the log lines name the trace by a field instead
//! ([`Span::trace_id`]), so the two would not share anything.

pub mod export;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, TraceId, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The W3C trace-context header names, for code that must tell whether a
/// guest set its own.
pub const TRACEPARENT: &str = "traceparent";

/// The tracer, once export has started; never set while tracing is off.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Whether spans are made at all.
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// One live span, and the trace context it hands on: cheap to clone (every
/// clone is the same span), ended once by whoever owns its end.
#[derive(Clone)]
pub struct Span(Context);

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cx = self.0.span().span_context().clone();
        write!(f, "Span({}-{})", cx.trace_id(), cx.span_id())
    }
}

impl Span {
    /// The server span of a request with `headers`, continuing the trace
    /// their `traceparent` names (a new trace without one); `None` while
    /// tracing is off.
    pub fn server(
        headers: &http::HeaderMap,
        name: String,
        start: SystemTime,
        attributes: Vec<KeyValue>,
    ) -> Option<Span> {
        let tracer = TRACER.get()?;
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        Some(Span(Context::new().with_span(span)))
    }

    /// A span inside this one, started now.
    pub fn child(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span {
        let span = match TRACER.get() {
            Some(tracer) => tracer
                .span_builder(name)
                .with_kind(kind)
                .with_attributes(attributes)
                .start_with_context(tracer, &self.0),
            // Unreachable: a span exists only once the tracer does.
            None => return self.clone(),
        };
        Span(Context::new().with_span(span))
    }

    /// A server span's route, once routing found one: the span is named
    /// `{method} {route}` as the HTTP conventions name it.
    pub fn routed(&self, method: &http::Method, route: &str, generation: u64) {
        let span = self.0.span();
        span.update_name(format!("{method} {route}"));
        span.set_attribute(KeyValue::new("http.route", route.to_string()));
        span.set_attribute(KeyValue::new("switchyard.generation", generation as i64));
    }

    /// A client span inside this one for an outgoing request (a guest's
    /// outbound call, an upstream hop), named by its method as the HTTP
    /// conventions name client spans. The URL is recorded without its query.
    pub fn outgoing(&self, method: &http::Method, uri: &http::Uri) -> Span {
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.as_str().to_string()),
            KeyValue::new("url.full", without_query(uri)),
        ];
        if let Some(host) = uri.host() {
            attributes.push(KeyValue::new("server.address", host.to_string()));
        }
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        if let Some(port) = port {
            attributes.push(KeyValue::new("server.port", port as i64));
        }
        self.child(method.as_str().to_string(), SpanKind::Client, attributes)
    }

    /// End a client span with the response status it got (4xx and 5xx are
    /// errors for a client) or why it got none.
    pub fn answered(&self, answer: Result<u16, String>) {
        match answer {
            Ok(status) => {
                self.set(KeyValue::new("http.response.status_code", status as i64));
                if status >= 400 {
                    self.fail(format!("HTTP {status}"));
                }
            }
            Err(why) => self.fail(why),
        }
        self.end();
    }

    /// Record an attribute.
    pub fn set(&self, attribute: KeyValue) {
        self.0.span().set_attribute(attribute);
    }

    /// Mark the span failed, with why.
    pub fn fail(&self, description: impl Into<Cow<'static, str>>) {
        self.0.span().set_status(Status::error(description));
    }

    /// End the span now; later calls do nothing.
    pub fn end(&self) {
        self.0.span().end();
    }

    /// The trace this span is in, for log lines.
    pub fn trace_id(&self) -> TraceId {
        self.0.span().span_context().trace_id()
    }

    /// Put this span's context on an outgoing request's headers
    /// (`traceparent`, and `tracestate` when the trace has one), replacing
    /// any already there.
    pub fn inject(&self, headers: &mut http::HeaderMap) {
        TraceContextPropagator::new().inject_context(&self.0, &mut HeaderInjector(headers));
    }
}

/// `uri` as `url.full` records it: no query (it may carry secrets), no
/// user info.
fn without_query(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or("");
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}{}", uri.path()),
        None => format!("{scheme}://{host}{}", uri.path()),
    }
}
