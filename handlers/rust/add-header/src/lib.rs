//! `add-header`: middleware that appends `X-Custom-Header: <value>` to the
//! request, passes it on to the next element of the route's chain, and
//! appends `x-middleware: add-header(<value>)` to the response on its way
//! back. `<value>` is the env var `ADD_HEADER_VALUE`, `FooBar` when unset.
//!
//! Both headers are appended, never replaced, so two of these in one chain
//! (declared under two names with different values) show the chain's order:
//! the request header lists them outermost first, the response header
//! innermost first.

use sdk::{IncomingRequest, ResponseOutparam};

struct AddHeader;

impl sdk::Guest for AddHeader {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if let Err(e) = add_header(request, out) {
            eprintln!("add-header: {e}");
        }
    }
}

fn add_header(request: IncomingRequest, out: ResponseOutparam) -> Result<(), sdk::Error> {
    let value = std::env::var("ADD_HEADER_VALUE").unwrap_or_else(|_| "FooBar".into());
    let headers = request.headers().clone();
    headers.append("x-custom-header", value.as_bytes())?;
    let forwarded = match sdk::forward(request, headers) {
        Ok(forwarded) => forwarded,
        Err(code) => {
            eprintln!("add-header: the next element failed: {code:?}");
            return sdk::respond_text(out, 502, "bad gateway\n");
        }
    };
    let headers = forwarded.response().headers().clone();
    headers.append("x-middleware", format!("add-header({value})").as_bytes())?;
    forwarded.relay(headers, out)
}

sdk::export!(AddHeader);
