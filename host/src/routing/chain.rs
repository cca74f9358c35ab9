//! Middleware chains: components in front of a route's handler or upstream,
//! each passing the request on in-process.
//!
//! A route's [`Chain`] is its elements in order: zero or more middleware
//! components, then the route's own component or its [`Upstream`] server. A
//! middleware is an ordinary `wasi:http/proxy` component; it passes the
//! request on by sending an outgoing request to the reserved authority
//! `next` (`http://next/<path>`). The outbound hook of its instance
//! ([`crate::guest::outbound`]) hands such a request to the [`NextHop`] its
//! store holds, a [`Next`] of this chain, which runs the next element right
//! here: a fresh instance of the next component, with
//! the route's limits, the same request id and the same deadline, its
//! request body streaming from the middleware's outgoing body and its
//! response body streaming back, never buffered and never on a socket.
//!
//! A request takes one server slot per component of its chain at admission
//! ([`Chain::instances`]), all at once; each later element's instance holds
//! one of them while it lives, so a chain never instantiates outside the
//! server's slots (the instance pool is sized to them). A middleware that
//! calls `next` more often than the chain has elements gets a further slot
//! if one is free at once, else a 503 from `next`, never an instantiation
//! failure.
//!
//! The next element sees the client's scheme and authority with the path
//! and query the middleware sent. If it fails before answering (a trap, the
//! deadline), the middleware receives the status the client would have got
//! (500, 504, ...) as an ordinary response and may pass it on.

use super::origin::Origin;
use super::upstream::{strip_hop_by_hop, Upstream};
use crate::body::{plain, LimitedBody, ResponseBody};
use crate::guest::{NextHop, NextResponse, NEXT_AUTHORITY};
use crate::invoke::{Admission, Handler, InstanceSlot, InvokeError};
use crate::request::{content_length, RequestTag};
use crate::telemetry::trace::Span;
use crate::telemetry::RouteMetrics;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{Error, WasiBody};

/// One step of a chain.
#[derive(Clone)]
pub enum Element {
    /// A component: a middleware, or the route's own handler.
    Component(Arc<Handler>),
    /// A real HTTP server, reverse-proxied (always last).
    Upstream(Arc<Upstream>),
}

/// A route's elements, outermost first; never empty.
#[derive(Clone)]
pub struct Chain {
    elements: Arc<[Element]>,
}

impl Chain {
    /// A chain of `elements` (at least one).
    pub fn new(elements: Vec<Element>) -> Chain {
        assert!(!elements.is_empty(), "a chain has at least one element");
        Chain {
            elements: elements.into(),
        }
    }

    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The components of the chain, in order.
    pub fn handlers(&self) -> impl Iterator<Item = &Arc<Handler>> {
        self.elements.iter().filter_map(|e| match e {
            Element::Component(handler) => Some(handler),
            Element::Upstream(_) => None,
        })
    }

    /// The route's own component (the last element), unless the chain ends
    /// in an upstream.
    pub fn component(&self) -> Option<&Arc<Handler>> {
        match self.elements.last()? {
            Element::Component(handler) => Some(handler),
            Element::Upstream(_) => None,
        }
    }

    /// This chain with its own component (the last element) replaced.
    pub fn with_component(&self, handler: Arc<Handler>) -> Chain {
        let mut elements = self.elements.to_vec();
        if let Some(last) = elements.last_mut() {
            *last = Element::Component(handler);
        }
        Chain::new(elements)
    }

    /// The upstream the chain ends in, if it does.
    pub fn upstream(&self) -> Option<&Arc<Upstream>> {
        match self.elements.last() {
            Some(Element::Upstream(upstream)) => Some(upstream),
            _ => None,
        }
    }

    /// The route's name, as its log lines carry it.
    pub fn route(&self) -> &Arc<str> {
        match &self.elements[0] {
            Element::Component(handler) => &handler.route,
            Element::Upstream(upstream) => &upstream.route,
        }
    }

    /// The route's metric handles: the first element's.
    pub fn metrics(&self) -> &Arc<RouteMetrics> {
        match &self.elements[0] {
            Element::Component(handler) => &handler.metrics,
            Element::Upstream(upstream) => &upstream.metrics,
        }
    }

    /// The route's instance slots (`max_concurrency`): the first element's.
    /// A request holds one for the whole chain, however long it is.
    pub fn slots(&self) -> &Arc<Semaphore> {
        match &self.elements[0] {
            Element::Component(handler) => &handler.slots,
            Element::Upstream(upstream) => &upstream.slots,
        }
    }

    /// Server slots a request through this chain takes at admission: one
    /// per component (middleware and handler), at least one.
    pub fn instances(&self) -> u32 {
        self.handlers().count().max(1) as u32
    }

    /// Run a client's request through the chain, from its first element.
    pub async fn invoke(
        &self,
        request: hyper::Request<Incoming>,
        scheme: Scheme,
        tag: &RequestTag,
        mut admission: Admission,
        arrived: Instant,
    ) -> Result<hyper::Response<ResponseBody>, InvokeError> {
        let mut request = request;
        if self.upstream().is_some() {
            // The client's hop-by-hop headers describe its connection to us:
            // drop them here, before a middleware (which never sees
            // `Connection`) could pass on a header it names.
            strip_hop_by_hop(request.headers_mut());
        }
        let (first, next) = match &self.elements[..] {
            // A plain route: exactly the path it took before chains existed.
            [Element::Component(handler)] => {
                let response = handler
                    .invoke(request, scheme, tag, admission, arrived)
                    .await?;
                return Ok(response.map(BodyExt::boxed_unsync));
            }
            [first, ..] => {
                let spare = Arc::new(Spare {
                    server: admission.server.semaphore().clone(),
                    held: Mutex::new(admission.split_rest()),
                });
                (first, self.next(1, &request, &scheme, tag, arrived, spare))
            }
            [] => unreachable!("a chain has at least one element"),
        };
        match first {
            Element::Component(handler) => {
                let slot = InstanceSlot::First(admission);
                let response = handler
                    .run(request, scheme, tag, slot, arrived, next)
                    .await?;
                Ok(response.map(BodyExt::boxed_unsync))
            }
            Element::Upstream(upstream) => {
                let max_body = upstream.max_request_body();
                if content_length(&request).is_some_and(|len| len > max_body) {
                    return Err(InvokeError::BodyTooLarge(max_body));
                }
                let origin = Origin::of(&request, matches!(scheme, Scheme::Https));
                let request = request.map(|body| {
                    LimitedBody::new(body, max_body, Arc::new(AtomicBool::new(false)))
                        .counted(tag.metrics.clone())
                        .boxed_unsync()
                });
                let response = upstream
                    .forward(request, tag, &origin, arrived, Some(admission))
                    .await;
                Ok(response.map(|body| body.map_err(anyhow::Error::from).boxed_unsync()))
            }
        }
    }

    /// What `next` means for the element before `index`.
    fn next<B>(
        &self,
        index: usize,
        request: &hyper::Request<B>,
        scheme: &Scheme,
        tag: &RequestTag,
        arrived: Instant,
        spare: Arc<Spare>,
    ) -> Option<Arc<dyn NextHop>> {
        (index < self.elements.len()).then(|| {
            Arc::new(Next {
                chain: self.clone(),
                index,
                tag: tag.clone(),
                arrived,
                origin: Arc::new(Origin::of(request, matches!(scheme, Scheme::Https))),
                spare,
            }) as Arc<dyn NextHop>
        })
    }
}

/// The server slots a request took for its chain's later elements.
struct Spare {
    server: Arc<Semaphore>,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Spare {
    /// One slot for a later element's instance: one the request took at
    /// admission, else a free one of the server's, else none (a 503).
    fn take(&self) -> Option<OwnedSemaphorePermit> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(permits) = held.as_mut().filter(|p| p.num_permits() > 1) {
            return permits.split(1);
        }
        held.take()
            .or_else(|| self.server.clone().try_acquire_owned().ok())
    }
}

/// Where a running middleware's `next` leads: the rest of its chain, for
/// one request.
#[derive(Clone)]
struct Next {
    chain: Chain,
    /// The element `next` runs.
    index: usize,
    tag: RequestTag,
    arrived: Instant,
    origin: Arc<Origin>,
    spare: Arc<Spare>,
}

impl NextHop for Next {
    fn send(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        within: Option<Span>,
    ) -> NextResponse {
        Box::pin(async move { self.run(request, within).await })
    }
}

impl Next {
    /// Run the next element on a middleware's outgoing request and return
    /// its response as the middleware's incoming response.
    async fn run(
        &self,
        mut request: http::Request<WasiBody>,
        within: Option<Span>,
    ) -> Result<http::Response<WasiBody>, Error> {
        // The next element runs inside the span of the one that called it.
        let within_tag;
        let tag = match within {
            Some(span) => {
                within_tag = self.tag.within(Some(span));
                &within_tag
            }
            None => &self.tag,
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(if self.origin.tls {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        });
        parts.authority = Some(
            self.origin
                .authority
                .clone()
                .unwrap_or(http::uri::Authority::from_static(NEXT_AUTHORITY)),
        );
        parts.path_and_query = request.uri().path_and_query().cloned();
        *request.uri_mut() =
            http::Uri::from_parts(parts).map_err(|_| Error::HttpRequestUriInvalid)?;

        let index = self.index + 1;
        let after = (index < self.chain.elements.len()).then(|| {
            Arc::new(Next {
                index,
                ..(*self).clone()
            }) as Arc<dyn NextHop>
        });
        match &self.chain.elements[self.index] {
            Element::Component(handler) => {
                let Some(slot) = self.spare.take() else {
                    let error = InvokeError::Overloaded("the server is at max_concurrent_requests");
                    error.log(tag);
                    return Ok(plain(error.status(), error.public_message()));
                };
                let ran = handler
                    .run(
                        request,
                        self.origin.scheme(),
                        tag,
                        InstanceSlot::Inner(slot),
                        self.arrived,
                        after,
                    )
                    .await;
                match ran {
                    Ok(response) => Ok(response.map(|body| {
                        body.map_err(|e| Error::InternalError(Some(format!("{e:#}"))))
                            .boxed_unsync()
                    })),
                    Err(error) => {
                        error.log(tag);
                        Ok(plain(error.status(), error.public_message()))
                    }
                }
            }
            Element::Upstream(upstream) => Ok(upstream
                .forward(request, tag, &self.origin, self.arrived, None)
                .await),
        }
    }
}
