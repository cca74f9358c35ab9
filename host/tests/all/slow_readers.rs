//! Clients that stop reading a response: over HTTP/1.1 and HTTP/2, from a
//! guest's stream and from an upstream, the server cuts them after
//! `[server] write_timeout_ms`, frees the route's slot (a route with
//! `max_concurrency = 1` serves the next request), counts them in
//! `/metrics` and writes `client stalled` in the access line; a guest that
//! is merely slow to produce its stream is not cut.

use crate::common::*;
use bytes::Bytes;
use http_body_util::Empty;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A 256 MiB stream: far more than the socket buffers hold.
const HUGE: &str = "/stream?bytes=268435456";

/// `[server] write_timeout_ms = 500` and a `stream` route named `name` at
/// `/stream` that takes one request at a time and has a minute to finish,
/// so neither the route's deadline nor anything else cuts a stall first.
fn stream_route(name: &str) -> String {
    format!(
        "[server]\nwrite_timeout_ms = 500\n\n[[route]]\nname = \"{name}\"\npath = \"/stream\"\ncomponent = \"{}\"\nmax_concurrency = 1\ntimeout_ms = 60000\n",
        component("stream").display()
    )
}

/// An HTTP/1.1 connection with a tiny receive buffer that sends `head`
/// and then never reads.
async fn stalled_http1(addr: std::net::SocketAddr, head: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The access line of `request_id` once it says `client stalled`; it must
/// come after the write timeout, not before.
async fn cut_for_stalling(request_id: &str, since: Instant) -> String {
    let line = wait_for_log(&[request_id, "client stalled"]).await;
    assert!(
        since.elapsed() >= Duration::from_millis(500),
        "cut after {:?}, before the 500 ms write timeout: {line}",
        since.elapsed()
    );
    line
}

/// Whether the server closes `stream` within 10 s (reading what it had sent).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buffer = vec![0u8; 1 << 16];
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n) = stream.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

/// The `/metrics` value of `series`, 0 if absent.
async fn metric(server: &TestServer, series: &str) -> f64 {
    let text = get_text(&http1(), server.admin_url("/metrics")).await.1;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn an_http1_client_that_stops_reading_a_stream_is_cut_and_its_slot_freed() {
    let server = TestServer::start_with_admin(&stream_route("stall-h1"), None).await;
    let head = format!("GET {HUGE} HTTP/1.1\r\nHost: x\r\nx-request-id: stall-h1-req\r\n\r\n");
    let sent = Instant::now();
    let mut stalled = stalled_http1(server.addr, &head).await;
    let line = cut_for_stalling("stall-h1-req", sent).await;
    assert!(
        line.contains("route=stall-h1") && line.contains("status=200"),
        "{line}"
    );
    assert!(
        closed(&mut stalled).await,
        "the stalled connection stayed open"
    );
    // The route's only slot is free again: the next request is served, not
    // a 503 after the queue timeout.
    let (status, body) = get_text(&http1(), server.url("/stream?bytes=5")).await;
    assert_eq!((status, body.as_str()), (200, "abcde"));
    let stalled = r#"switchyard_clients_stalled_total{route="stall-h1"}"#;
    assert_eq!(metric(&server, stalled).await, 1.0);
    server.stop().await;
}

#[tokio::test]
async fn an_http2_client_that_stops_reading_a_stream_is_cut_and_its_slot_freed() {
    let server = TestServer::start_with_admin(&stream_route("stall-h2"), None).await;
    let (mut send, connection) = h2_connection(server.addr).await;
    let request = http::Request::get(server.url(HUGE))
        .header("x-request-id", "stall-h2-req")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let sent = Instant::now();
    let response = send.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    // Hold the body unread: its flow-control window is never given back.
    let _unread = response.into_body();
    let line = cut_for_stalling("stall-h2-req", sent).await;
    assert!(line.contains("route=stall-h2"), "{line}");
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "the stalled HTTP/2 connection stayed open");
    let (status, body) = get_text(&http2(), server.url("/stream?bytes=5")).await;
    assert_eq!((status, body.as_str()), (200, "abcde"));
    let stalled = r#"switchyard_clients_stalled_total{route="stall-h2"}"#;
    assert_eq!(metric(&server, stalled).await, 1.0);
    server.stop().await;
}

/// A raw upstream: `/small` gets `ok`, anything else an endless body.
async fn endless_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                if head.starts_with(b"GET /small ") {
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    let _ = stream.write_all(reply).await;
                    return;
                }
                let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(reply).await.is_err() {
                    return;
                }
                let chunk = [b"10000\r\n".as_slice(), &[b'u'; 0x10000], b"\r\n"].concat();
                while stream.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_client_that_stops_reading_an_upstream_is_cut_and_its_slot_freed() {
    let (upstream, task) = endless_upstream().await;
    let config = format!(
        "[server]\nwrite_timeout_ms = 500\n\n[[route]]\nname = \"stall-up\"\npath = \"/...\"\nupstream = \"{upstream}\"\nmax_concurrency = 1\n"
    );
    let server = TestServer::start_with_admin(&config, None).await;
    let head = "GET /endless HTTP/1.1\r\nHost: x\r\nx-request-id: stall-up-req\r\n\r\n";
    let sent = Instant::now();
    let mut stalled = stalled_http1(server.addr, head).await;
    let line = cut_for_stalling("stall-up-req", sent).await;
    assert!(line.contains("route=stall-up"), "{line}");
    assert!(
        closed(&mut stalled).await,
        "the stalled connection stayed open"
    );
    let (status, body) = get_text(&http1(), server.url("/small")).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let stalled = r#"switchyard_clients_stalled_total{route="stall-up"}"#;
    assert_eq!(metric(&server, stalled).await, 1.0);
    server.stop().await;
    task.abort();
}

#[tokio::test]
async fn a_guest_slow_to_produce_its_stream_is_not_a_stalled_client() {
    // Each pause (700 ms) is longer than the write timeout (500 ms); the
    // client reads everything the moment it arrives.
    let server = TestServer::start(&stream_route("slow-producer")).await;
    let url = server.url("/stream?bytes=3000&chunk=1000&delay_ms=700");
    for (protocol, client) in clients() {
        let id = format!("slow-producer-{}", protocol.replace('/', ""));
        let response = client
            .get(&url)
            .header("x-request-id", &id)
            .send()
            .await
            .unwrap();
        let body = expect_text(response, 200, protocol).await;
        assert_eq!(body.len(), 3000, "{protocol}");
        let line = wait_for_log(&[&id, "route=slow-producer", "outcome=complete"]).await;
        assert!(line.contains("bytes=3000"), "{line}");
    }
    server.stop().await;
}
