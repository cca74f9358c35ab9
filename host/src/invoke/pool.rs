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
//!   0.3), idle instances dropped after [`IDLE_TIMEOUT`];
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
use super::guarded::{GuardedBody, Outcome};
use crate::body::LimitedBody;
use crate::guest::{NextHop, OutboundGate, RequestState};
use crate::request::{content_length, RequestTag};
use arc_swap::ArcSwap;
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, ProxyHandler, ProxyPre,
    ShouldAccept, TrapOrPanicError, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode as P2ErrorCode, Scheme};
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode as P3ErrorCode;
use wasmtime_wasi_http::WasiHttpView;

/// How long an idle instance waits for its next request before it is
/// dropped (`wasmtime serve`'s default too).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a route needs to create its instances.
pub struct InstanceRecipe {
    pub route: Arc<str>,
    pub env: Vec<(String, String)>,
    pub memory_bytes: usize,
    pub outbound: Arc<OutboundGate>,
    pub timeout: Duration,
    /// `max_request_body_bytes`.
    pub max_request_body: u64,
    /// Requests one instance may serve (`instance_reuse`, ≥ 1).
    pub max_requests: usize,
    /// Requests one instance serves at once (`instance_concurrency`, ≥ 1).
    pub max_concurrent: usize,
}

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
    /// Same contract as the fresh path (`Handler::run`): returns once the
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
        if content_length(&request).is_some_and(|len| len > max_body) {
            return Err(InvokeError::BodyTooLarge(max_body));
        }
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
        let from_client = matches!(slot, InstanceSlot::First(_));
        let body_too_large = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            let body = LimitedBody::new(body, max_body, body_too_large.clone());
            if from_client {
                body.counted(tag.route.clone()).boxed_unsync()
            } else {
                body.boxed_unsync()
            }
        });
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

/// How an instance ended, once it has: what a 0.3 body that outlived its
/// call checks at its end.
#[derive(Clone)]
pub enum Ended {
    Ok,
    /// Dropped at a request's deadline (the epoch trap or the expiration),
    /// the route's timeout.
    TimedOut(Duration),
    Failed(Arc<anyhow::Error>),
}

/// Where an instance's end is announced: set by the worker before it drops
/// the store (which is what ends the instance's bodies), so a body that
/// ends sees it.
#[derive(Clone)]
pub struct Fate(watch::Receiver<Option<Ended>>);

impl Fate {
    /// A fate that never comes: the instance's end is not known.
    fn unknown() -> Fate {
        Fate(watch::channel(None).1)
    }

    /// How the instance ended, if it has.
    pub fn now(&self) -> Option<Ended> {
        self.0.borrow().clone()
    }

    /// Wait for the instance to end.
    async fn ended(mut self) -> Ended {
        match self.0.wait_for(Option::is_some).await {
            Ok(ended) => ended.clone().unwrap_or(Ended::Ok),
            Err(_) => Ended::Failed(Arc::new(anyhow::anyhow!("the instance's worker panicked"))),
        }
    }
}

/// A shared instance failure as one request's error: shows as the original.
struct Shared(Arc<anyhow::Error>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Shared {}

/// One request, as the instance serving it sees it.
pub struct Ticket {
    tag: RequestTag,
    deadline: Instant,
    next: Option<Arc<dyn NextHop>>,
    /// Released when the request's guest call ends (0.2), or when the
    /// instance goes (a fresh 0.3 instance).
    slot: Option<Arc<InstanceSlot>>,
    /// How the request's guest call ended (0.2).
    report: Option<oneshot::Sender<anyhow::Result<()>>>,
    /// The fate of the instance that took the request (0.3).
    assigned: Option<oneshot::Sender<Fate>>,
}

impl Ticket {
    /// The guest call for this request is over.
    fn finish(&mut self, outcome: anyhow::Result<()>) {
        self.slot = None;
        if let Some(report) = self.report.take() {
            let _ = report.send(outcome);
        }
    }
}

/// The requests an instance has taken, shared by its worker state, its
/// expiration and its epoch callback.
#[derive(Default)]
struct Serving {
    /// The request it serves (or served last) when it takes one at a time,
    /// and a fresh 0.3 instance's only request.
    current: Mutex<Option<Ticket>>,
    /// The latest deadline of the requests it took.
    latest: Mutex<Option<Instant>>,
}

impl Serving {
    fn current(&self) -> std::sync::MutexGuard<'_, Option<Ticket>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn latest(&self) -> Option<Instant> {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn took(&self, deadline: Instant) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        *latest = Some(latest.map_or(deadline, |l| l.max(deadline)));
    }
}

struct RouteInstances {
    pre: ProxyPre<RequestState>,
    recipe: InstanceRecipe,
    /// A 0.3 component.
    p3: bool,
    /// Instances created so far: names an instance in its log lines.
    instances: AtomicU64,
}

impl HandlerState for RouteInstances {
    type StoreData = RequestState;
    type WorkerExpiration = InstanceExpiration;
    type WorkerState = InstanceState;

    async fn instantiate(
        &self,
    ) -> wasmtime::Result<Instance<RequestState, InstanceExpiration, InstanceState>> {
        let recipe = &self.recipe;
        let number = self.instances.fetch_add(1, Ordering::Relaxed) + 1;
        let tag = Arc::new(ArcSwap::from_pointee(RequestTag {
            route: recipe.route.clone(),
            request_id: if recipe.max_concurrent > 1 {
                format!("instance-{number}").into()
            } else {
                "-".into()
            },
            hops: 0,
        }));
        let state = RequestState::for_reuse(
            &recipe.env,
            &tag,
            recipe.memory_bytes,
            recipe.outbound.clone(),
        );
        let serving = Arc::new(Serving::default());
        let mut store = Store::new(self.pre_engine(), state);
        store.limiter(|state| &mut state.memory);
        // As on a fresh instance (see invoke/handler.rs): yield every epoch
        // tick, trap once every request it took is past its deadline.
        store.set_epoch_deadline(1);
        let (watch, timeout) = (serving.clone(), recipe.timeout);
        store.epoch_deadline_callback(move |_| match watch.latest() {
            Some(deadline) if Instant::now() >= deadline => {
                Err(wasmtime::Error::new(DeadlineExceeded(timeout)))
            }
            _ => Ok(UpdateDeadline::Yield(1)),
        });
        let instantiating = Instant::now();
        let proxy = tokio::time::timeout(timeout, self.pre.instantiate_async(&mut store))
            .await
            .map_err(|_| wasmtime::format_err!("instantiation took longer than {timeout:?}"))??;
        crate::telemetry::instantiated(&recipe.route, instantiating.elapsed());
        crate::telemetry::pooled_instances(&recipe.route, 1.0);
        let (fate, _) = watch::channel(None);
        Ok(Instance {
            store,
            proxy,
            view: WasiHttpView::http,
            expiration: InstanceExpiration {
                serving: serving.clone(),
                p3: self.p3,
                sleep: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            },
            state: InstanceState {
                serving,
                tag,
                route: recipe.route.clone(),
                max_requests: recipe.max_requests,
                max_concurrent: recipe.max_concurrent,
                p3: self.p3,
                timeout,
                fate,
            },
        })
    }
}

impl RouteInstances {
    fn pre_engine(&self) -> &wasmtime::Engine {
        match &self.pre {
            ProxyPre::P2(pre) => pre.engine(),
            ProxyPre::P3(pre) => pre.engine(),
        }
    }
}

/// One instance's policy: `max_concurrent` at once, `max_requests` in all.
struct InstanceState {
    serving: Arc<Serving>,
    tag: Arc<ArcSwap<RequestTag>>,
    route: Arc<str>,
    max_requests: usize,
    max_concurrent: usize,
    p3: bool,
    timeout: Duration,
    fate: watch::Sender<Option<Ended>>,
}

impl WorkerState for InstanceState {
    type StoreData = RequestState;
    type RequestData = Ticket;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_requests {
            ShouldAccept::Never
        } else if concurrent >= self.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, RequestState>,
        mut ticket: Ticket,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        let deadline = ticket.deadline;
        self.serving.took(deadline);
        if let Some(assigned) = ticket.assigned.take() {
            let _ = assigned.send(Fate(self.fate.subscribe()));
        }
        if self.max_concurrent == 1 {
            // One request at a time: its log lines and `next` are its own.
            store.data_mut().retag(&ticket.tag);
            store.data_mut().set_next(ticket.next.take());
            self.tag.store(Arc::new(ticket.tag.clone()));
        }
        if self.p3 && self.max_requests > 1 {
            // Its body holds the slot; the instance goes on to other work.
            ticket.finish(Ok(()));
            return Box::pin(tokio::time::sleep_until(deadline.into()));
        }
        // One request at a time: the previous one's call is over, and well,
        // since this instance is still alive.
        if let Some(mut previous) = self.serving.current().replace(ticket) {
            previous.finish(Ok(()));
        }
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn drop(&self, store: Store<RequestState>, result: wasmtime::Result<()>) {
        let memory = &store.data().memory;
        let host = &store.data().host;
        let late = self.serving.latest().is_some_and(|d| Instant::now() >= d);
        let result = result.map_err(|error| {
            let error = anyhow::Error::from(error);
            if host.exceeded {
                crate::telemetry::memory_budget_hit(&self.route, "host");
                error.context(format!(
                    "the guest ran out of host memory: header maps and body buffers are limited to {} MiB per instance",
                    host.limit() >> 20
                ))
            } else if memory.exceeded {
                error.context(format!(
                    "the guest ran out of memory: its limit is {} MiB (for the whole instance, over every request it served)",
                    memory.limit() >> 20
                ))
            } else if late || error.is::<DeadlineExceeded>() {
                anyhow::Error::new(DeadlineExceeded(self.timeout))
            } else {
                error
            }
        });
        // Announced before the store goes: dropping it ends the instance's
        // 0.3 bodies, which then read this.
        self.fate.send_replace(Some(match &result {
            Ok(()) => Ended::Ok,
            Err(error) if error.is::<DeadlineExceeded>() => Ended::TimedOut(self.timeout),
            Err(error) => Ended::Failed(Arc::new(anyhow::anyhow!("{error:?}"))),
        }));
        let current = self.serving.current().take();
        drop(store);
        crate::telemetry::pooled_instances(&self.route, -1.0);
        match (current, result) {
            (Some(mut ticket), Err(error)) => {
                let what = if self.max_requests > 1 {
                    "reused instance discarded after a failure; the next request gets a fresh one"
                } else {
                    "instance discarded after a failure"
                };
                tracing::info!(
                    route = %self.route,
                    request_id = %ticket.tag.request_id,
                    "{what}"
                );
                ticket.finish(Err(error));
            }
            (Some(mut ticket), Ok(())) => ticket.finish(Ok(())),
            (None, Err(error)) => tracing::warn!(
                route = %self.route,
                request_id = %self.tag.load().request_id,
                detail = ?error,
                "instance failed; discarded, the next request gets a fresh one"
            ),
            (None, Ok(())) => {}
        }
    }
}

/// When an instance must go: once the requests it took are past their
/// deadline (even if it is stuck where the epoch callback cannot stop it),
/// or after [`IDLE_TIMEOUT`] without work.
struct InstanceExpiration {
    serving: Arc<Serving>,
    p3: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for InstanceExpiration {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        let until = match status {
            WorkerStatus::Requests => this.serving.latest().unwrap_or(start + IDLE_TIMEOUT),
            WorkerStatus::PostReturn | WorkerStatus::Idle => {
                if !this.p3 {
                    // The last 0.2 call is over and the instance lives on.
                    if let Some(ticket) = this.serving.current().as_mut() {
                        ticket.finish(Ok(()));
                    }
                }
                match (status, this.serving.latest()) {
                    // Bodies and background work of the requests it took.
                    (WorkerStatus::PostReturn, Some(deadline)) => deadline,
                    _ => start + IDLE_TIMEOUT,
                }
            }
        };
        let until = tokio::time::Instant::from(until);
        if this.sleep.deadline() != until {
            this.sleep.as_mut().reset(until);
        }
        this.sleep.as_mut().poll(cx)
    }
}
