//! Whether a response's client is still taking its body: the evidence the
//! connection layer needs to cut a client that stopped reading.
//!
//! A stalled client is invisible from inside a body: once the socket's
//! buffers are full, hyper simply stops asking the body for frames (HTTP/1.1
//! once its write buffer is full, HTTP/2 once the stream's flow-control
//! window is spent), so no timer inside `poll_frame` would ever run. So
//! [`Watched`] only records *when hyper took a frame and has not come back
//! for the next one* in a shared [`Progress`], and the connection's own task
//! (`serve/connection.rs`) reads it and drops the connection once that has
//! lasted `write_timeout`. A body that is slow to *produce* (a guest that
//! drips, a slow upstream) is never counted: while hyper waits on the body,
//! the clock is stopped.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// One response's progress towards its client, shared by its [`Watched`]
/// body and the connection that sends it.
#[derive(Debug)]
pub struct Progress {
    /// Instants are stored as nanoseconds since this, plus one (0: none).
    epoch: Instant,
    /// Since when the client owes us a read: the response was made, or hyper
    /// took a frame, and hyper has not asked for the next frame since. 0
    /// while hyper waits on the body, and once the body has ended.
    owed_since: AtomicU64,
    /// Set by the connection when it cuts the client for not reading, so
    /// the access line can say so.
    stalled: AtomicBool,
}

impl Progress {
    /// A request's progress, before it has a response: nothing owed yet
    /// (the handler may take its time); [`Watched::new`] starts the clock.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            epoch: Instant::now(),
            owed_since: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
        })
    }

    fn owe(&self) {
        let since = self.epoch.elapsed().as_nanos() as u64 + 1;
        self.owed_since.store(since, Ordering::Relaxed);
    }

    fn settle(&self) {
        self.owed_since.store(0, Ordering::Relaxed);
    }

    /// Since when hyper has had a frame (or the head) to send and has not
    /// asked for the next one; `None` while hyper waits on the body.
    pub fn owed_since(&self) -> Option<Instant> {
        match self.owed_since.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.epoch + Duration::from_nanos(n - 1)),
        }
    }

    /// The connection cut this response's client for not reading.
    pub fn mark_stalled(&self) {
        self.stalled.store(true, Ordering::Relaxed);
    }

    /// Whether [`mark_stalled`](Self::mark_stalled) was called.
    pub fn stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }
}

/// A response body that records each of hyper's polls in its [`Progress`].
pub struct Watched<B> {
    inner: B,
    progress: Arc<Progress>,
}

impl<B: Body> Watched<B> {
    /// `inner`, about to be handed to hyper with its head: from now the
    /// client owes a read, unless there is nothing to send after the head
    /// (hyper may then never poll it).
    pub fn new(inner: B, progress: Arc<Progress>) -> Watched<B> {
        if inner.is_end_stream() {
            progress.settle();
        } else {
            progress.owe();
        }
        Watched { inner, progress }
    }
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            // hyper took a frame; until it asks again, the client owes a read.
            Poll::Ready(Some(Ok(_))) if !this.inner.is_end_stream() => this.progress.owe(),
            // hyper waits on the body (a slow producer), or the body is done.
            _ => this.progress.settle(),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Watched<B> {
    fn drop(&mut self) {
        self.progress.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt as _, Empty, StreamBody};
    use std::convert::Infallible;

    fn data(text: &'static str) -> Result<Frame<Bytes>, Infallible> {
        Ok(Frame::data(Bytes::from_static(text.as_bytes())))
    }

    #[tokio::test]
    async fn the_client_owes_a_read_from_its_response_until_hyper_asks_again() {
        let progress = Progress::new();
        assert_eq!(progress.owed_since(), None, "no response yet");
        let before = Instant::now();
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut body = Watched::new(StreamBody::new(rx), progress.clone());
        assert!(progress.owed_since().is_some(), "the head waits to be sent");
        tx.unbounded_send(data("a")).unwrap();
        body.frame().await.unwrap().unwrap();
        let owed = progress.owed_since().expect("hyper took a frame");
        assert!(owed >= before);
        // hyper asks again and the body has nothing yet: a slow producer,
        // not a slow client, so the clock stops.
        let waker = futures::task::noop_waker();
        let polled = Pin::new(&mut body).poll_frame(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());
        assert_eq!(progress.owed_since(), None);
        drop(tx);
        assert!(body.frame().await.is_none());
        assert_eq!(progress.owed_since(), None, "an ended body owes nothing");
        assert!(!progress.stalled());
    }

    #[tokio::test]
    async fn the_last_frame_and_an_empty_body_owe_nothing() {
        let progress = Progress::new();
        let _empty = Watched::new(Empty::<Bytes>::new(), progress.clone());
        assert_eq!(progress.owed_since(), None);

        let progress = Progress::new();
        let mut whole = Watched::new(
            http_body_util::Full::new(Bytes::from_static(b"all")),
            progress.clone(),
        );
        whole.frame().await.unwrap().unwrap();
        assert_eq!(progress.owed_since(), None);
    }
}
