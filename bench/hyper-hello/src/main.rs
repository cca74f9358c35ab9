//! `hyper-hello`: the benchmark's physical limit. A plain hyper 1.x server
//! that answers every request with exactly what the `hello` component sends
//! (`200`, `content-type: text/plain`, a chunked body
//! `Hello from Switchyard! <METHOD> <path-with-query>\n`), served the way
//! Switchyard serves (tokio multi-thread runtime, hyper-util's auto builder
//! for HTTP/1.1 + h2c, keep-alive, `TCP_NODELAY`). Whatever Switchyard costs
//! beyond this is the price of running a WebAssembly instance per request.
//!
//! `hyper-hello [--listen ADDR]` (default `127.0.0.1:0`) prints
//! `listening on http://ADDR` once bound, like `switchyard serve`.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;

/// One data frame whose length is not announced up front, so hyper sends it
/// chunked, as it does a component's streamed body.
struct HelloBody(Option<Bytes>);

impl Body for HelloBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.take().map(|text| Ok(Frame::data(text))))
    }
}

fn hello(request: hyper::Request<Incoming>) -> hyper::Response<HelloBody> {
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let text = format!("Hello from Switchyard! {} {target}\n", request.method());
    let mut response = hyper::Response::new(HelloBody(Some(Bytes::from(text))));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

fn listen_address() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:0".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" | "-l" => listen = args.next().ok_or("--listen needs an address")?,
            "--help" | "-h" => {
                println!("usage: hyper-hello [--listen ADDR]  (default 127.0.0.1:0)");
                std::process::exit(0);
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: hyper-hello [--listen ADDR]"
                ))
            }
        }
    }
    listen
        .parse()
        .map_err(|_| format!("invalid address {listen:?}: expected IP:PORT"))
}

#[tokio::main]
async fn main() {
    let address = listen_address().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2);
    });
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .unwrap_or_else(|e| {
            eprintln!("error: cannot listen on {address}: {e}");
            std::process::exit(1);
        });
    let bound = listener.local_addr().expect("reading the bound address");
    println!("listening on http://{bound}");

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                service_fn(|request| async move { Ok::<_, Infallible>(hello(request)) }),
            )
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
