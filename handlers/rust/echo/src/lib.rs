//! `echo`: answers 200 with the request body streamed back unchanged, piece
//! by piece as it arrives (never collected), and every request header
//! `name: value` reflected as `x-echo-<name>: value`. `content-type` is also
//! copied as itself, so the echoed body keeps its media type.
//!
//! Tests use it to check request streaming, full-duplex bodies and that
//! headers reach the guest intact.

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

sdk::export!(Echo);
