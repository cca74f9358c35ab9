//! An upstream's response body, cut with `ConnectionReadTimeout` when it
//! stops sending for longer than the route's
//! `outbound_between_bytes_timeout` while the client waits for it.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A body that fails with `ConnectionReadTimeout` when its source has
/// nothing for `gap` while the reader waits for it: the
/// `outbound_between_bytes_timeout` of an upstream's response. The clock
/// runs only while the reader waits, so a slow client (which stops reading)
/// never cuts the upstream short.
pub struct Paced<B> {
    inner: B,
    gap: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether the reader is waiting, with `timer` set at the wait's start.
    waiting: bool,
}

impl<B> Paced<B> {
    pub fn new(inner: B, gap: Duration) -> Paced<B> {
        Paced {
            inner,
            gap,
            timer: Box::pin(tokio::time::sleep(gap)),
            waiting: false,
        }
    }
}

impl<B> Body for Paced<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let gap = this.gap;
                    this.timer.as_mut().reset(Instant::now() + gap);
                }
                ready!(this.timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;
    use http_body_util::BodyExt as _;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    type Chunks = Vec<Result<Frame<Bytes>, Infallible>>;

    #[tokio::test]
    async fn a_source_that_goes_quiet_is_cut_with_a_read_timeout() {
        let first: Chunks = vec![Ok(Frame::data(Bytes::from_static(b"abc")))];
        let quiet = futures::stream::iter(first).chain(futures::stream::pending());
        let mut body = Paced::new(StreamBody::new(quiet), Duration::from_millis(20));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "abc");
        let cut = body.frame().await.expect("an error, not the end");
        assert!(matches!(
            cut,
            Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)
        ));
    }

    #[tokio::test]
    async fn a_reader_slower_than_the_gap_is_not_cut() {
        let chunks: Chunks = (0..3)
            .map(|_| Ok(Frame::data(Bytes::from_static(b"x"))))
            .collect();
        let gap = Duration::from_millis(5);
        let mut body = Paced::new(StreamBody::new(futures::stream::iter(chunks)), gap);
        for _ in 0..3 {
            // The reader dawdles; the source always has the next frame ready.
            tokio::time::sleep(gap * 3).await;
            assert!(body.frame().await.unwrap().is_ok());
        }
        assert!(body.frame().await.is_none());
    }
}
