//! `stream`: `?bytes=N&chunk=K&delay_ms=D` answers 200
//! `application/octet-stream` with N bytes sent in chunks of K, sleeping D ms
//! between chunks (defaults: N=1048576, K=65536, D=0).
//!
//! Byte `i` of the body is `b'a' + i % 26`, so a client can verify every byte
//! without a reference copy. The body is generated as it is written, one
//! piece of at most 64 KiB ([`sdk::PIECE`]) at a time, so memory stays flat
//! however large N or K is; a chunk larger than a piece is several pieces but
//! one chunk for the pacing. Tests use it for streaming, backpressure, timeouts
//! and client disconnects.

use sdk::{IncomingRequest, ResponseOutparam, PIECE};

/// Longer pauses than this are a mistake, not a test.
const MAX_DELAY_MS: u64 = 60_000;

struct Stream;

impl sdk::Guest for Stream {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let result = match Params::parse(&target) {
            Ok(params) => stream(params, out),
            Err(why) => sdk::respond_text(out, 400, &format!("{why}\n")),
        };
        if let Err(e) = result {
            eprintln!("stream: {e}");
        }
    }
}

/// What the query asked for.
#[derive(Debug, PartialEq)]
struct Params {
    bytes: u64,
    chunk: u64,
    delay_ms: u64,
}

impl Params {
    fn parse(path_with_query: &str) -> Result<Params, String> {
        let mut params = Params {
            bytes: 1 << 20,
            chunk: 1 << 16,
            delay_ms: 0,
        };
        for (key, value) in sdk::query(path_with_query) {
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{key} must be a non-negative integer, got {value:?}"))
            };
            match key.as_str() {
                "bytes" => params.bytes = number()?,
                "chunk" => params.chunk = number()?,
                "delay_ms" => params.delay_ms = number()?,
                _ => {
                    return Err(format!(
                        "unknown parameter {key:?}; use bytes, chunk, delay_ms"
                    ))
                }
            }
        }
        if params.chunk == 0 {
            return Err("chunk must be at least 1".into());
        }
        if params.delay_ms > MAX_DELAY_MS {
            return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
        }
        Ok(params)
    }
}

fn stream(params: Params, out: ResponseOutparam) -> Result<(), sdk::Error> {
    let headers = sdk::fields(&[("content-type", "application/octet-stream")])?;
    let body = sdk::respond(out, 200, headers)?;
    let mut piece = vec![0u8; PIECE];
    let mut offset: u64 = 0;
    while offset < params.bytes {
        if offset > 0 && params.delay_ms > 0 {
            sdk::sleep(params.delay_ms);
        }
        let chunk_end = params.bytes.min(offset.saturating_add(params.chunk));
        while offset < chunk_end {
            let len = (chunk_end - offset).min(PIECE as u64) as usize;
            fill(&mut piece[..len], offset);
            // A write error (usually: the client went away) drops `body`
            // unfinished, so the host knows the response was cut short.
            body.write(&piece[..len])?;
            offset += len as u64;
        }
    }
    body.finish()
}

/// Fill `piece` with the pattern bytes starting at body offset `offset`.
fn fill(piece: &mut [u8], offset: u64) {
    let mut letter = (offset % 26) as u8;
    for byte in piece {
        *byte = b'a' + letter;
        letter = if letter == 25 { 0 } else { letter + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_without_a_query() {
        assert_eq!(
            Params::parse("/stream"),
            Ok(Params {
                bytes: 1_048_576,
                chunk: 65_536,
                delay_ms: 0
            })
        );
    }

    #[test]
    fn every_parameter_is_read() {
        assert_eq!(
            Params::parse("/stream?bytes=10&chunk=3&delay_ms=5"),
            Ok(Params {
                bytes: 10,
                chunk: 3,
                delay_ms: 5
            })
        );
    }

    #[test]
    fn nonsense_is_rejected() {
        for bad in [
            "?bytes=-1",
            "?bytes=x",
            "?chunk=0",
            "?delay_ms=1e3",
            "?size=1",
            "?delay_ms=600000",
        ] {
            assert!(Params::parse(&format!("/stream{bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_pattern_continues_across_pieces() {
        let mut a = [0u8; 30];
        fill(&mut a, 0);
        assert_eq!(&a[..3], b"abc");
        assert_eq!(a[26], b'a');
        let mut b = [0u8; 2];
        fill(&mut b, 25);
        assert_eq!(&b, b"za");
    }
}

sdk::export!(Stream);
