//! `hello-nostd`: every request answers `200`, `content-type: text/plain`,
//! `content-length: 12`, body `hello world\n`, after reading its path (one
//! allocation, as nearly every handler makes).
//!
//! The hello a user writes to measure a host's per-request cost with as
//! little guest as possible: no_std, one allocator, no SDK, no `wasi:cli`
//! (compare `handlers/rust/hello`, Rust std through Switchyard's SDK).

#![no_std]

use guest::wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const BODY: &[u8] = b"hello world\n";
const _: () = assert!(BODY.len() == 12, "content-length below says 12");

struct Hello;

impl guest::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        // What almost every handler does first: look at the path. The string
        // is the guest's first allocation, which makes dlmalloc grow the
        // memory of every fresh instance: the cost a host's engine settings
        // decide (see host/src/runtime/tuning.rs).
        let path = request.path_with_query();
        core::hint::black_box(&path);
        let headers = Fields::new();
        // Fixed names and values that wasi:http accepts: these cannot fail.
        let _ = headers.append("content-type", b"text/plain");
        let _ = headers.append("content-length", b"12");
        let response = OutgoingResponse::new(headers); // status 200
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        let Ok(stream) = body.write() else { return };
        // A failed write (the client went away) drops `body` unfinished:
        // the host then knows the response was cut short.
        if stream.blocking_write_and_flush(BODY).is_err() {
            return;
        }
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}

guest::export!(Hello);
