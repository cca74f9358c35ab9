//! Setting a response and streaming its body.
//!
//! `wasi:http` makes a handler do this in a particular order (create the
//! response, take its body, hand the response to the outparam, take the body's
//! stream, write, drop the stream, finish the body), and its output streams
//! take as much per `write` as `check-write` allows at that moment (Switchyard's
//! host: 64 KiB, up to 8 writes ahead of the client). [`respond`] and
//! [`Body`] encode that order and that protocol once.

use crate::wasi::http::types::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};
use crate::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::Error;

/// A good size for one piece of a body a handler generates or copies: what
/// Switchyard's host accepts in one write (`p2_outgoing_body_chunk_size`).
/// [`Body::write`] takes any size; this only bounds what a handler holds.
pub const PIECE: usize = 64 << 10;

/// The most `blocking-write-and-flush` accepts in one call (wasi:io/streams):
/// a body this short goes in one host call instead of check, write, flush.
const BLOCKING_WRITE_MAX: usize = 4096;

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
    /// Write all of `bytes`: each `write` as large as `check-write` allows,
    /// waiting on the stream when it allows nothing (that is the host's
    /// backpressure), then one flush, so when this returns the host has
    /// taken every byte.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() <= BLOCKING_WRITE_MAX {
            return Ok(self.stream.blocking_write_and_flush(bytes)?);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let allowed = self.stream.check_write()?;
            if allowed == 0 {
                self.stream.subscribe().block();
                continue;
            }
            let len = rest
                .len()
                .min(usize::try_from(allowed).unwrap_or(usize::MAX));
            self.stream.write(&rest[..len])?;
            rest = &rest[len..];
        }
        Ok(self.stream.blocking_flush()?)
    }

    /// Copy `input` into this body until `input` ends, piece by piece as it
    /// arrives, never holding more than [`PIECE`] bytes. Returns the number
    /// of bytes copied.
    pub fn copy_from(&self, input: &InputStream) -> Result<u64, Error> {
        let mut copied = 0;
        loop {
            match input.blocking_read(PIECE as u64) {
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
