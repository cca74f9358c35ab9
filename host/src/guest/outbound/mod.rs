//! Outbound HTTP from guests (`wasi:http/outgoing-handler`): denied unless a
//! route allows it, and never to the host's own network by name.
//!
//! A handler gets no network unless the operator grants it. Each route has
//! one [`OutboundGate`]: the `scheme://host[:port]` patterns it may reach and
//! the limits on reaching them. A request outside the list fails inside the
//! guest with the wasi:http error code `HTTP-request-denied`, an error the
//! guest can handle rather than a trap, and the host logs which route tried to
//! reach which URL.
//!
//! An allowed request goes out through our own sender ([`connect`]): the
//! name is resolved, and an address that is loopback, private, link-local
//! or otherwise not public ([`address`]) is refused with
//! `HTTP-request-denied` unless a pattern names that address itself or the
//! route sets `allow_private_networks`. This server's own listeners are
//! refused always, and a request already nested [`MAX_HOPS`] deep in guest
//! outbound requests fails with `loop-detected`, so a guest calling its own
//! server ends. The route's timeouts are upper bounds on the guest's own,
//! and each request holds one of the route's permits until its response
//! body is done, so a slow upstream cannot make one route hoard connections.

pub mod address;
mod connect;

use self::address::{classify, OwnAddresses};
use self::connect::{Destination, Timing};
use super::next::{is_next, NextHop};
use crate::body::Holding;
use crate::config::{AllowedHosts, Grant, Limits};
use crate::request::{RequestTag, HOPS_HEADER};
use crate::telemetry;
use crate::telemetry::trace::{Span, TRACEPARENT};
use http_body_util::BodyExt;
use opentelemetry::KeyValue;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The deepest a guest outbound request may be nested in others (its
/// [`HOPS_HEADER`] count): enough for services that call each other, few
/// enough that a guest fetching its own server stops at once.
pub const MAX_HOPS: u32 = 8;

/// How much outbound traffic one route's guests may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Requests in flight at once, counting each until its response body ends.
    pub max_concurrency: usize,
    /// Bounds the wait for a permit, then the connection itself.
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
    /// Whether allowed names may resolve to non-public addresses.
    pub allow_private_networks: bool,
}

impl From<&Limits> for OutboundLimits {
    /// The outbound part of a route's budget.
    fn from(limits: &Limits) -> OutboundLimits {
        OutboundLimits {
            max_concurrency: limits.max_outbound_concurrency,
            connect_timeout: limits.outbound_connect_timeout,
            first_byte_timeout: limits.outbound_first_byte_timeout,
            between_bytes_timeout: limits.outbound_between_bytes_timeout,
            allow_private_networks: limits.allow_private_networks,
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
    /// This process's listeners, which no guest may reach.
    own: OwnAddresses,
    /// Made at the first `https://` request.
    tls: OnceLock<Arc<rustls::ClientConfig>>,
}

impl OutboundGate {
    /// A gate allowing `patterns` (as written in the config) but never `own`,
    /// or the first pattern that is not `scheme://host[:port]` and why.
    pub fn new(
        patterns: &[String],
        limits: OutboundLimits,
        own: OwnAddresses,
    ) -> Result<OutboundGate, String> {
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
            own,
            tls: OnceLock::new(),
        })
    }

    /// The listeners this gate refuses, for a gate made from this one.
    pub fn own_addresses(&self) -> &OwnAddresses {
        &self.own
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
    /// Let a guest queue up to 8 writes of at most 64 KiB (512 KiB) ahead of
    /// the connection instead of one, so it keeps writing while the socket
    /// drains. Deeper is slower: 64 queued (4 MiB, tuned when the SDK wrote
    /// 4 KiB pieces) streamed bench/components' `stream64k` at 1.1–1.3 GB/s,
    /// 2 to 8 at 1.7–2.1 GB/s (bench/run.sh; wasmtime serve's 1 MiB single
    /// chunk: 1.8–1.9), the queued bytes no longer in cache when they are
    /// sent.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        8
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
            let (next, within) = (next.clone(), self.tag.trace.clone());
            return Box::new(async move {
                let response = next.send(request, within).await?;
                Ok((response, Box::new(async { Ok(()) }) as IoFuture))
            });
        }
        let (gate, tag, url) = (self.gate.clone(), self.tag.clone(), request.uri().clone());
        let span = tag
            .trace
            .as_ref()
            .map(|parent| parent.outgoing(request.method(), &url));
        let sent = self.send_granted(request, options, &gate, &tag, &url, span.as_ref());
        let Some(span) = span else {
            return sent;
        };
        Box::new(async move {
            let sent = Pin::from(sent).await;
            span.answered(match &sent {
                Ok((response, _)) => Ok(response.status().as_u16()),
                Err(error) => Err(format!("{error}")),
            });
            sent
        })
    }
}

impl Outbound {
    /// A request to the network: checked against the route's grants and
    /// limits, carrying `span`'s trace context unless the guest set its own
    /// `traceparent`, then sent.
    fn send_granted(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        gate: &Arc<OutboundGate>,
        tag: &RequestTag,
        url: &http::Uri,
        span: Option<&Span>,
    ) -> SendFuture {
        let (gate, tag, url) = (gate.clone(), tag.clone(), url.clone());
        let Some(grant) = gate.allowed.grant(&url) else {
            gate.denied.fetch_add(1, Ordering::Relaxed);
            telemetry::limit_hit(&tag.route, "outbound_denied");
            let why = match gate.allowed.is_empty() {
                true => "no outbound hosts are allowed for this route",
                false => "the URL matches none of this route's allowed outbound hosts",
            };
            tracing::warn!(route = %tag.route, request_id = %tag.request_id, trace_id = tag.trace_id(), url = %url,
                "outbound request denied: {why}");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        if tag.hops >= MAX_HOPS {
            telemetry::outbound_refused(&tag.route, "hops");
            tracing::warn!(route = %tag.route, request_id = %tag.request_id, trace_id = tag.trace_id(), url = %url,
                hops = tag.hops, "outbound request refused: the request is already nested \
                {} deep in guest outbound requests (the most is {MAX_HOPS}): \
                is a guest calling its own server?", tag.hops);
            return Box::new(async { Err(Error::LoopDetected) });
        }
        let mut request = request;
        request
            .headers_mut()
            .insert(HOPS_HEADER, http::HeaderValue::from(tag.hops + 1));
        if let Some(span) = span {
            match request.headers().contains_key(TRACEPARENT) {
                // The guest traces this call itself: its context stands.
                true => span.set(KeyValue::new("switchyard.guest_traceparent", true)),
                false => span.inject(request.headers_mut()),
            }
        }
        let options = gate.options(options);
        Box::new(async move {
            let wait = options
                .connect_timeout
                .unwrap_or(gate.limits.connect_timeout);
            let Ok(Ok(permit)) =
                tokio::time::timeout(wait, gate.permits.clone().acquire_owned()).await
            else {
                tracing::warn!(route = %tag.route, request_id = %tag.request_id, trace_id = tag.trace_id(), url = %url,
                    "outbound request refused: the route's outbound concurrency limit was reached");
                return Err(Error::ConnectionLimitReached);
            };
            let timing = Timing {
                connect_by: tokio::time::Instant::now() + wait,
                first_byte: options
                    .first_byte_timeout
                    .unwrap_or(gate.limits.first_byte_timeout),
                between_bytes: options
                    .between_bytes_timeout
                    .unwrap_or(gate.limits.between_bytes_timeout),
            };
            let to = Destination::of(&url)?;
            let resolved = to.resolve(timing.connect_by).await?;
            let addrs = gate.check(grant, &resolved).map_err(|refusal| {
                refusal.report(&tag, &url, &to);
                Error::HttpRequestDenied
            })?;
            let tls = gate.tls.get_or_init(connect::tls_config);
            let (response, io) = connect::send(request, &to, &addrs, tls, timing).await?;
            let response = response.map(|body| {
                Holding {
                    body,
                    held: Some(permit),
                }
                .boxed_unsync()
            });
            Ok((response, io))
        })
    }
}

/// Why every address a name resolved to was refused (the first one's reason).
#[derive(Debug, PartialEq)]
enum Refusal {
    /// One of this process's listeners.
    Own(SocketAddr),
    /// In a non-public range, and neither the pattern nor the route allows it.
    Class(SocketAddr, address::Class),
}

impl Refusal {
    fn report(&self, tag: &RequestTag, url: &http::Uri, to: &Destination) {
        let (route, id, host) = (&tag.route, &tag.request_id, &to.host);
        match self {
            Refusal::Own(addr) => {
                telemetry::outbound_refused(route, "own-listener");
                tracing::warn!(route = %route, request_id = %id, trace_id = tag.trace_id(), url = %url, address = %addr,
                    "outbound request refused: {host} is {addr}, this server's own listener");
            }
            Refusal::Class(addr, class) => {
                telemetry::outbound_refused(route, class.name());
                tracing::warn!(route = %route, request_id = %id, trace_id = tag.trace_id(), url = %url, address = %addr,
                    class = %class, "outbound request refused: {host} resolves to {}, \
                    a {class} address; allow it with a pattern naming the address or \
                    `allow_private_networks = true`", addr.ip());
            }
        }
    }
}

impl OutboundGate {
    /// The addresses of `resolved` a request granted by `grant` may connect
    /// to, in order, or why there are none.
    fn check(&self, grant: Grant, resolved: &[SocketAddr]) -> Result<Vec<SocketAddr>, Refusal> {
        let private_ok = grant == Grant::Address || self.limits.allow_private_networks;
        let mut first_refusal = None;
        let mut passed = Vec::new();
        for &addr in resolved {
            let refusal = match classify(addr.ip()) {
                _ if self.own.reaches(addr) => Some(Refusal::Own(addr)),
                Some(class) if !private_ok => Some(Refusal::Class(addr, class)),
                _ => None,
            };
            match refusal {
                None => passed.push(addr),
                Some(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        match (passed.is_empty(), first_refusal) {
            (true, Some(refusal)) => Err(refusal),
            _ => Ok(passed),
        }
    }
}

#[cfg(test)]
mod tests;
