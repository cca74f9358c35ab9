//! `next-p3`: a wasi:http 0.3 middleware, the p3 link of a chain. It sends
//! the request it is given on to `http://next{path-with-query}` through
//! `wasi:http/client.send` (the host routes `next` to the chain's next
//! handler) and returns what comes back with one header added,
//! `x-p3-middleware: next-p3`.
//!
//! Bodies and trailers are passed through as the host's own stream and
//! future handles, in both directions: the guest never reads a byte of them,
//! so a test can check that the host carries a body across a p3 guest
//! without copying it through guest memory. When `send` fails the guest
//! answers 502 `next failed: {error-code:?}`.

wit_bindgen::generate!({
    path: "../../../wit/p3",
    world: "switchyard:handler-p3/handler",
    generate_all,
});

use wasi::http::client;
use wasi::http::types::{ErrorCode, Fields, Request, Response, Scheme};

/// The authority the host resolves to the next handler of the chain.
const NEXT: &str = "next";

struct NextP3;

export!(NextP3);

impl exports::wasi::http::handler::Guest for NextP3 {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let onward = match onward(request) {
            Ok(onward) => onward,
            Err(why) => return Ok(text(500, format!("next-p3: {why}\n"))),
        };
        let response = match client::send(onward).await {
            Ok(response) => response,
            Err(code) => return Ok(text(502, format!("next failed: {code:?}\n"))),
        };
        let status = response.get_status_code();
        let headers = response.get_headers().clone();
        headers
            .append("x-p3-middleware", b"next-p3")
            .map_err(|e| internal(format!("adding x-p3-middleware: {e:?}")))?;
        let (_, consumed) = wit_future::new(|| Ok(()));
        let (body, trailers) = Response::consume_body(response, consumed);
        let (back, _sent) = Response::new(headers, Some(body), trailers);
        back.set_status_code(status)
            .map_err(|()| internal(format!("status {status} from next")))?;
        Ok(back)
    }
}

/// `request` readdressed to `http://next{path-with-query}`: same method,
/// a copy of its headers, and its own body stream and trailers future.
fn onward(request: Request) -> Result<Request, &'static str> {
    let method = request.get_method();
    let target = request
        .get_path_with_query()
        .unwrap_or_else(|| "/".to_owned());
    let headers = request.get_headers().clone();
    let (_, consumed) = wit_future::new(|| Ok(()));
    let (body, trailers) = Request::consume_body(request, consumed);
    let (onward, _sent) = Request::new(headers, Some(body), trailers, None);
    onward
        .set_method(&method)
        .map_err(|()| "the method cannot be sent on")?;
    onward
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme http refused")?;
    onward
        .set_authority(Some(NEXT))
        .map_err(|()| "authority next refused")?;
    onward
        .set_path_with_query(Some(&target))
        .map_err(|()| "the path cannot be sent on")?;
    Ok(onward)
}

fn internal(what: String) -> ErrorCode {
    ErrorCode::InternalError(Some(format!("next-p3: {what}")))
}

/// A `text/plain` response with `status` and body `text`, written by a
/// spawned task once the host reads it.
fn text(status: u16, text: String) -> Response {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"text/plain; charset=utf-8");
    let (mut sink, contents) = wit_stream::new();
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(contents), trailers_rx);
    let _ = response.set_status_code(status);
    wit_bindgen::spawn_local(async move {
        if sink.write_all(text.into_bytes()).await.is_empty() {
            drop(sink); // close the stream before resolving the trailers
            let _ = trailers.write(Ok(None)).await;
        }
    });
    response
}
