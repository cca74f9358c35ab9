//! `{{name}}`: a Switchyard handler, a wasi:http 0.3 component. Every request
//! gets `200 text/plain` with
//! `Hello from {{name}} (Rust, wasi:http 0.3)! METHOD PATH?QUERY`.
//!
//! The bindings are generated at compile time from the project's `wit/p3/`
//! (world `switchyard:handler-p3/handler`, i.e. `wasi:http/service@0.3.0`);
//! `generate_all` puts every WASI interface it names under `wasi::`. In 0.3
//! `handle` is an `async fn` that returns the response; its body is a
//! `stream<u8>` that a spawned task writes once the host starts reading. Edit
//! `handle`, save, and `switchyard dev` rebuilds and serves the new component.

wit_bindgen::generate!({
    path: "../../wit/p3",
    world: "switchyard:handler-p3/handler",
    generate_all,
});

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response};

/// The greeting that starts every answer.
const GREETING: &str = "Hello from {{name}} (Rust, wasi:http 0.3)!";

struct Handler;

impl Guest for Handler {
    /// Called once per request; the response it returns is sent at once and
    /// its body follows as the spawned writer produces it.
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let method = request.get_method();
        // A request without a path (rare, e.g. `OPTIONS *`) counts as `/`.
        let target = request.get_path_with_query().unwrap_or_else(|| "/".to_owned());
        let text = format!("{GREETING} {} {target}\n", method_name(&method));
        Ok(text_response(200, text))
    }
}

export!(Handler);

/// A `status` response with `text` as its whole `text/plain` body. A body is
/// the reading end of a stream plus a future of its trailers; a spawned task
/// writes the stream, closes it, then resolves the trailers ("none").
fn text_response(status: u16, text: String) -> Response {
    let headers = Fields::new();
    headers
        .append("content-type", b"text/plain; charset=utf-8")
        .expect("a valid header");
    let (mut body, contents) = wit_stream::new();
    // Should the task stop early (the client went away), the host reads
    // "no trailers" from this default.
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(contents), trailers_rx);
    response.set_status_code(status).expect("a valid status");
    wit_bindgen::spawn_local(async move {
        let unwritten = body.write_all(text.into_bytes()).await;
        drop(body); // the trailers resolve only once the stream is closed
        if unwritten.is_empty() {
            let _ = trailers.write(Ok(None)).await;
        }
    });
    response
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
