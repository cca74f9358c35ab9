//! Responses whose body is written after `handle` has returned, the p3 way:
//! a response owns the reading end of a `stream<u8>`, a spawned task the
//! writing end. Building one takes three handles and a rule (the trailers
//! future resolves only once the stream is closed), so it is said once here.

use wit_bindgen::{FutureWriter, StreamReader, StreamResult, StreamWriter};

use crate::wasi::http::types::{ErrorCode, Fields, Response, Trailers};
use crate::{wit_future, wit_stream};

/// The size of one body write or read: p3 streams have no per-write limit,
/// so this only bounds how much of a body the guest holds at once.
pub const CHUNK: usize = 64 * 1024;

/// The writing side of a response body: the stream, then the trailers.
pub struct Body {
    stream: StreamWriter<u8>,
    trailers: FutureWriter<Result<Option<Trailers>, ErrorCode>>,
}

/// A response with `status` and `headers` whose body is written through the
/// returned [`Body`].
pub fn streamed(status: u16, headers: Fields) -> (Response, Body) {
    let (stream, contents) = wit_stream::new();
    // Should the task end without `finish` (the client went away), the host
    // reads "no trailers"; a trap never gets here.
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(contents), trailers_rx);
    set_status(&response, status);
    (response, Body { stream, trailers })
}

/// A response with `status`, `headers` and no body at all (the stream is
/// closed from the start).
pub fn empty(status: u16, headers: Fields) -> Response {
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    drop(trailers);
    let (response, _sent) = Response::new(headers, None, trailers_rx);
    set_status(&response, status);
    response
}

/// A response with `status`, `headers` and `text` as its whole body, written
/// by a spawned task once the host starts reading.
pub fn text(status: u16, headers: Fields, text: String) -> Response {
    let (response, mut body) = streamed(status, headers);
    wit_bindgen::spawn_local(async move {
        if body.write(text.into_bytes()).await {
            body.finish().await;
        }
    });
    response
}

fn set_status(response: &Response, status: u16) {
    // Every status this handler uses is valid; a failure is a bug here.
    response
        .set_status_code(status)
        .expect("a valid status code");
}

impl Body {
    /// Write all of `bytes`; false once the reader has gone away.
    pub async fn write(&mut self, bytes: Vec<u8>) -> bool {
        self.stream.write_all(bytes).await.is_empty()
    }

    /// Close the stream, then resolve the trailers future: "complete, no
    /// trailers".
    pub async fn finish(self) {
        self.finish_with(Ok(None)).await;
    }

    /// Close the stream, then resolve the trailers future with `trailers`
    /// (an error tells the host the body is broken).
    pub async fn finish_with(self, trailers: Result<Option<Trailers>, ErrorCode>) {
        drop(self.stream);
        // An error means the host no longer reads the trailers: nothing to do.
        let _ = self.trailers.write(trailers).await;
    }

    /// Copy `source` into this body chunk by chunk as it arrives, until
    /// `source` ends (true) or the reader of this body goes away (false).
    pub async fn copy_from(&mut self, source: &mut StreamReader<u8>) -> bool {
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            let (status, read) = source.read(chunk).await;
            match status {
                StreamResult::Complete(_) => chunk = self.stream.write_all(read).await,
                StreamResult::Dropped => return true,
                StreamResult::Cancelled => unreachable!("hello-p3 never cancels a read"),
            }
            if !chunk.is_empty() {
                return false;
            }
        }
    }
}
