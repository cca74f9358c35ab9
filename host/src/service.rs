//! One HTTP request, from routing to the response head.
//!
//! Takes the current snapshot, finds the route, gives the request an id
//! (the client's valid `x-request-id`, else a new one; returned to the
//! client as `x-request-id` and attached to every log line about it), runs
//! the handler and turns any failure into a status through [`InvokeError`] —
//! so the connection layer only ever sees a response. The access line is
//! written when the body ends ([`AccessBody`]).

use crate::access::{self, AccessBody, AccessRecord, InFlight};
use crate::body::{self, ResponseBody};
use crate::config::ServerLimits;
use crate::error::InvokeError;
use crate::handler::Admission;
use crate::registry::Registry;
use crate::state::RequestTag;
use http::{HeaderValue, StatusCode};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The response header carrying the generation of the handler that answered.
pub const GENERATION_HEADER: &str = "x-switchyard-generation";

/// Marks a request that arrived over TLS (set by [`crate::server`]), so the
/// guest sees the scheme `https`.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// What every request needs: the routes, and a source of request ids.
pub struct Service {
    registry: Arc<Registry>,
    id_prefix: u32,
    next_id: AtomicU64,
    /// Instance slots over all routes (`max_concurrent_requests`).
    slots: Arc<Semaphore>,
    /// How long a request may wait for a slot before a 503.
    queue_timeout: Duration,
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
            slots: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            queue_timeout: limits.queue_timeout,
        }
    }

    /// Wait (at most the queue timeout) for a slot of the route and one of
    /// the server, so a flood queues briefly and then gets a prompt 503.
    async fn admit(&self, route: &Arc<Semaphore>) -> Result<Admission, InvokeError> {
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        let acquire = |slots: &Arc<Semaphore>, full: &'static str| {
            let slots = slots.clone();
            async move {
                match tokio::time::timeout_at(deadline, slots.acquire_owned()).await {
                    Ok(Ok(permit)) => Ok::<OwnedSemaphorePermit, InvokeError>(permit),
                    _ => Err(InvokeError::Overloaded(full)),
                }
            }
        };
        let route = acquire(route, "the route is at its max_concurrency").await?;
        let server = acquire(&self.slots, "the server is at max_concurrent_requests").await?;
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

    /// Serve one request. Never fails: every error becomes a response.
    pub async fn handle(
        &self,
        request: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<ResponseBody>, Infallible> {
        let started = Instant::now();
        let request_id = self.request_id(&request);
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let scheme = match request.extensions().get::<OverTls>() {
            Some(OverTls) => Scheme::Https,
            None => Scheme::Http,
        };
        let snapshot = self.registry.snapshot();

        let (mut response, route_name, generation, in_flight) = match snapshot.route(&path) {
            None => (
                plain(
                    StatusCode::NOT_FOUND,
                    "not found: no route matches this path\n",
                ),
                None,
                None,
                InFlight::enter(None),
            ),
            Some(route) => {
                let in_flight = InFlight::enter(Some(route.chain.route()));
                let tag = RequestTag {
                    route: route.chain.route().clone(),
                    request_id: request_id.clone(),
                };
                let chain = &route.chain;
                let invoked = match self.admit(chain.slots()).await {
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
                        log_failure(&tag, &error);
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
        };
        Ok(AccessBody::wrap(response, record))
    }
}

pub(crate) fn log_failure(tag: &RequestTag, error: &InvokeError) {
    let (route, request_id) = (&tag.route, &tag.request_id);
    let limit = match error {
        InvokeError::Timeout(_) => Some("timeout"),
        InvokeError::BodyTooLarge(_) => Some("request_body"),
        InvokeError::Overloaded(_) => Some("concurrency"),
        _ => None,
    };
    if let Some(limit) = limit {
        crate::telemetry::limit_hit(route, limit);
    }
    match error {
        InvokeError::BadRequest(_) | InvokeError::BodyTooLarge(_) | InvokeError::Overloaded(_) => {
            tracing::warn!(%route, %request_id, "{error}")
        }
        // Route and request id first: a trap's detail spans several lines.
        InvokeError::Trap(detail) => {
            tracing::error!(%route, %request_id, detail = ?detail, "guest trapped before sending a response")
        }
        InvokeError::Internal(detail) => {
            tracing::error!(%route, %request_id, detail = ?detail, "internal error")
        }
        _ => tracing::error!(%route, %request_id, "{error}"),
    }
}

fn plain(status: StatusCode, message: &'static str) -> hyper::Response<ResponseBody> {
    let mut response = hyper::Response::new(body::text(message));
    *response.status_mut() = status;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
