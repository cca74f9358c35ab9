//! The instances of a route that do not follow the one-call, one-instance
//! shape of a fresh 0.2 request: every request to a wasi:http 0.3 component
//! (fresh by default), and every request to an `instance_reuse` route.
//!
//! The pool is wasmtime-wasi-http's own `handler::ProxyHandler` (the machinery
//! behind `wasmtime serve`): one worker task per instance drives the store's
//! event loop, which a 0.3 instance needs for as long as it writes a
//! response body or runs work after `handle` returned. This module supplies
//! its policy, so that every instance keeps every guardrail a fresh 0.2
//! instance has:
//!
//! - at most `max_requests` per instance (1: a fresh instance per request,
//!   the default for 0.3 too), at most `max_concurrent` at once (1 for a 0.2
//!   component, which cannot take two at once; `instance_concurrency` for
//!   0.3), idle instances dropped after a second (see `instances`);
//! - each request brings its own deadline: the epoch callback traps a busy
//!   guest once the latest deadline of the requests it took has passed, the
//!   worker's expiration drops an instance stuck in a host call, and a 0.3
//!   response body is cut at its own request's deadline; the instance is
//!   then discarded;
//! - a trap discards the instance; the next request gets a fresh one. A 0.3
//!   body ends cleanly when its instance goes, so each body checks how its
//!   instance ended ([`Fate`]) and is cut short if it failed;
//! - guest stdout/stderr and outbound log lines carry the request being
//!   served ([`RequestState::retag`]) when an instance serves one at a time,
//!   and the instance (`instance-N`) when it serves several at once;
//! - the memory budget (the store's limiter) is the instance's: memory kept
//!   by one request counts against the next;
//! - a request holds its admission slots until its response body ends, and
//!   on a fresh 0.3 instance until the instance is gone (work after the
//!   response included).
//!
//! What reuse gives up is isolation between requests: statics, heap contents
//! and anything else one request leaves in the instance are visible to the
//! next, or, with concurrency, to the ones beside it.

use super::admission::InstanceSlot;
use super::error::{DeadlineExceeded, InvokeError};
use super::fate::{Ended, Fate, Shared};
use super::guarded::{GuardedBody, Outcome};
use super::instances::{InstanceRecipe, RouteInstances, Ticket};
use super::limited::limited_request;
use crate::guest::{NextHop, RequestState};
use crate::request::RequestTag;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use wasmtime_wasi_http::handler::{
    ExpirationError, InstantiationError, ProxyHandler, ProxyPre, TrapOrPanicError,
};
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode as P2ErrorCode, Scheme};
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode as P3ErrorCode;

/// A route's instances.
pub struct InstancePool {
    handler: ProxyHandler<RouteInstances>,
}

impl InstancePool {
    pub fn new(pre: ProxyPre<RequestState>, recipe: InstanceRecipe) -> InstancePool {
        let p3 = matches!(pre, ProxyPre::P3(_));
        InstancePool {
            handler: ProxyHandler::new(RouteInstances {
                pre,
                recipe,
                p3,
                instances: AtomicU64::new(0),
            }),
        }
    }

    /// Run one request on an instance of the pool (an idle one, or a new one).
    ///
    /// Same contract as the fresh path (`Handler::run`, which has already
    /// refused a declared body over the limit): returns once the
    /// guest has set its response, or failed or ran out of time first; the
    /// body ends with an error if the guest fails while streaming it. `slot`
    /// is held until the response is done; `next` is where a middleware's
    /// requests to `next` go (a chain runs on fresh instances only).
    pub async fn invoke<B>(
        &self,
        mut request: hyper::Request<B>,
        scheme: &Scheme,
        tag: &RequestTag,
        slot: InstanceSlot,
        arrived: Instant,
        next: Option<Arc<dyn NextHop>>,
    ) -> Result<hyper::Response<GuardedBody>, InvokeError>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let state = self.handler.state();
        let (timeout, max_body) = (state.recipe.timeout, state.recipe.max_request_body);
        let deadline = arrived + timeout;
        // wasi:http needs an authority; refuse here rather than in the worker,
        // where a failed hand-over would cost the instance.
        let authority = authority(&request).ok_or_else(|| {
            InvokeError::BadRequest(anyhow::anyhow!(
                "the request has no authority in its URI and no valid Host header"
            ))
        })?;
        if state.p3 {
            // A 0.3 guest reads scheme and authority from the URI alone
            // (the Host header is withheld from it), so give it the full one.
            absolute_uri(&mut request, scheme, authority)?;
        }
        let (request, body_too_large) = limited_request(request, max_body, tag, &slot);
        let request = request.map(BodyExt::boxed_unsync);
        let slot = Arc::new(slot);
        let (report, outcome) = oneshot::channel();
        let (assigned, fate) = oneshot::channel();
        let ticket = Ticket {
            tag: tag.clone(),
            deadline,
            next,
            slot: Some(slot.clone()),
            report: Some(report),
            assigned: Some(assigned),
        };
        // A 0.2 call ends with its body, so its ticket holds the slot alone;
        // a 0.3 body outlives the call and holds it too.
        let body_slot = state.p3.then_some(slot);

        let answer = tokio::time::timeout_at(deadline.into(), self.handler.handle(ticket, request));
        let too_large = || body_too_large.load(Ordering::Relaxed);
        let mut fate = fate;
        match answer.await {
            Ok(Ok(response)) if !too_large() => Ok(response.map(|body| match body_slot {
                None => GuardedBody::ending_with(body, Outcome::Reported(outcome), tag.clone()),
                Some(slot) => {
                    // Sent when the instance took the request, which it did
                    // before it could answer.
                    let fate = fate.try_recv().unwrap_or_else(|_| Fate::unknown());
                    GuardedBody::ending_with(body, Outcome::Fate(fate), tag.clone())
                        .holding(slot)
                        .until(deadline, timeout)
                }
            })),
            Err(_elapsed) => Err(InvokeError::Timeout(timeout)),
            _ if too_large() => Err(InvokeError::BodyTooLarge(max_body)),
            Ok(Ok(_)) => unreachable!("handled above"),
            Ok(Err(error)) => Err(failure(error, outcome, fate, deadline, timeout).await),
        }
    }
}

/// The request's authority: its URI's, else its `Host` header's.
fn authority<B>(request: &hyper::Request<B>) -> Option<http::uri::Authority> {
    if let Some(authority) = request.uri().authority() {
        return Some(authority.clone());
    }
    let host = request.headers().get(http::header::HOST)?.to_str().ok()?;
    host.parse().ok()
}

/// Make `request`'s URI absolute: the scheme the client used and its
/// authority, with the path and query it sent.
fn absolute_uri<B>(
    request: &mut hyper::Request<B>,
    scheme: &Scheme,
    authority: http::uri::Authority,
) -> Result<(), InvokeError> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(match scheme {
        Scheme::Https => http::uri::Scheme::HTTPS,
        _ => http::uri::Scheme::HTTP,
    });
    parts.authority = Some(authority);
    parts.path_and_query = Some(
        request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    *request.uri_mut() = http::Uri::from_parts(parts)
        .map_err(|error| InvokeError::BadRequest(anyhow::Error::from(error)))?;
    Ok(())
}

/// Why a request on a pooled instance got no response.
async fn failure(
    error: wasmtime::Error,
    outcome: oneshot::Receiver<anyhow::Result<()>>,
    mut fate: oneshot::Receiver<Fate>,
    deadline: Instant,
    timeout: Duration,
) -> InvokeError {
    if error.is::<ExpirationError>() {
        return InvokeError::Timeout(timeout);
    }
    if let Some(code) = error.downcast_ref::<P2ErrorCode>() {
        return InvokeError::GuestError(format!("{code:?}"));
    }
    if let Some(code) = error.downcast_ref::<P3ErrorCode>() {
        return InvokeError::GuestError(format!("{code:?}"));
    }
    if error.is::<InstantiationError<Ticket>>() {
        return InvokeError::Trap(anyhow::Error::from(error));
    }
    // A 0.3 instance that failed before answering: it says how.
    if error.is::<TrapOrPanicError>() {
        if let Ok(fate) = fate.try_recv() {
            return match tokio::time::timeout_at(deadline.into(), fate.ended()).await {
                Err(_) | Ok(Ended::TimedOut(_)) => InvokeError::Timeout(timeout),
                Ok(Ended::Failed(error)) => InvokeError::Trap(anyhow::Error::new(Shared(error))),
                Ok(Ended::Ok) => InvokeError::NoResponse,
            };
        }
    }
    // The guest returned without a response, or the instance failed: its
    // worker reports which (at the latest by the deadline, when it is dropped).
    match tokio::time::timeout_at(deadline.into(), outcome).await {
        Err(_elapsed) => InvokeError::Timeout(timeout),
        // Trapped by the epoch callback, or dropped by the expiration.
        Ok(Ok(Err(error))) if error.is::<DeadlineExceeded>() || Instant::now() >= deadline => {
            InvokeError::Timeout(timeout)
        }
        Ok(Ok(Err(error))) => InvokeError::Trap(error),
        Ok(Ok(Ok(()))) => InvokeError::NoResponse,
        Ok(Err(_)) => InvokeError::Trap(anyhow::Error::from(error)),
    }
}
