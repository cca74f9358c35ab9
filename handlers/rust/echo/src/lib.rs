//! `echo`: answers 200 with the request body streamed back unchanged, piece
//! by piece as it arrives (never collected), and every request header
//! `name: value` reflected as `x-echo-<name>: value`. `content-type` is also
//! copied as itself, so the echoed body keeps its media type, and
//! `x-echo-url` is the request's URL as the guest saw it
//! (`scheme://authority/path?query`).
//!
//! Tests use it to check request streaming, full-duplex bodies and that
//! headers, scheme and authority reach the guest intact.

use sdk::wasi::http::types::Scheme;
use sdk::{Fields, IncomingRequest, ResponseOutparam};

struct Echo;

impl sdk::Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if let Err(e) = echo(request, out) {
            eprintln!("echo: {e}");
        }
    }
}

fn echo(request: IncomingRequest, out: ResponseOutparam) -> Result<(), sdk::Error> {
    let headers = Fields::new();
    for (name, value) in request.headers().entries() {
        if name.eq_ignore_ascii_case("content-type") {
            headers.append(&name, &value)?;
        }
        headers.append(&format!("x-echo-{name}"), &value)?;
    }
    headers.append("x-echo-url", url(&request).as_bytes())?;

    let body = sdk::respond(out, 200, headers)?;
    let incoming = request
        .consume()
        .map_err(|()| sdk::Error::Taken("request body"))?;
    let input = incoming
        .stream()
        .map_err(|()| sdk::Error::Taken("request body stream"))?;
    // On a read or write error `?` drops `body` unfinished, which tells the
    // host the response is incomplete instead of passing off a truncated echo.
    body.copy_from(&input)?;
    drop(input);
    drop(incoming);
    body.finish()
}

/// The URL the host gave the guest: its scheme, authority, path and query.
fn url(request: &IncomingRequest) -> String {
    let scheme = match request.scheme() {
        Some(Scheme::Http) => "http".to_string(),
        Some(Scheme::Https) => "https".to_string(),
        Some(Scheme::Other(other)) => other,
        None => "-".to_string(),
    };
    let authority = request.authority().unwrap_or_else(|| "-".to_string());
    let path = request.path_with_query().unwrap_or_default();
    format!("{scheme}://{authority}{path}")
}

sdk::export!(Echo);
