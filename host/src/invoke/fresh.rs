//! The wasi:http 0.2 fresh-instance path: one request, one new `Store`
//! and instance on the engine without component-model concurrency, the
//! guest's `handle` call in its own task, the response returned as soon as
//! the guest sets it and its body streaming while the guest keeps writing.
//! Everything else (0.3 components, `instance_reuse`) runs in the route's
//! instance pool (see `pool`).

use super::admission::InstanceSlot;
use super::error::{DeadlineExceeded, InvokeError};
use super::guarded::GuardedBody;
use super::handler::Handler;
use super::limited::limited_request;
use crate::guest::{NextHop, RequestState};
use crate::request::RequestTag;
use crate::runtime::HandlerPre;
use crate::telemetry;
use bytes::Bytes;
use http_body::Body;
use opentelemetry::KeyValue;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::WasiHttpView;

impl Handler {
    /// [`Handler::run`] on a fresh instance of a 0.2 component.
    pub(super) async fn run_fresh<B>(
        &self,
        request: hyper::Request<B>,
        scheme: Scheme,
        tag: &RequestTag,
        slot: InstanceSlot,
        arrived: Instant,
        next: Option<Arc<dyn NextHop>>,
    ) -> Result<hyper::Response<GuardedBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let HandlerPre::P2(pre) = &self.pre else {
            return Err(InvokeError::Internal(anyhow::anyhow!(
                "a wasi:http 0.3 handler without its instance pool"
            )));
        };
        let (timeout, max_body) = (self.limits.timeout, self.limits.max_request_body);
        let deadline = arrived + timeout;
        let (request, body_too_large) = limited_request(request, max_body, tag, &slot);

        let state = RequestState::new(
            &self.grants,
            tag,
            deadline,
            self.limits.memory_bytes,
            self.outbound.clone(),
        )
        .with_next(next);
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|state| &mut state.memory);
        // Every epoch tick (see runtime/host.rs) the guest yields to the runtime,
        // so a busy guest never holds a thread; past the deadline it traps.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded(timeout)))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(scheme, request)
            .map_err(|e| InvokeError::BadRequest(e.into()))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| InvokeError::Internal(e.into()))?;

        let pre = pre.clone();
        let (route, metrics) = (tag.route.clone(), tag.metrics.clone());
        let span = tag.trace.clone();
        // One value, so that however the task ends (even aborted) the store,
        // and with it the pool slot, goes before the server slot.
        let running = Running { store, _slot: slot };
        let mut guest = tokio::spawn(async move {
            // The whole value, not only the field used (closures and async
            // blocks capture fields): the slot must live as long as the task.
            let mut running = running;
            let store = &mut running.store;
            let run = async {
                let instantiating = Instant::now();
                let proxy = pre.instantiate_async(&mut *store).await?;
                let took = instantiating.elapsed();
                metrics.instantiated(took);
                if let Some(span) = &span {
                    let micros = took.as_micros() as i64;
                    span.set(KeyValue::new("switchyard.instantiation_us", micros));
                }
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut *store, request, outparam)
                    .await
            };
            // Also stops a guest blocked in a host call (a sleep, a read).
            let outcome = tokio::time::timeout_at(deadline.into(), run).await;
            let memory = &store.data().memory;
            let host = &store.data().host;
            match outcome {
                Ok(Ok(())) => Ok(()),
                Err(_) => Err(anyhow::Error::new(DeadlineExceeded(timeout))),
                Ok(Err(error)) if error.downcast_ref::<DeadlineExceeded>().is_some() => {
                    Err(anyhow::Error::new(DeadlineExceeded(timeout)))
                }
                Ok(Err(error)) if memory.exceeded => {
                    telemetry::limit_hit(&route, "memory");
                    telemetry::memory_budget_hit(&route, "linear");
                    Err(anyhow::Error::from(error).context(format!(
                        "the guest ran out of memory: its limit is {} MiB",
                        memory.limit() >> 20
                    )))
                }
                Ok(Err(error)) if host.exceeded => {
                    telemetry::limit_hit(&route, "host_memory");
                    telemetry::memory_budget_hit(&route, "host");
                    Err(anyhow::Error::from(error).context(format!(
                        "the guest ran out of host memory: header maps and body buffers are limited to {} MiB per instance",
                        host.limit() >> 20
                    )))
                }
                Ok(Err(error)) => Err(anyhow::Error::from(error)),
            }
        });

        let too_large = || body_too_large.load(Ordering::Relaxed);
        let outcome = tokio::time::timeout_at(deadline.into(), receiver).await;
        let failure = match outcome {
            Ok(Ok(Ok(response))) if !too_large() => {
                return Ok(response.map(|body| GuardedBody::new(body, guest, tag.clone())));
            }
            Err(_elapsed) => InvokeError::Timeout(timeout),
            _ if too_large() => InvokeError::BodyTooLarge(max_body),
            Ok(Ok(Ok(_))) => unreachable!("handled above"),
            Ok(Ok(Err(code))) => InvokeError::GuestError(format!("{code:?}")),
            // The outparam was dropped unset: the guest is done; ask how it ended.
            Ok(Err(_)) => match (&mut guest).await {
                Ok(Ok(())) => InvokeError::NoResponse,
                Ok(Err(error)) if error.is::<DeadlineExceeded>() => InvokeError::Timeout(timeout),
                Ok(Err(_)) if too_large() => InvokeError::BodyTooLarge(max_body),
                Ok(Err(error)) => InvokeError::Trap(error),
                Err(join) => InvokeError::Internal(
                    anyhow::Error::from(join).context("the guest task panicked"),
                ),
            },
        };
        guest.abort();
        Err(failure)
    }
}

/// A fresh instance's store and the slot it holds, dropped in this order.
struct Running {
    store: Store<RequestState>,
    _slot: InstanceSlot,
}
