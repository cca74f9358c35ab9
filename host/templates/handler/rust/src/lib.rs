//! `{{name}}`: a Switchyard handler, a wasi:http 0.2 component. Every request
//! gets `200 text/plain` with `Hello from {{name}} (Rust)! METHOD PATH?QUERY`.
//!
//! The bindings are generated at compile time from the project's `wit/`
//! (world `switchyard:handler/handler`, i.e. `wasi:http/proxy`); `generate_all`
//! puts every WASI interface it names under `wasi::`. Edit `handle`, save, and
//! `switchyard dev` rebuilds and serves the new component.

wit_bindgen::generate!({
    path: "../../wit",
    world: "switchyard:handler/handler",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The greeting that starts every answer.
const GREETING: &str = "Hello from {{name}} (Rust)!";

struct Handler;

impl Guest for Handler {
    /// Called once per request, with the request and the slot for its response.
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = request.method();
        // A request without a path (rare, e.g. `OPTIONS *`) counts as `/`.
        let target = request.path_with_query().unwrap_or_else(|| "/".to_owned());
        let text = format!("{GREETING} {} {target}\n", method_name(&method));
        respond_text(out, 200, &text);
    }
}

export!(Handler);

/// Answer `status` with `text` as a whole `text/plain` body. wasi:http wants
/// this order: make the response, take its body, hand the response to `out`,
/// write the body's stream, drop the stream, finish the body.
fn respond_text(out: ResponseOutparam, status: u16, text: &str) {
    let headers = Fields::new();
    headers
        .append("content-type", b"text/plain; charset=utf-8")
        .expect("a valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let body = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));

    let stream = body.write().expect("the stream is taken once");
    // `blocking_write_and_flush` takes at most 4096 bytes a call.
    for chunk in text.as_bytes().chunks(4096) {
        if let Err(e) = stream.blocking_write_and_flush(chunk) {
            // The client went away; stderr lines land in the host's log.
            eprintln!("{{name}}: writing the body failed: {e:?}");
            return;
        }
    }
    drop(stream);
    if let Err(e) = OutgoingBody::finish(body, None) {
        eprintln!("{{name}}: finishing the body failed: {e:?}");
    }
}

/// The method as the request line spells it.
fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}
