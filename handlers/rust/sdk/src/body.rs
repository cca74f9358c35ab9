//! Setting a response and streaming its body.
//!
//! `wasi:http` makes a handler do this in a particular order (create the
//! response, take its body, hand the response to the outparam, take the body's
//! stream, write, drop the stream, finish the body), and its output streams
//! accept at most 4096 bytes per `blocking-write-and-flush`. [`respond`] and
//! [`Body`] encode that order and that limit once.

use crate::wasi::http::types::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};
use crate::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::Error;

/// The most `blocking-write-and-flush` accepts in one call (wasi:io/streams).
pub const MAX_WRITE: usize = 4096;

/// Send the response head (`status` and `headers`) and return its [`Body`].
///
/// The head is handed to the host before any body byte is written, so a
/// client sees the status while the body is still being produced.
pub fn respond(out: ResponseOutparam, status: u16, headers: Fields) -> Result<Body, Error> {
    let response = OutgoingResponse::new(headers);
    if response.set_status_code(status).is_err() {
        return Err(Error::Status(status));
    }
    let body = response
        .body()
        .map_err(|()| Error::Taken("response body"))?;
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().map_err(|()| Error::Taken("body stream"))?;
    Ok(Body { stream, body })
}

/// Answer with a complete `text/plain` body: for short, fixed answers.
pub fn respond_text(out: ResponseOutparam, status: u16, text: &str) -> Result<(), Error> {
    let headers = crate::fields(&[("content-type", "text/plain")])?;
    let body = respond(out, status, headers)?;
    body.write(text.as_bytes())?;
    body.finish()
}

/// An outgoing response body being written.
///
/// Call [`Body::finish`] when done: a body dropped without it tells the host
/// the response was cut short (that is how a handler aborts a response).
pub struct Body {
    // Field order matters: the stream is a child of the body and must be
    // dropped first, which is the order Rust drops fields in.
    stream: OutputStream,
    body: OutgoingBody,
}

impl Body {
    /// Write all of `bytes`, in pieces of at most [`MAX_WRITE`] bytes, each
    /// flushed before the next (so the host applies backpressure here).
    pub fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        for piece in bytes.chunks(MAX_WRITE) {
            self.stream.blocking_write_and_flush(piece)?;
        }
        Ok(())
    }

    /// Copy `input` into this body until `input` ends, piece by piece as it
    /// arrives, never holding more than [`MAX_WRITE`] bytes. Returns the
    /// number of bytes copied.
    pub fn copy_from(&self, input: &InputStream) -> Result<u64, Error> {
        let mut copied = 0;
        loop {
            match input.blocking_read(MAX_WRITE as u64) {
                Ok(piece) => {
                    self.write(&piece)?;
                    copied += piece.len() as u64;
                }
                Err(StreamError::Closed) => return Ok(copied),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Tell the host the body is complete (no trailers).
    pub fn finish(self) -> Result<(), Error> {
        let Body { stream, body } = self;
        drop(stream);
        OutgoingBody::finish(body, None).map_err(Error::Finish)
    }
}
