//! Opt-in instance reuse: on a route with `instance_reuse = N`, one instance
//! serves up to N requests, one after another, instead of a fresh instance
//! per request.
//!
//! The pool is wasmtime-wasi-http's own `handler::ProxyHandler` (the machinery
//! behind `wasmtime serve --max-instance-reuse-count`); this module supplies
//! its policy, so that a reused instance keeps every guardrail a fresh one
//! has:
//!
//! - one request at a time per instance (a wasi:http 0.2 handler cannot take
//!   two at once), at most N per instance, idle instances dropped after
//!   [`IDLE_TIMEOUT`];
//! - each request brings its own deadline: the epoch callback traps a busy
//!   guest past it, and the worker's expiration drops an instance stuck in a
//!   host call past it; either way the instance is discarded;
//! - a trap discards the instance; the next request gets a fresh one;
//! - guest stdout/stderr and outbound log lines carry the request being
//!   served ([`RequestState::retag`]);
//! - the memory budget (the store's limiter) is the instance's: memory kept
//!   by one request counts against the next;
//! - the request holds its admission slots until its guest call ends, as on
//!   a fresh instance.
//!
//! What it gives up is isolation between requests: statics, heap contents and
//! anything else one request leaves in the instance are visible to the next.

use super::admission::Admission;
use super::error::{DeadlineExceeded, InvokeError};
use super::guarded::{GuardedBody, Outcome};
use crate::body::LimitedBody;
use crate::guest::{OutboundGate, RequestState};
use crate::request::{content_length, RequestTag};
use arc_swap::ArcSwap;
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, ProxyHandler, ProxyPre,
    ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::bindings::ProxyPre as P2ProxyPre;
use wasmtime_wasi_http::WasiHttpView;

/// How long an idle instance waits for its next request before it is
/// dropped (`wasmtime serve`'s default too).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a route needs to create instances that serve many requests.
pub struct InstanceRecipe {
    pub route: Arc<str>,
    pub env: Vec<(String, String)>,
    pub memory_bytes: usize,
    pub outbound: Arc<OutboundGate>,
    pub timeout: Duration,
    /// Requests one instance may serve (`instance_reuse`, ≥ 1).
    pub max_requests: usize,
}

/// A route's reused instances.
pub struct ReusePool {
    handler: ProxyHandler<RouteInstances>,
}

impl ReusePool {
    pub fn new(pre: P2ProxyPre<RequestState>, recipe: InstanceRecipe) -> ReusePool {
        ReusePool {
            handler: ProxyHandler::new(RouteInstances {
                pre: ProxyPre::P2(pre),
                recipe,
            }),
        }
    }

    /// Run one request on an instance of the pool (an idle one, or a new one).
    ///
    /// Same contract as the fresh path (`Handler::invoke`): returns once the
    /// guest has set its response, or failed or ran out of time first; the
    /// body ends with an error if the guest fails while streaming it.
    pub async fn invoke<B>(
        &self,
        request: hyper::Request<B>,
        tag: &RequestTag,
        admission: Admission,
        arrived: Instant,
        max_body: u64,
    ) -> Result<hyper::Response<GuardedBody>, InvokeError>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let timeout = self.handler.state().recipe.timeout;
        let deadline = arrived + timeout;
        if content_length(&request).is_some_and(|len| len > max_body) {
            return Err(InvokeError::BodyTooLarge(max_body));
        }
        // wasi:http needs an authority; refuse here rather than in the worker,
        // where a failed hand-over would cost the instance.
        if request.uri().authority().is_none()
            && request
                .headers()
                .get(http::header::HOST)
                .is_none_or(|host| host.to_str().is_err())
        {
            return Err(InvokeError::BadRequest(anyhow::anyhow!(
                "the request has no authority in its URI and no valid Host header"
            )));
        }
        let body_too_large = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            LimitedBody::new(body, max_body, body_too_large.clone())
                .counted(tag.route.clone())
                .boxed_unsync()
        });
        let (report, outcome) = oneshot::channel();
        let ticket = Ticket {
            tag: tag.clone(),
            deadline,
            admission: Some(admission),
            report: Some(report),
        };

        let answer = tokio::time::timeout_at(deadline.into(), self.handler.handle(ticket, request));
        let too_large = || body_too_large.load(Ordering::Relaxed);
        match answer.await {
            Ok(Ok(response)) if !too_large() => Ok(response.map(|body| {
                GuardedBody::ending_with(body, Outcome::Reported(outcome), tag.clone())
            })),
            Err(_elapsed) => Err(InvokeError::Timeout(timeout)),
            _ if too_large() => Err(InvokeError::BodyTooLarge(max_body)),
            Ok(Ok(_)) => unreachable!("handled above"),
            Ok(Err(error)) => Err(failure(error, outcome, deadline, timeout).await),
        }
    }
}

/// Why a request on a reused instance got no response.
async fn failure(
    error: wasmtime::Error,
    outcome: oneshot::Receiver<anyhow::Result<()>>,
    deadline: Instant,
    timeout: Duration,
) -> InvokeError {
    if error.is::<ExpirationError>() {
        return InvokeError::Timeout(timeout);
    }
    if let Some(code) = error.downcast_ref::<ErrorCode>() {
        return InvokeError::GuestError(code.clone());
    }
    if error.is::<InstantiationError<Ticket>>() {
        return InvokeError::Trap(anyhow::Error::from(error));
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
        Ok(Ok(Ok(()))) | Ok(Err(_)) => InvokeError::NoResponse,
    }
}

/// One request, as the instance serving it sees it.
pub struct Ticket {
    tag: RequestTag,
    deadline: Instant,
    /// Released when the request's guest call ends.
    admission: Option<Admission>,
    /// How the request's guest call ended.
    report: Option<oneshot::Sender<anyhow::Result<()>>>,
}

impl Ticket {
    /// The guest call for this request is over.
    fn finish(&mut self, outcome: anyhow::Result<()>) {
        self.admission = None;
        if let Some(report) = self.report.take() {
            let _ = report.send(outcome);
        }
    }
}

/// The request an instance is serving (or served last), shared by its
/// worker state, its expiration and its epoch callback.
#[derive(Default)]
struct Serving(Mutex<Option<Ticket>>);

impl Serving {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Ticket>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deadline(&self) -> Option<Instant> {
        self.lock().as_ref().map(|ticket| ticket.deadline)
    }
}

struct RouteInstances {
    pre: ProxyPre<RequestState>,
    recipe: InstanceRecipe,
}

impl HandlerState for RouteInstances {
    type StoreData = RequestState;
    type WorkerExpiration = InstanceExpiration;
    type WorkerState = InstanceState;

    async fn instantiate(
        &self,
    ) -> wasmtime::Result<Instance<RequestState, InstanceExpiration, InstanceState>> {
        let recipe = &self.recipe;
        let tag = Arc::new(ArcSwap::from_pointee(RequestTag {
            route: recipe.route.clone(),
            request_id: "-".into(),
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
        // As on a fresh instance (see invoke/handler.rs): yield every epoch tick,
        // trap past the deadline of the request being served.
        store.set_epoch_deadline(1);
        let (watch, timeout) = (serving.clone(), recipe.timeout);
        store.epoch_deadline_callback(move |_| match watch.deadline() {
            Some(deadline) if Instant::now() >= deadline => {
                Err(wasmtime::Error::new(DeadlineExceeded(timeout)))
            }
            _ => Ok(UpdateDeadline::Yield(1)),
        });
        let proxy = tokio::time::timeout(timeout, self.pre.instantiate_async(&mut store))
            .await
            .map_err(|_| wasmtime::format_err!("instantiation took longer than {timeout:?}"))??;
        Ok(Instance {
            store,
            proxy,
            view: WasiHttpView::http,
            expiration: InstanceExpiration {
                serving: serving.clone(),
                sleep: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            },
            state: InstanceState {
                serving,
                tag,
                route: recipe.route.clone(),
                max_requests: recipe.max_requests,
            },
        })
    }
}

impl RouteInstances {
    fn pre_engine(&self) -> &wasmtime::Engine {
        match &self.pre {
            ProxyPre::P2(pre) => pre.engine(),
        }
    }
}

/// One instance's policy: one request at a time, `max_requests` in all.
struct InstanceState {
    serving: Arc<Serving>,
    tag: Arc<ArcSwap<RequestTag>>,
    route: Arc<str>,
    max_requests: usize,
}

impl WorkerState for InstanceState {
    type StoreData = RequestState;
    type RequestData = Ticket;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_requests {
            ShouldAccept::Never
        } else if concurrent > 0 {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, RequestState>,
        ticket: Ticket,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        store.data_mut().retag(&ticket.tag);
        self.tag.store(Arc::new(ticket.tag.clone()));
        let deadline = ticket.deadline;
        // One request at a time: the previous one's call is over, and well,
        // since this instance is still alive.
        if let Some(mut previous) = self.serving.lock().replace(ticket) {
            previous.finish(Ok(()));
        }
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn drop(&self, store: Store<RequestState>, result: wasmtime::Result<()>) {
        let memory = &store.data().memory;
        let host = &store.data().host;
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
            } else {
                error
            }
        });
        let current = self.serving.lock().take();
        match (current, result) {
            (Some(mut ticket), Err(error)) => {
                tracing::info!(
                    route = %self.route,
                    request_id = %ticket.tag.request_id,
                    "reused instance discarded after a failure; the next request gets a fresh one"
                );
                ticket.finish(Err(error));
            }
            (Some(mut ticket), Ok(())) => ticket.finish(Ok(())),
            (None, Err(error)) => tracing::warn!(
                route = %self.route,
                detail = ?error,
                "reused instance failed between requests; discarded"
            ),
            (None, Ok(())) => {}
        }
        drop(store);
    }
}

/// When an instance must go: past the deadline of the request it serves
/// (even if it is stuck where the epoch callback cannot stop it), or after
/// [`IDLE_TIMEOUT`] without work.
struct InstanceExpiration {
    serving: Arc<Serving>,
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
            WorkerStatus::Requests => this.serving.deadline().unwrap_or(start + IDLE_TIMEOUT),
            WorkerStatus::PostReturn | WorkerStatus::Idle => {
                // The last request's call is over and the instance lives on.
                let mut serving = this.serving.lock();
                if let Some(ticket) = serving.as_mut() {
                    ticket.finish(Ok(()));
                }
                match (status, serving.as_ref()) {
                    (WorkerStatus::PostReturn, Some(ticket)) => ticket.deadline,
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
