//! `stream64k`: `GET /?bytes=N` (default 100 MiB) answers `200
//! application/octet-stream` with `content-length: N` and N bytes, where byte
//! `i` is `b'a' + i % 26` (so a client can verify every byte).
//!
//! The stream a user writes to measure a host's body throughput: no_std, no
//! SDK, and each write as large as the stream takes: `check-write`, then
//! `write` of 64 KiB or what `check-write` allowed if less, blocking on the
//! stream's pollable when it allows nothing, one `blocking-flush` at the end.
//! Any other query parameter (such as `chunk=`, which `handlers/rust/stream`
//! reads) is ignored, so both stream components answer the same URLs.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec::Vec;
use guest::wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use guest::wasi::io::streams::OutputStream;

/// The most one `write` hands over: the size of the user's writes, and what
/// Switchyard's host accepts per write.
const CHUNK: usize = 64 * 1024;
const DEFAULT_BYTES: u64 = 100 << 20;

struct Stream64k;

impl guest::Guest for Stream64k {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let Some(bytes) = requested_bytes(&target) else {
            let why = b"bytes must be a non-negative integer\n";
            if let Some((body, stream)) = respond(out, 400, "text/plain", why.len() as u64) {
                if stream.blocking_write_and_flush(why).is_ok() {
                    drop(stream);
                    let _ = OutgoingBody::finish(body, None);
                }
            }
            return;
        };
        let Some((body, stream)) = respond(out, 200, "application/octet-stream", bytes) else {
            return;
        };
        // On a write error (the client went away) `body` is dropped
        // unfinished, so the host knows the response was cut short.
        if write_pattern(&stream, bytes).is_some() {
            drop(stream);
            let _ = OutgoingBody::finish(body, None);
        }
    }
}

/// The `bytes` parameter of the query: `None` if it is not a number, the
/// default when it is absent.
fn requested_bytes(path_with_query: &str) -> Option<u64> {
    let query = path_with_query.split_once('?').map_or("", |(_, q)| q);
    match query
        .split('&')
        .find_map(|pair| pair.strip_prefix("bytes="))
    {
        Some(value) => value.parse().ok(),
        None => Some(DEFAULT_BYTES),
    }
}

/// Set the response head and return its body and the body's stream.
fn respond(
    out: ResponseOutparam,
    status: u16,
    content_type: &str,
    length: u64,
) -> Option<(OutgoingBody, OutputStream)> {
    let headers = Fields::new();
    headers
        .append("content-type", content_type.as_bytes())
        .ok()?;
    headers
        .append("content-length", length.to_string().as_bytes())
        .ok()?;
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).ok()?;
    let body = response.body().ok()?;
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().ok()?;
    Some((body, stream))
}

/// The pattern from offset 0, 25 bytes longer than a write, so the piece
/// for any body offset `o` is a slice starting at `o % 26`: nothing is
/// generated per write.
fn pattern() -> Vec<u8> {
    (0..CHUNK + 25).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Write `bytes` pattern bytes: each write as large as `check-write` allows,
/// up to [`CHUNK`]; then flush. `None` if the stream failed.
fn write_pattern(stream: &OutputStream, bytes: u64) -> Option<()> {
    let pattern = pattern();
    let ready = stream.subscribe();
    let mut offset: u64 = 0;
    while offset < bytes {
        let allowed = stream.check_write().ok()?;
        if allowed == 0 {
            ready.block();
            continue;
        }
        let len = (bytes - offset).min(allowed).min(CHUNK as u64) as usize;
        let start = (offset % 26) as usize;
        stream.write(&pattern[start..start + len]).ok()?;
        offset += len as u64;
    }
    stream.blocking_flush().ok()?;
    // The pollable is a child of the stream: dropped first.
    drop(ready);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_defaults_to_100_mib_and_other_parameters_are_ignored() {
        assert_eq!(requested_bytes("/"), Some(100 << 20));
        assert_eq!(requested_bytes("/?chunk=65536"), Some(100 << 20));
        assert_eq!(requested_bytes("/?bytes=10&chunk=3"), Some(10));
        assert_eq!(requested_bytes("/stream?chunk=3&bytes=0"), Some(0));
    }

    #[test]
    fn a_bytes_that_is_not_a_number_is_refused() {
        assert_eq!(requested_bytes("/?bytes=-1"), None);
        assert_eq!(requested_bytes("/?bytes=1e3"), None);
    }

    #[test]
    fn every_slice_of_the_pattern_continues_it() {
        let pattern = pattern();
        for offset in [0u64, 25, 26, 65_536, 1 << 30] {
            let start = (offset % 26) as usize;
            let piece = &pattern[start..start + CHUNK];
            assert!(piece
                .iter()
                .enumerate()
                .all(|(i, &b)| b == b'a' + ((offset + i as u64) % 26) as u8));
        }
    }
}

guest::export!(Stream64k);
