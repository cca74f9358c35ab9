//! `echo-p3`: echoes a wasi:http 0.3 request (status 200, the request's
//! headers, its body, then its trailers), so the host's tests can see p3
//! streaming in both directions at once and trailers make the round trip.
//!
//! The body is copied by a spawned task, one chunk of at most [`CHUNK`] bytes
//! at a time, after `handle` has returned: it is never collected, so a 1 GiB
//! body costs the guest one chunk of memory. (Passing the request's stream
//! straight into the response would be cheaper, but then the guest would not
//! touch the body at all; `next-p3` covers that shape.)

wit_bindgen::generate!({
    path: "../../../wit/p3",
    world: "switchyard:handler-p3/handler",
    generate_all,
});

use wasi::http::types::{ErrorCode, Request, Response};
use wit_bindgen::StreamResult;

/// The most the guest reads (and so holds) of the body at once.
const CHUNK: usize = 64 * 1024;

struct EchoP3;

export!(EchoP3);

impl exports::wasi::http::handler::Guest for EchoP3 {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let headers = request.get_headers().clone();
        let (_, consumed) = wit_future::new(|| Ok(()));
        let (mut source, request_trailers) = Request::consume_body(request, consumed);

        let (mut sink, contents) = wit_stream::new();
        // Only dropped unwritten if the client has gone away mid-body.
        let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(contents), trailers_rx);

        wit_bindgen::spawn_local(async move {
            let mut chunk = Vec::with_capacity(CHUNK);
            loop {
                let (status, read) = source.read(chunk).await;
                match status {
                    StreamResult::Complete(_) => chunk = sink.write_all(read).await,
                    StreamResult::Dropped => break,
                    StreamResult::Cancelled => unreachable!("echo-p3 never cancels a read"),
                }
                if !chunk.is_empty() {
                    return; // the client stopped reading
                }
            }
            // The trailers future resolves only after the stream is closed,
            // in both directions.
            drop(sink);
            let _ = trailers.write(request_trailers.await).await;
        });
        Ok(response)
    }
}
