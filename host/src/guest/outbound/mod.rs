//! Outbound HTTP from guests (`wasi:http/outgoing-handler`): denied unless a
//! route allows it.
//!
//! A handler gets no network unless the operator grants it. Each route has
//! one [`OutboundGate`]: the `scheme://host[:port]` patterns it may reach and
//! the limits on reaching them. A request outside the list fails inside the
//! guest with the wasi:http error code `HTTP-request-denied`, an error the
//! guest can handle rather than a trap, and the host logs which route tried to
//! reach which URL. An allowed request goes out through wasmtime-wasi-http's
//! default sender with the route's timeouts as upper bounds on the guest's
//! own, and holds one of the route's permits until its response body is done,
//! so a slow upstream cannot make one route hoard connections.

use super::next::{is_next, NextHop};
use crate::body::Holding;
use crate::config::{AllowedHosts, Limits};
use crate::request::RequestTag;
use crate::telemetry;
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// How much outbound traffic one route's guests may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Requests in flight at once, counting each until its response body ends.
    pub max_concurrency: usize,
    /// Bounds the wait for a permit, then the connection itself.
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
}

impl From<&Limits> for OutboundLimits {
    /// The outbound part of a route's budget.
    fn from(limits: &Limits) -> OutboundLimits {
        OutboundLimits {
            max_concurrency: limits.max_outbound_concurrency,
            connect_timeout: limits.outbound_connect_timeout,
            first_byte_timeout: limits.outbound_first_byte_timeout,
            between_bytes_timeout: limits.outbound_between_bytes_timeout,
        }
    }
}

/// One route's outbound policy, shared by all of its requests.
pub struct OutboundGate {
    allowed: AllowedHosts,
    limits: OutboundLimits,
    permits: Arc<Semaphore>,
    /// Requests denied since the gate was made (read by the unit tests;
    /// operators see the `outbound_denied` limit-hit metric).
    denied: AtomicU64,
}

impl OutboundGate {
    /// A gate allowing `patterns` (as written in the config), or the first
    /// pattern that is not `scheme://host[:port]` and why.
    pub fn new(patterns: &[String], limits: OutboundLimits) -> Result<OutboundGate, String> {
        if limits.max_concurrency == 0 {
            return Err("outbound max concurrency must be at least 1".into());
        }
        let allowed = AllowedHosts::parse(patterns)?;
        let permits = limits.max_concurrency.min(Semaphore::MAX_PERMITS);
        Ok(OutboundGate {
            allowed,
            limits,
            permits: Arc::new(Semaphore::new(permits)),
            denied: AtomicU64::new(0),
        })
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        self.allowed.allows(uri)
    }

    /// The guest's timeouts, each capped by the route's.
    fn options(&self, guest: Option<RequestOptions>) -> RequestOptions {
        let guest = guest.unwrap_or_default();
        let cap =
            |asked: Option<Duration>, most: Duration| Some(asked.map_or(most, |a| a.min(most)));
        RequestOptions {
            connect_timeout: cap(guest.connect_timeout, self.limits.connect_timeout),
            first_byte_timeout: cap(guest.first_byte_timeout, self.limits.first_byte_timeout),
            between_bytes_timeout: cap(
                guest.between_bytes_timeout,
                self.limits.between_bytes_timeout,
            ),
        }
    }
}

/// The `WasiHttpHooks` of one request: its route's gate, who is asking, and
/// (for a middleware) what the reserved `next` authority leads to.
pub struct Outbound {
    tag: RequestTag,
    gate: Arc<OutboundGate>,
    next: Option<Arc<dyn NextHop>>,
}

impl Outbound {
    pub fn new(tag: RequestTag, gate: Arc<OutboundGate>) -> Outbound {
        Outbound {
            tag,
            gate,
            next: None,
        }
    }

    /// Send the guest's requests to the reserved `next` authority to `next`
    /// (when this instance is a middleware).
    pub fn set_next(&mut self, next: Option<Arc<dyn NextHop>>) {
        self.next = next;
    }

    /// Log later requests under another request (a reused instance).
    pub fn retag(&mut self, tag: RequestTag) {
        self.tag = tag;
    }
}

type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;
type SendFuture = Box<
    dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>> + Send,
>;

impl WasiHttpHooks for Outbound {
    /// Let a guest queue up to 64 writes of at most 64 KiB (4 MiB) ahead of
    /// the connection instead of one: streaming went from 194 to 463 MB/s
    /// (bench/run.sh), while memory per response stays bounded.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        64
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        64 << 10
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        // A middleware passing its request on: in-process, never the network.
        if let Some(next) = self.next.as_ref().filter(|_| is_next(request.uri())) {
            let next = next.clone();
            return Box::new(async move {
                let response = next.send(request).await?;
                Ok((response, Box::new(async { Ok(()) }) as IoFuture))
            });
        }
        let (gate, tag, url) = (self.gate.clone(), self.tag.clone(), request.uri().clone());
        if !gate.allows(&url) {
            gate.denied.fetch_add(1, Ordering::Relaxed);
            telemetry::limit_hit(&tag.route, "outbound_denied");
            let why = match gate.allowed.is_empty() {
                true => "no outbound hosts are allowed for this route",
                false => "the URL matches none of this route's allowed outbound hosts",
            };
            tracing::warn!(route = %tag.route, request_id = %tag.request_id, url = %url,
                "outbound request denied: {why}");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let options = gate.options(options);
        Box::new(async move {
            let wait = options
                .connect_timeout
                .unwrap_or(gate.limits.connect_timeout);
            let Ok(Ok(permit)) =
                tokio::time::timeout(wait, gate.permits.clone().acquire_owned()).await
            else {
                tracing::warn!(route = %tag.route, request_id = %tag.request_id, url = %url,
                    "outbound request refused: the route's outbound concurrency limit was reached");
                return Err(Error::ConnectionLimitReached);
            };
            // The default sender bounds the TCP connect and the first byte, not
            // the TLS handshake between them: bound the whole, too.
            let first_byte = options.first_byte_timeout;
            let bound = wait + first_byte.unwrap_or(gate.limits.first_byte_timeout);
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (response, io) = tokio::time::timeout(bound, send)
                .await
                .map_err(|_| Error::ConnectionTimeout)??;
            let response = response.map(|body| {
                Holding {
                    body,
                    held: Some(permit),
                }
                .boxed_unsync()
            });
            Ok((response, Box::new(io) as IoFuture))
        })
    }
}

#[cfg(test)]
mod tests;
