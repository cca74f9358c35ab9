//! A guest's response body as the client receives it.
//!
//! A guest's response body streams while the guest is still running. If the
//! guest traps half-way, wasmtime-wasi-http simply ends the body, which would
//! look to the client like a complete response. [`GuardedBody`] waits for the
//! guest's outcome at the end of the stream and, if the guest failed, ends
//! the body with an error instead: hyper then closes an HTTP/1.1 connection
//! without the final chunk, or resets the HTTP/2 stream, so the client can
//! tell the response was cut short.
//!
//! A wasi:http 0.3 guest writes its body after `handle` returned, so its
//! body also carries what its request holds (the admission slots) and its
//! deadline, past which the body is cut the same way.

use super::admission::InstanceSlot;
use super::error::DeadlineExceeded;
use super::fate::{Ended, Fate};
use crate::request::RequestTag;
use crate::telemetry;
use crate::telemetry::trace::Span;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::KeyValue;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How a guest's run on a request ends, once it has.
pub enum Outcome {
    /// The task running a fresh instance.
    Task(JoinHandle<anyhow::Result<()>>),
    /// A reused instance reports each request's end (see `reuse`); a dropped
    /// sender counts as success: the instance went on to other work.
    Reported(tokio::sync::oneshot::Receiver<anyhow::Result<()>>),
    /// A 0.3 instance's end, read (never awaited) when the body ends: the
    /// instance announces it before its store, and with it the body, goes.
    Fate(Fate),
}

impl Future for Outcome {
    type Output = anyhow::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<anyhow::Result<()>> {
        match self.get_mut() {
            Outcome::Task(task) => Poll::Ready(match ready!(Pin::new(task).poll(cx)) {
                Ok(outcome) => outcome,
                Err(join) => Err(anyhow::Error::from(join).context("the guest task panicked")),
            }),
            Outcome::Reported(report) => {
                Poll::Ready(ready!(Pin::new(report).poll(cx)).unwrap_or(Ok(())))
            }
            Outcome::Fate(fate) => Poll::Ready(match fate.now() {
                Some(Ended::Failed(error)) => Err(anyhow::anyhow!("{error:?}")),
                Some(Ended::TimedOut(timeout)) => {
                    Err(anyhow::Error::new(DeadlineExceeded(timeout)))
                }
                Some(Ended::Ok) | None => Ok(()),
            }),
        }
    }
}

/// A guest's response body, cut short (with an error) if the guest fails.
pub struct GuardedBody {
    inner: HyperOutgoingBody,
    guest: Option<Outcome>,
    tag: RequestTag,
    /// What the request holds until its body is done.
    _holds: Option<Arc<InstanceSlot>>,
    /// The request's deadline, when the body must keep it itself.
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
    /// The element's span, ended with the body.
    trace: Option<Span>,
}

impl GuardedBody {
    pub fn new(
        inner: HyperOutgoingBody,
        guest: JoinHandle<anyhow::Result<()>>,
        tag: RequestTag,
    ) -> GuardedBody {
        GuardedBody::ending_with(inner, Outcome::Task(guest), tag)
    }

    /// A body whose end waits for `outcome`.
    pub fn ending_with(inner: HyperOutgoingBody, outcome: Outcome, tag: RequestTag) -> GuardedBody {
        GuardedBody {
            inner,
            guest: Some(outcome),
            tag,
            _holds: None,
            deadline: None,
            trace: None,
        }
    }

    /// End `span` when the body ends, with how it ended.
    pub fn traced(mut self, span: Span) -> GuardedBody {
        self.trace = Some(span);
        self
    }

    /// End the element's span: `outcome`, and why when it failed.
    fn end_span(&mut self, outcome: &'static str, failure: Option<String>) {
        let Some(span) = self.trace.take() else {
            return;
        };
        span.set(KeyValue::new("switchyard.outcome", outcome));
        if let Some(failure) = failure {
            span.fail(failure);
        }
        span.end();
    }

    /// Hold `slot` until the body is done.
    pub fn holding(mut self, slot: Arc<InstanceSlot>) -> GuardedBody {
        self._holds = Some(slot);
        self
    }

    /// Cut the body short at `deadline` (the route's `timeout` after the
    /// request arrived).
    pub fn until(mut self, deadline: Instant, timeout: Duration) -> GuardedBody {
        let sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
        self.deadline = Some((sleep, timeout));
        self
    }

    /// Past the deadline: end the body with the error that says so.
    fn poll_deadline(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, anyhow::Error>>> {
        let Some((sleep, timeout)) = self.deadline.as_mut() else {
            return Poll::Pending;
        };
        ready!(sleep.as_mut().poll(cx));
        let timeout = *timeout;
        self.deadline = None;
        self.guest = None;
        telemetry::limit_hit(&self.tag.route, "timeout");
        tracing::error!(
            route = %self.tag.route,
            request_id = %self.tag.request_id,
            trace_id = self.tag.trace_id(),
            "the route's deadline of {timeout:?} passed while the guest was streaming its response; cutting the response short"
        );
        let why = format!("the route's deadline of {timeout:?} passed while streaming");
        self.end_span("timeout", Some(why));
        Poll::Ready(Some(Err(anyhow::Error::new(DeadlineExceeded(timeout))
            .context("guest failed while streaming its response"))))
    }

    /// The body has ended; end the response only if the guest succeeded.
    fn poll_outcome(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, anyhow::Error>>> {
        let Some(guest) = self.guest.as_mut() else {
            return Poll::Ready(None);
        };
        let outcome = ready!(Pin::new(guest).poll(cx));
        self.guest = None;
        let Err(error) = outcome else {
            self.end_span("complete", None);
            return Poll::Ready(None);
        };
        let timed_out = error.is::<DeadlineExceeded>();
        if timed_out {
            telemetry::limit_hit(&self.tag.route, "timeout");
        }
        let outcome = if timed_out { "timeout" } else { "trap" };
        self.end_span(outcome, Some(format!("{error:#}")));
        tracing::error!(
            route = %self.tag.route,
            request_id = %self.tag.request_id,
            trace_id = self.tag.trace_id(),
            detail = ?error,
            "guest failed while streaming its response; cutting the response short"
        );
        Poll::Ready(Some(Err(
            error.context("guest failed while streaming its response")
        )))
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = anyhow::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, anyhow::Error>>> {
        let this = self.get_mut();
        if this.guest.is_none() {
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => return this.poll_deadline(cx),
        };
        match frame {
            Some(Ok(frame)) => Poll::Ready(Some(Ok(frame))),
            Some(Err(error)) => {
                tracing::warn!(
                    route = %this.tag.route,
                    request_id = %this.tag.request_id,
                    trace_id = this.tag.trace_id(),
                    "response body failed: {error}"
                );
                this.end_span("cut short", Some(format!("response body failed: {error}")));
                Poll::Ready(Some(Err(anyhow::Error::from(error))))
            }
            None => this.poll_outcome(cx),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for GuardedBody {
    /// A body dropped before its end: the client went away (or the server
    /// cut it) while the guest was still answering.
    fn drop(&mut self) {
        self.end_span("cut short", None);
    }
}
