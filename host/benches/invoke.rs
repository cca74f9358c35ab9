//! In-process cost of one request: a fresh instance of `hello.wasm`
//! instantiated and run through the real [`switchyard::Service`], in µs.
//!
//! `cargo bench -p switchyard --bench invoke` (after `./build-handlers.sh hello`).
//!
//! Why over an in-memory connection: `Service::handle` (and `Handler::invoke`
//! below it) take a `hyper::Request<hyper::body::Incoming>`, and `Incoming`
//! can only be made by hyper's connection code. So each iteration sends one
//! HTTP/1.1 request from hyper's client to hyper's server over a
//! `tokio::io::duplex` pipe, the server side calling `Service::handle` just as
//! `switchyard::serve` does, and reads the whole response body (the guest
//! runs until its body is finished). No sockets, no kernel: what is left is
//! hyper's parsing on both ends plus everything Switchyard and wasmtime do.
//!
//! To separate the two, `baseline` runs the same harness with a service that
//! answers the same bytes without any WebAssembly; `hello` minus `baseline`
//! is the price of routing, a fresh `Store` + instance, and the guest's call.
//!
//! (hyper's `client` feature, used here, is enabled for tests and benches by
//! the `reqwest` dev-dependency.)

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const EXPECTED: &[u8] = b"Hello from Switchyard! GET /hello\n";

/// A hyper HTTP/1.1 server on one end of an in-memory pipe, serving
/// `respond`, and a client connection to it on the other.
async fn connect<F, R, B>(respond: F) -> SendRequest<Empty<Bytes>>
where
    F: Fn(hyper::Request<Incoming>) -> R + Send + Sync + 'static,
    R: Future<Output = Result<hyper::Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (client_io, server_io) = tokio::io::duplex(64 << 10);
    tokio::spawn(async move {
        let respond = Arc::new(respond);
        let service = service_fn(move |request| {
            let respond = respond.clone();
            async move { respond(request).await }
        });
        if let Err(error) = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), service)
            .await
        {
            eprintln!("bench server connection failed: {error}");
        }
    });
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(client_io))
        .await
        .expect("client handshake over the pipe");
    tokio::spawn(connection);
    sender
}

/// One `GET /hello`, its whole body read and checked.
async fn get_hello(sender: &mut SendRequest<Empty<Bytes>>) {
    sender.ready().await.expect("connection ready");
    let request = hyper::Request::get("http://bench.local/hello")
        .header(hyper::header::HOST, "bench.local")
        .body(Empty::new())
        .expect("a valid request");
    let response = sender.send_request(request).await.expect("a response");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the whole body");
    assert_eq!(body.to_bytes(), EXPECTED);
}

/// Time `iters` sequential requests on one connection.
fn timed(
    runtime: &tokio::runtime::Runtime,
    sender: &mut SendRequest<Empty<Bytes>>,
    iters: u64,
) -> Duration {
    runtime.block_on(async {
        let started = Instant::now();
        for _ in 0..iters {
            get_hello(sender).await;
        }
        started.elapsed()
    })
}

fn invoke(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let hello = root.join("build/handlers/hello.wasm");
    assert!(
        hello.exists(),
        "{} is missing: run ./build-handlers.sh hello first",
        hello.display()
    );
    // One thread for client, server and guest: what is timed is the work a
    // request takes, not cross-thread wake-ups (which cost more than the
    // whole of `baseline` on a small VM, and which the server under load
    // mostly avoids anyway by keeping a connection's tasks on one worker).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let text = format!("[[route]]\npath = \"/hello\"\ncomponent = {:?}\n", hello);
    let config = switchyard::Config::parse(&root.join("bench.toml"), &text).expect("bench config");
    let host = Arc::new(switchyard::Host::new().expect("the engine"));
    let service = switchyard::load(host, &config).expect("hello.wasm loads");

    let mut group = c.benchmark_group("request");
    group.measurement_time(Duration::from_secs(10));

    let mut sender = runtime.block_on(connect(move |request| {
        let service = service.clone();
        async move { service.handle(request).await }
    }));
    runtime.block_on(get_hello(&mut sender)); // fail early, before timing
    group.bench_function("hello", |b| {
        b.iter_custom(|iters| timed(&runtime, &mut sender, iters))
    });

    let mut sender = runtime.block_on(connect(|request: hyper::Request<Incoming>| async move {
        drop(request);
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(EXPECTED)));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain"),
        );
        Ok::<_, Infallible>(response)
    }));
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| timed(&runtime, &mut sender, iters))
    });
    group.finish();
}

criterion_group!(benches, invoke);
criterion_main!(benches);
