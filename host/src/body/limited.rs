//! Request bodies as the guest reads them, capped at the route's limit.
//!
//! The limit is enforced while the body streams, never by buffering it: a
//! `Content-Length` over the limit is refused before the guest runs, and a
//! body without one fails in the guest's stream once it passes the limit (the
//! guest sees wasi:http's `HTTP-request-body-size` error). The shared flag
//! lets the host answer 413 instead of whatever the guest made of the error.
//! The bytes the guest read from the client are counted in the route's metrics when the body
//! is dropped.

use crate::telemetry::RouteMetrics;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use wasmtime_wasi_http::Error;

/// A request body that errors once more than `limit` bytes have arrived:
/// the client's (`Incoming`), or one a middleware passes on.
pub struct LimitedBody<B = Incoming> {
    inner: B,
    remaining: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
    /// Whose metrics count the bytes read (see [`LimitedBody::counted`]).
    counted: Option<Arc<RouteMetrics>>,
}

impl<B> LimitedBody<B> {
    /// Wrap `inner`; `exceeded` is set if the body passes `limit`.
    pub fn new(inner: B, limit: u64, exceeded: Arc<AtomicBool>) -> LimitedBody<B> {
        LimitedBody {
            inner,
            remaining: limit,
            limit,
            exceeded,
            counted: None,
        }
    }
}

impl<B> LimitedBody<B> {
    /// Count the bytes the guest reads in its route's `metrics` when the
    /// body is dropped: for the client's body only, not one a middleware
    /// passes on (the same bytes again).
    pub fn counted(mut self, metrics: Arc<RouteMetrics>) -> LimitedBody<B> {
        self.counted = Some(metrics);
        self
    }
}

impl<B> Drop for LimitedBody<B> {
    fn drop(&mut self) {
        if let Some(metrics) = &self.counted {
            metrics.bytes_in(self.limit - self.remaining);
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > this.remaining {
                this.exceeded.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(this.limit + 1)))));
            }
            this.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
