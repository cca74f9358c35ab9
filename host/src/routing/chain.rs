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
//! The next element sees the client's scheme and authority with the path
//! and query the middleware sent. If it fails before answering (a trap, the
//! deadline), the middleware receives the status the client would have got
//! (500, 504, ...) as an ordinary response and may pass it on.

use super::origin::Origin;
use super::upstream::{strip_hop_by_hop, Upstream};
use crate::body::{plain, LimitedBody, ResponseBody};
use crate::guest::{NextHop, NextResponse, NEXT_AUTHORITY};
use crate::invoke::{Admission, Handler, InvokeError};
use crate::request::{content_length, RequestTag};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
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

    /// The route's instance slots (`max_concurrency`): the first element's.
    /// A request holds one for the whole chain, however long it is.
    pub fn slots(&self) -> &Arc<Semaphore> {
        match &self.elements[0] {
            Element::Component(handler) => &handler.slots,
            Element::Upstream(upstream) => &upstream.slots,
        }
    }

    /// Run a client's request through the chain, from its first element.
    pub async fn invoke(
        &self,
        request: hyper::Request<Incoming>,
        scheme: Scheme,
        tag: &RequestTag,
        admission: Admission,
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
            [first, ..] => (first, self.next(1, &request, &scheme, tag, arrived)),
            [] => unreachable!("a chain has at least one element"),
        };
        match first {
            Element::Component(handler) => {
                let response = handler
                    .run(request, scheme, tag, Some(admission), arrived, next)
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
                        .counted(tag.route.clone())
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
    ) -> Option<Arc<dyn NextHop>> {
        (index < self.elements.len()).then(|| {
            Arc::new(Next {
                chain: self.clone(),
                index,
                tag: tag.clone(),
                arrived,
                origin: Arc::new(Origin::of(request, matches!(scheme, Scheme::Https))),
            }) as Arc<dyn NextHop>
        })
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
}

impl NextHop for Next {
    fn send(self: Arc<Self>, request: http::Request<WasiBody>) -> NextResponse {
        Box::pin(async move { self.run(request).await })
    }
}

impl Next {
    /// Run the next element on a middleware's outgoing request and return
    /// its response as the middleware's incoming response.
    async fn run(
        &self,
        mut request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, Error> {
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
                let ran = handler
                    .run(
                        request,
                        self.origin.scheme(),
                        &self.tag,
                        None,
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
                        error.log(&self.tag);
                        Ok(plain(error.status(), error.public_message()))
                    }
                }
            }
            Element::Upstream(upstream) => Ok(upstream
                .forward(request, &self.tag, &self.origin, self.arrived, None)
                .await),
        }
    }
}
