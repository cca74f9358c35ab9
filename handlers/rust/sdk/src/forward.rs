//! Passing a request on to the next element of a Switchyard middleware chain.
//!
//! A middleware is an ordinary `wasi:http/proxy` component. It hands the
//! request to whatever comes after it on its route (another middleware, the
//! route's handler, or its upstream server) by sending an outgoing request to
//! the reserved authority [`NEXT`]; the host runs that in-process.
//!
//! Both bodies stream, and in both directions at once: an element behind the
//! middleware (an echo, a proxy to an echoing server) may start its response
//! before it has read all of the request, and stop reading until that
//! response is read. A middleware that copied the whole request body before
//! reading the response would then wait forever, so [`forward`] and
//! [`Forwarded::relay`] copy both with non-blocking reads and writes, waiting
//! on whichever side can make progress (`wasi:io/poll`).

use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{
    ErrorCode, FutureIncomingResponse, IncomingBody, IncomingResponse, OutgoingRequest,
    OutgoingResponse, Scheme,
};
use crate::wasi::io::poll::{poll, Pollable};
use crate::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::{Error, Fields, IncomingRequest, OutgoingBody, ResponseOutparam};

/// The authority that means "the next element of this route's chain".
pub const NEXT: &str = "next";

/// The most one read takes from a body.
const READ: u64 = 64 * 1024;

/// Send `request` on to the next element with `headers` (usually
/// `request.headers().clone()`, changed) and wait for the response head,
/// copying the request body meanwhile.
pub fn forward(request: IncomingRequest, headers: Fields) -> Result<Forwarded, ErrorCode> {
    let internal = |what: &str| ErrorCode::InternalError(Some(what.to_string()));
    let outgoing = OutgoingRequest::new(headers);
    outgoing
        .set_method(&request.method())
        .map_err(|()| internal("invalid method"))?;
    outgoing
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| internal("invalid scheme"))?;
    outgoing
        .set_authority(Some(NEXT))
        .map_err(|()| internal("invalid authority"))?;
    outgoing
        .set_path_with_query(request.path_with_query().as_deref())
        .map_err(|()| internal("invalid path"))?;
    let body = outgoing
        .body()
        .map_err(|()| internal("request body already taken"))?;
    let pending = outgoing_handler::handle(outgoing, None)?;

    let mut upload = Upload::start(&request, body);
    let response = loop {
        upload.advance();
        if let Some(response) = ready(&pending)? {
            break response;
        }
        let waiting = pending.subscribe();
        match upload.pollable() {
            Some(progress) => poll(&[&waiting, &progress]),
            None => poll(&[&waiting]),
        };
    };
    Ok(Forwarded { response, upload })
}

fn ready(pending: &FutureIncomingResponse) -> Result<Option<IncomingResponse>, ErrorCode> {
    match pending.get() {
        None => Ok(None),
        Some(Ok(result)) => result.map(Some),
        Some(Err(())) => Err(ErrorCode::InternalError(Some(
            "response already taken".into(),
        ))),
    }
}

/// The next element's response head, while the request body may still be
/// on its way.
pub struct Forwarded {
    response: IncomingResponse,
    upload: Upload,
}

impl Forwarded {
    /// The response: its status and headers.
    pub fn response(&self) -> &IncomingResponse {
        &self.response
    }

    /// Answer the client with the response's status, the given `headers`
    /// (usually `response().headers().clone()`, changed) and its body,
    /// streamed, while the rest of the request body goes on.
    pub fn relay(mut self, headers: Fields, out: ResponseOutparam) -> Result<(), Error> {
        let reply = OutgoingResponse::new(headers);
        let status = self.response.status();
        reply
            .set_status_code(status)
            .map_err(|()| Error::Status(status))?;
        let reply_body = reply.body().map_err(|()| Error::Taken("response body"))?;
        ResponseOutparam::set(out, Ok(reply));
        let incoming = self
            .response
            .consume()
            .map_err(|()| Error::Taken("response body"))?;
        let input = incoming
            .stream()
            .map_err(|()| Error::Taken("response body stream"))?;
        let output = reply_body
            .write()
            .map_err(|()| Error::Taken("response body stream"))?;
        let mut download = Copy::new(input, output);
        loop {
            self.upload.advance();
            // A failure drops `reply_body` unfinished: the client sees a cut response.
            download.advance()?;
            if download.done {
                break;
            }
            let progress = download.pollable();
            match self.upload.pollable() {
                Some(upload) => poll(&[&progress, &upload]),
                None => poll(&[&progress]),
            };
        }
        drop(download);
        drop(incoming);
        OutgoingBody::finish(reply_body, None).map_err(Error::Finish)?;
        // The next element answered; whatever of the request it still
        // wants, it gets.
        while self.upload.pollable().is_some() {
            self.upload.advance();
            if let Some(progress) = self.upload.pollable() {
                progress.block();
            }
        }
        Ok(())
    }
}

/// The request body on its way to the next element.
struct Upload {
    // Field order is drop order: streams before the bodies they belong to.
    copy: Option<Copy>,
    incoming: Option<IncomingBody>,
    outgoing: Option<OutgoingBody>,
}

impl Upload {
    fn start(request: &IncomingRequest, outgoing: OutgoingBody) -> Upload {
        let incoming = request.consume().ok();
        let input = incoming.as_ref().and_then(|b| b.stream().ok());
        let output = outgoing.write().ok();
        let copy = match (input, output) {
            (Some(input), Some(output)) => Some(Copy::new(input, output)),
            _ => None,
        };
        Upload {
            copy,
            incoming,
            outgoing: Some(outgoing),
        }
    }

    /// Copy what can be copied now; finish the body once it is all sent.
    /// If either side fails, stop and leave the outgoing body unfinished,
    /// which tells the next element its request was cut short.
    fn advance(&mut self) {
        let Some(copy) = self.copy.as_mut() else {
            return;
        };
        match copy.advance() {
            Ok(()) if copy.done => {
                self.copy = None;
                self.incoming = None;
                if let Some(body) = self.outgoing.take() {
                    let _ = OutgoingBody::finish(body, None);
                }
            }
            Ok(()) => {}
            Err(_) => {
                self.copy = None;
                self.incoming = None;
                self.outgoing = None;
            }
        }
    }

    /// What to wait on for the upload to make progress; `None` when done.
    fn pollable(&self) -> Option<Pollable> {
        self.copy.as_ref().map(Copy::pollable)
    }
}

/// A non-blocking copy from one stream to another.
struct Copy {
    input: InputStream,
    output: OutputStream,
    /// Read but not yet written.
    pending: Vec<u8>,
    /// The input has ended (then the output is being flushed).
    ended: bool,
    /// Everything is written and flushed.
    done: bool,
}

impl Copy {
    fn new(input: InputStream, output: OutputStream) -> Copy {
        Copy {
            input,
            output,
            pending: Vec::new(),
            ended: false,
            done: false,
        }
    }

    /// Move bytes until one side would block.
    fn advance(&mut self) -> Result<(), StreamError> {
        while !self.done {
            if !self.pending.is_empty() || self.ended {
                let room = self.output.check_write()?;
                if room == 0 {
                    return Ok(());
                }
                if self.pending.is_empty() {
                    // Ended, and the flush asked for below has completed.
                    self.done = true;
                    return Ok(());
                }
                let n = (room as usize).min(self.pending.len());
                self.output.write(&self.pending[..n])?;
                self.pending.drain(..n);
                if self.pending.is_empty() && self.ended {
                    self.output.flush()?;
                }
                continue;
            }
            match self.input.read(READ) {
                Ok(bytes) if bytes.is_empty() => return Ok(()),
                Ok(bytes) => self.pending = bytes,
                Err(StreamError::Closed) => {
                    self.ended = true;
                    self.output.flush()?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Ready when the side the copy is waiting on can move.
    fn pollable(&self) -> Pollable {
        if self.pending.is_empty() && !self.ended {
            self.input.subscribe()
        } else {
            self.output.subscribe()
        }
    }
}
