//! What every layer knows about a request it is working on: who it is for
//! ([`RequestTag`], on every log line about it, with the route's metric
//! handles), where it came from
//! ([`ClientAddr`], [`OverTls`], put on it by the server), how deeply it is
//! nested in guests' outbound requests ([`HOPS_HEADER`]), the body length it
//! declares, and the one spelling of its path everything after the server
//! sees ([`path`]).
//!
//! These sit at the bottom of the crate so that the guest's log, the
//! outbound hooks, the chain and the service can all name a request without
//! naming each other.

pub mod path;

use crate::telemetry::trace::Span;
use crate::telemetry::RouteMetrics;
use opentelemetry::trace::TraceId;
use std::net::SocketAddr;
use std::sync::Arc;

/// Who is asking: the route and request id that tag guest output and host
/// log lines.
#[derive(Clone, Debug)]
pub struct RequestTag {
    pub route: Arc<str>,
    pub request_id: Arc<str>,
    /// How many Switchyard guests' outbound requests this request is
    /// nested in ([`HOPS_HEADER`]; 0 from a client).
    pub hops: u32,
    /// The route's metric handles, resolved when it was loaded.
    pub metrics: Arc<RouteMetrics>,
    /// The route's generation serving the request (0 where none is).
    pub generation: u64,
    /// The span the request is in at this layer (the server span, then a
    /// chain element's), while tracing is on.
    pub trace: Option<Span>,
}

impl RequestTag {
    /// The request's trace id for a log line's `trace_id` field: absent
    /// (no field at all) while tracing is off.
    pub fn trace_id(&self) -> Option<tracing::field::DisplayValue<TraceId>> {
        self.trace
            .as_ref()
            .map(|span| tracing::field::display(span.trace_id()))
    }

    /// This tag inside `span`.
    pub fn within(&self, span: Option<Span>) -> RequestTag {
        RequestTag {
            trace: span,
            ..self.clone()
        }
    }
}

/// Counts the guest outbound requests a request is nested in: the host sets
/// it to one more than the incoming request's on every request a guest
/// sends, and the outbound gate refuses to nest deeper than its limit, so a
/// guest that calls its own server (directly or through a proxy) ends.
pub const HOPS_HEADER: &str = "x-switchyard-hops";

/// The request's [`HOPS_HEADER`] count; 0 when absent or not a number.
pub fn hops<B>(request: &http::Request<B>) -> u32 {
    request
        .headers()
        .get(HOPS_HEADER)
        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
        .unwrap_or(0)
}

/// The client's address, put on each request by the server (for
/// `X-Forwarded-For` when a route ends in an upstream).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// Marks a request that arrived over TLS (set by the server), so the guest
/// sees the scheme `https`.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// The request's declared body length, if it declares a valid one.
pub fn content_length<B>(request: &http::Request<B>) -> Option<u64> {
    request
        .headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
