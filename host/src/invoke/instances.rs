//! One pooled instance's policy, as wasmtime-wasi-http's `ProxyHandler`
//! asks for it: how it is created ([`RouteInstances`]), which requests it
//! takes and what it does when it starts one or is dropped
//! ([`InstanceState`]), and when it must go ([`InstanceExpiration`]). What
//! each request carries into it is its [`Ticket`]. See `pool` for the
//! guardrails this keeps.

use super::admission::InstanceSlot;
use super::error::DeadlineExceeded;
use super::fate::{Ended, Fate};
use crate::guest::{Grants, NextHop, OutboundGate, RequestState};
use crate::request::RequestTag;
use crate::telemetry::RouteMetrics;
use arc_swap::ArcSwap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, ProxyPre, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::WasiHttpView;

/// How long an idle instance waits for its next request before it is
/// dropped (`wasmtime serve`'s default too).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a route needs to create its instances.
pub struct InstanceRecipe {
    pub route: Arc<str>,
    pub metrics: Arc<RouteMetrics>,
    pub grants: Grants,
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

/// One request, as the instance serving it sees it.
pub struct Ticket {
    pub(super) tag: RequestTag,
    pub(super) deadline: Instant,
    pub(super) next: Option<Arc<dyn NextHop>>,
    /// Released when the request's guest call ends (0.2), or when the
    /// instance goes (a fresh 0.3 instance).
    pub(super) slot: Option<Arc<InstanceSlot>>,
    /// How the request's guest call ended (0.2).
    pub(super) report: Option<oneshot::Sender<anyhow::Result<()>>>,
    /// The fate of the instance that took the request (0.3).
    pub(super) assigned: Option<oneshot::Sender<Fate>>,
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

pub struct RouteInstances {
    pub(super) pre: ProxyPre<RequestState>,
    pub(super) recipe: InstanceRecipe,
    /// A 0.3 component.
    pub(super) p3: bool,
    /// Instances created so far: names an instance in its log lines.
    pub(super) instances: AtomicU64,
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
            metrics: recipe.metrics.clone(),
            request_id: if recipe.max_concurrent > 1 {
                format!("instance-{number}").into()
            } else {
                "-".into()
            },
            hops: 0,
            generation: 0,
            trace: None,
        }));
        let state = RequestState::for_reuse(
            &recipe.grants,
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
        recipe.metrics.instantiated(instantiating.elapsed());
        recipe.metrics.pooled_instances(1.0);
        let (fate, _) = super::fate::channel();
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
                metrics: recipe.metrics.clone(),
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
pub struct InstanceState {
    serving: Arc<Serving>,
    tag: Arc<ArcSwap<RequestTag>>,
    route: Arc<str>,
    metrics: Arc<RouteMetrics>,
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
            store.data_mut().retag(&ticket.tag, Some(deadline));
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
        self.metrics.pooled_instances(-1.0);
        match (current, result) {
            (Some(mut ticket), Err(error)) => {
                let what = if self.max_requests > 1 {
                    "reused instance discarded after a failure; the next request gets a fresh one"
                } else {
                    "instance discarded after a failure"
                };
                tracing::info!(
                    route = %self.route,
                    request_id = %ticket.tag.request_id, trace_id = ticket.tag.trace_id(),
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
pub struct InstanceExpiration {
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
