//! One HTTP request, from routing to the response head.
//!
//! Takes the current snapshot, puts the path in its canonical form (or
//! refuses it with a 400, see [`crate::request::path`]), finds the route on
//! that form, gives the request an id
//! (the client's valid `x-request-id`, else a new one; returned to the
//! client as `x-request-id` and attached to every log line about it), runs
//! the handler and turns any failure into a status through [`InvokeError`] —
//! so the connection layer only ever sees a response. The access line is
//! written when the body ends ([`AccessBody`]).

use super::access::{self, AccessBody, AccessRecord, InFlight};
use crate::body::{plain, Progress, ResponseBody};
use crate::config::ServerLimits;
use crate::invoke::{Admission, InvokeError};
use crate::request::path::{self, PathRefused};
use crate::request::{content_length, ClientAddr, OverTls, RequestTag};
use crate::routing::Registry;
use crate::telemetry::trace::{self, Span};
use crate::telemetry::RouteMetrics;
use http::{HeaderValue, StatusCode};
use hyper::body::Incoming;
use opentelemetry::KeyValue;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Forwarding chain header; see [`Service::distrust_forwarded_for`].
const FORWARDED_FOR: &str = "x-forwarded-for";
/// The response header carrying the generation of the handler that answered.
pub const GENERATION_HEADER: &str = "x-switchyard-generation";

/// What every request needs: the routes, and a source of request ids.
pub struct Service {
    registry: Arc<Registry>,
    id_prefix: u32,
    next_id: AtomicU64,
    /// The metric handles of requests no route matches.
    unmatched: Arc<RouteMetrics>,
    /// Instance slots over all routes (`max_concurrent_requests`).
    slots: Arc<Semaphore>,
    /// The queue timeout (how long a request may wait for a slot before a
    /// 503), `max_header_count` (hyper enforces it itself only on HTTP/1)
    /// and whose `X-Forwarded-For` to believe.
    limits: ServerLimits,
}

impl Service {
    pub fn new(registry: Arc<Registry>, limits: &ServerLimits) -> Service {
        // A per-process prefix keeps ids from two runs of the server apart.
        let id_prefix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32) ^ std::process::id())
            .unwrap_or(0);
        Service {
            registry,
            id_prefix,
            next_id: AtomicU64::new(1),
            unmatched: RouteMetrics::unmatched(),
            slots: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            limits: limits.clone(),
        }
    }

    /// Wait (at most the queue timeout) for a slot of the route and
    /// `instances` of the server (one per component of the chain, taken
    /// together), so a flood queues briefly and then gets a prompt 503.
    async fn admit(
        &self,
        route: &Arc<Semaphore>,
        instances: u32,
    ) -> Result<Admission, InvokeError> {
        let deadline = tokio::time::Instant::now() + self.limits.queue_timeout;
        let acquire = |slots: &Arc<Semaphore>, n: u32, full: &'static str| {
            let slots = slots.clone();
            async move {
                match tokio::time::timeout_at(deadline, slots.acquire_many_owned(n)).await {
                    Ok(Ok(permit)) => Ok::<OwnedSemaphorePermit, InvokeError>(permit),
                    _ => Err(InvokeError::Overloaded(full)),
                }
            }
        };
        let route = acquire(route, 1, "the route is at its max_concurrency").await?;
        let full = "the server is at max_concurrent_requests";
        let server = acquire(&self.slots, instances, full).await?;
        Ok(Admission { route, server })
    }

    /// The registry requests are routed with.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The client's `x-request-id` if it is valid, else a new id.
    fn request_id<B>(&self, request: &hyper::Request<B>) -> Arc<str> {
        if let Some(id) = request.headers().get(REQUEST_ID_HEADER) {
            if access::valid_request_id(id.as_bytes()) {
                if let Ok(id) = id.to_str() {
                    return id.into();
                }
            }
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-{n:x}", self.id_prefix).into()
    }

    /// An `X-Forwarded-For` is only as true as whoever sent it: keep it from
    /// a trusted proxy (the upstream hop appends the peer to it), drop it
    /// from anyone else so neither guests nor upstreams see a forged chain.
    fn distrust_forwarded_for<B>(&self, request: &mut hyper::Request<B>) {
        let trusted = request
            .extensions()
            .get::<ClientAddr>()
            .is_some_and(|ClientAddr(peer)| self.limits.trusts(peer.ip()));
        if !trusted {
            request.headers_mut().remove(FORWARDED_FOR);
        }
    }

    /// Serve one request. Never fails: every error becomes a response.
    pub async fn handle(
        &self,
        mut request: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<ResponseBody>, Infallible> {
        let started = Instant::now();
        self.distrust_forwarded_for(&mut request);
        let request_id = self.request_id(&request);
        let method = request.method().clone();
        // The access line shows what the client sent; routing, the guest
        // and the upstream see only the canonical path.
        let path = request.uri().path().to_string();
        let progress = request.extensions().get::<Arc<Progress>>().cloned();
        let scheme = match request.extensions().get::<OverTls>() {
            Some(OverTls) => Scheme::Https,
            None => Scheme::Http,
        };
        let span = server_span(&request, &request_id, matches!(scheme, Scheme::Https));
        let snapshot = self.registry.snapshot();
        // hyper counts header lines on HTTP/1 only; HTTP/2 gets the same
        // limit here.
        let routed = match request.headers().len() > self.limits.max_header_count {
            true => Err((
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too many request headers (max_header_count)\n",
            )),
            false => canonical_request(request)
                .map_err(|refused| (StatusCode::BAD_REQUEST, refused.public_message())),
        }
        .map(|request| {
            let route = snapshot.route(request.uri().path());
            (request, route)
        });

        let (mut response, route_name, generation, in_flight) = match routed {
            Err((status, message)) => {
                let in_flight = InFlight::enter(self.unmatched.clone());
                (plain(status, message), None, None, in_flight)
            }
            Ok((_, None)) => (
                plain(
                    StatusCode::NOT_FOUND,
                    "not found: no route matches this path\n",
                ),
                None,
                None,
                InFlight::enter(self.unmatched.clone()),
            ),
            Ok((request, Some(route))) => {
                let metrics = route.chain.metrics().clone();
                let in_flight = InFlight::enter(metrics.clone());
                if let Some(span) = &span {
                    span.routed(&method, &route.config.pattern.to_string(), route.generation);
                    span.set(KeyValue::new("switchyard.route", route.config.name.clone()));
                }
                let tag = RequestTag {
                    route: route.chain.route().clone(),
                    metrics,
                    request_id: request_id.clone(),
                    hops: crate::request::hops(&request),
                    generation: route.generation,
                    trace: span.clone(),
                };
                let chain = &route.chain;
                let invoked = match self.admit(chain.slots(), chain.instances()).await {
                    Ok(admission) => {
                        chain
                            .invoke(request, scheme, &tag, admission, started)
                            .await
                    }
                    Err(overloaded) => Err(overloaded),
                };
                let response = match invoked {
                    Ok(response) => response,
                    Err(error) => {
                        error.log(&tag);
                        plain(error.status(), error.public_message())
                    }
                };
                (response, Some(tag.route), Some(route.generation), in_flight)
            }
        };

        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            headers.insert(REQUEST_ID_HEADER, value);
        }
        if let Some(generation) = generation {
            headers.insert(GENERATION_HEADER, HeaderValue::from(generation));
        }
        let record = AccessRecord {
            request_id,
            method,
            path,
            route: route_name,
            generation,
            status: 0,
            started,
            in_flight,
            progress,
            trace: span,
        };
        Ok(AccessBody::wrap(response, record))
    }
}

/// The request's server span (HTTP semantic conventions), continuing the
/// trace its `traceparent` names; `None` while tracing is off.
fn server_span<B>(request: &hyper::Request<B>, request_id: &str, tls: bool) -> Option<Span> {
    if !trace::enabled() {
        return None;
    }
    let method = request.method().as_str().to_string();
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.clone()),
        KeyValue::new("url.path", request.uri().path().to_string()),
        KeyValue::new("url.scheme", if tls { "https" } else { "http" }),
        KeyValue::new(
            "network.protocol.version",
            match request.version() {
                http::Version::HTTP_2 => "2",
                http::Version::HTTP_10 => "1.0",
                _ => "1.1",
            },
        ),
        KeyValue::new("switchyard.request_id", request_id.to_string()),
    ];
    if let Some(ClientAddr(peer)) = request.extensions().get::<ClientAddr>() {
        attributes.push(KeyValue::new("client.address", peer.ip().to_string()));
    }
    if let Some(agent) = request.headers().get(http::header::USER_AGENT) {
        if let Ok(agent) = agent.to_str() {
            attributes.push(KeyValue::new("user_agent.original", agent.to_string()));
        }
    }
    if let Some(length) = content_length(request) {
        attributes.push(KeyValue::new("http.request.body.size", length as i64));
    }
    Span::server(request.headers(), method, SystemTime::now(), attributes)
}

/// `request` with its path in canonical form ([`path::canonical`]) and its
/// query as sent, so the route it takes and the path its guest or upstream
/// receives are one and the same; or why its path has none (a 400).
fn canonical_request<B>(request: hyper::Request<B>) -> Result<hyper::Request<B>, PathRefused> {
    let raw = request.uri().path();
    let canonical = path::canonical(raw)?;
    if canonical == raw {
        return Ok(request);
    }
    let (mut parts, body) = request.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{canonical}?{query}"),
        None => canonical,
    };
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    // The canonical path only ever has characters the raw one had.
    uri.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| PathRefused::BadPercent)?,
    );
    parts.uri = http::Uri::from_parts(uri).map_err(|_| PathRefused::BadPercent)?;
    Ok(hyper::Request::from_parts(parts, body))
}
