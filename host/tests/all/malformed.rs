//! Bad input from the network, written byte for byte to a raw TCP socket:
//! the server must answer what hyper answers (400, 431, an HTTP/2 GOAWAY) or
//! close the connection, never hang or take the server down, and the very
//! next request on a new connection must get a normal 200.
//!
//! Each exchange writes the whole request at once and then reads until the
//! server closes the connection, under a timeout, so a test fails instead of
//! hanging if the server neither answers nor closes. The statuses asserted
//! are what hyper 1.x really does; the comments say where each comes from.

use crate::common::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a raw exchange may take before the test fails.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the server sent on one connection, up to its close.
struct Reply {
    bytes: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The first status line, e.g. `HTTP/1.1 400 Bad Request`.
    fn status_line(&self) -> String {
        self.text().lines().next().unwrap_or_default().to_string()
    }

    /// The value of a header of the first response (names are lower case).
    fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// How many HTTP/1.1 responses the server sent.
    fn responses(&self) -> usize {
        let text = self.text();
        text.match_indices("HTTP/1.1 ")
            .filter(|(at, _)| *at == 0 || text[..*at].ends_with('\n'))
            .count()
    }
}

/// Connect, write `request` in one go, and read until the server closes.
/// A reset after the response is an ending too (a server that stops reading
/// and closes with unread input resets the connection); what counts is
/// what the client received before it.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let work = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The server may close before taking every byte; the reply is still
        // what matters, so a failed write is not the end of the exchange.
        let _ = stream.write_all(request).await;
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
        Reply { bytes }
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            panic!("the server neither answered nor closed within {EXCHANGE_TIMEOUT:?}")
        })
}

/// hyper's automatic answer to a request it cannot parse: one response with
/// this status line, no body, `connection: close`, then the connection ends.
fn assert_rejected(reply: &Reply, status_line: &str) {
    assert_eq!(reply.status_line(), status_line, "{}", reply.text());
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    assert_eq!(reply.header("content-length").as_deref(), Some("0"));
    assert_eq!(reply.responses(), 1, "{}", reply.text());
    assert!(
        reply.text().ends_with("\r\n\r\n"),
        "nothing after the head: {}",
        reply.text()
    );
}

/// A normal request on a new connection still gets a 200.
async fn assert_still_serves(server: &TestServer) {
    // A new client: a new connection.
    let (status, body) = get_text(&http1(), server.url("/hello")).await;
    assert_eq!(status, 200);
    assert!(body.contains("Hello"), "{body}");
}

async fn hello_server() -> TestServer {
    TestServer::start(&(route("/hello", "hello") + &route("/echo", "echo"))).await
}

#[tokio::test]
async fn garbage_bytes_get_400() {
    let server = hello_server().await;
    // Not the HTTP/2 preface, so hyper-util's auto builder hands the bytes
    // to the HTTP/1 parser, which rejects the method token.
    let reply = exchange(server.addr, b"\x00\x01\x02\xff\xfe garbage \x7f\r\n\r\n").await;
    assert_rejected(&reply, "HTTP/1.1 400 Bad Request");
    assert_still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_bad_request_line_gets_400() {
    let server = hello_server().await;
    for request in [
        &b"GET\r\n\r\n"[..],                             // no target, no version
        b"GET /hello HTTP/9.9\r\nHost: x\r\n\r\n",       // unknown version
        b"GET /hel lo HTTP/1.1\r\nHost: x\r\n\r\n",      // space in the target
        b"GET /hello HTTP/1.1 extra\r\nHost: x\r\n\r\n", // trailing junk
    ] {
        let reply = exchange(server.addr, request).await;
        assert_rejected(&reply, "HTTP/1.1 400 Bad Request");
        assert_still_serves(&server).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn invalid_header_names_get_400() {
    let server = hello_server().await;
    for header in [
        &b"Bad Header: x"[..], // a space is not a token character
        b"Bad\0Header: x",     // nor is NUL
        b"No-Colon-Here",      // not a header line at all
        b": no-name",          // empty name
    ] {
        let request = [
            &b"GET /hello HTTP/1.1\r\nHost: x\r\n"[..],
            header,
            b"\r\n\r\n",
        ]
        .concat();
        let reply = exchange(server.addr, &request).await;
        assert_rejected(&reply, "HTTP/1.1 400 Bad Request");
        assert_still_serves(&server).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_read_as_chunked_then_the_connection_closes() {
    // Not a 400: hyper follows RFC 9112 §6.3, which lets a server drop the
    // Content-Length and read the body as chunked, and then closes the
    // connection after the response (`connection: close`), so nothing after
    // the chunked body is ever parsed as a request. A classic smuggling
    // attempt therefore gets one answer, and the smuggled request none.
    let server = hello_server().await;
    let request = b"POST /echo HTTP/1.1\r\nHost: x\r\n\
        Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
        3\r\nabc\r\n0\r\n\r\n\
        GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let reply = exchange(server.addr, request).await;
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "{}", reply.text());
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    assert_eq!(reply.responses(), 1, "{}", reply.text());
    // The echo got the chunked body "abc", not the first 4 bytes "3\r\na".
    assert!(
        reply.text().ends_with("\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        "{}",
        reply.text()
    );
    assert!(log_lines_with(&["/smuggled"]).is_empty());
    assert_still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn two_different_content_lengths_get_400() {
    let server = hello_server().await;
    let request =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde";
    let reply = exchange(server.addr, request).await;
    assert_rejected(&reply, "HTTP/1.1 400 Bad Request");
    assert_still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn an_absurd_content_length_gets_400() {
    let server = hello_server().await;
    for length in ["99999999999999999999", "-1", "1e3", "0x10"] {
        // 99999999999999999999 overflows u64; the others are not digits.
        let request =
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nabc");
        let reply = exchange(server.addr, request.as_bytes()).await;
        assert_rejected(&reply, "HTTP/1.1 400 Bad Request");
        assert_still_serves(&server).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_non_hex_chunk_size_ends_the_connection() {
    // The head is valid, so hyper has already handed the request to the
    // service before it meets the bad chunk: it cannot answer 400 any more.
    // It decodes the body only when someone reads it, so what the client
    // sees depends on the guest.
    let server = hello_server().await;
    let body = "zz\r\nabc\r\n0\r\n\r\n";

    // `hello` never reads the body: its 200 goes out complete. hyper then
    // tries to drain the body to reuse the connection, fails on "zz", and
    // closes: one response, no keep-alive.
    let request =
        format!("POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
    let reply = exchange(server.addr, request.as_bytes()).await;
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "{}", reply.text());
    assert_eq!(reply.responses(), 1, "{}", reply.text());
    assert!(reply.text().ends_with("\r\n0\r\n\r\n"), "{}", reply.text());
    assert_still_serves(&server).await;

    // `echo` reads the body, so hyper meets "zz" while the guest is running
    // and aborts the connection. Usually no byte of the response has been
    // written by then; if the head did get out first, the chunked body never
    // ends. Either way the client cannot mistake it for a complete echo.
    let request =
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
    let reply = exchange(server.addr, request.as_bytes()).await;
    assert!(
        reply.bytes.is_empty()
            || (reply.status_line() == "HTTP/1.1 200 OK" && !reply.text().ends_with("0\r\n\r\n")),
        "expected no response or a truncated one, got: {}",
        reply.text()
    );
    assert_still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_100_kib_header_line_gets_431() {
    // The limit is the server's `max_header_bytes` (64 KiB by default),
    // which it gives hyper as its HTTP/1 read buffer size: once the buffer is
    // full and the head is still incomplete, hyper answers 431 and closes.
    // (With hyper's own default of ~400 KiB this request would have been
    // served.) The server stops reading at the limit, so the connection may
    // end in a reset, but the 431 has reached the client first on loopback.
    let server = hello_server().await;
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 << 10)
    );
    let reply = exchange(server.addr, request.as_bytes()).await;
    assert_rejected(&reply, "HTTP/1.1 431 Request Header Fields Too Large");
    assert_still_serves(&server).await;
    server.stop().await;
}

/// HTTP/2 frames as (type, flags, stream, payload), parsed from raw bytes.
fn h2_frames(mut bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 9 {
        let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        assert!(bytes.len() >= 9 + length, "truncated frame in {bytes:02x?}");
        frames.push((bytes[3], bytes[4], stream, bytes[9..9 + length].to_vec()));
        bytes = &bytes[9 + length..];
    }
    assert!(
        bytes.is_empty(),
        "trailing bytes that are not a frame: {bytes:02x?}"
    );
    frames
}

#[tokio::test]
async fn http2_preface_then_garbage_gets_goaway() {
    // The preface switches hyper-util's auto builder to HTTP/2. The server
    // sends its SETTINGS, then reads the garbage as a frame header whose
    // length ("thi" = 0x746869, 7.6 MB) is far past the 16 KiB maximum frame
    // size: h2 answers GOAWAY with FRAME_SIZE_ERROR and closes. No HTTP/1
    // response is ever written.
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    const FRAME_SIZE_ERROR: u32 = 0x6;
    let server = hello_server().await;
    let request = [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
        b"this is not an HTTP/2 frame\r\n",
    ]
    .concat();
    let reply = exchange(server.addr, &request).await;
    let frames = h2_frames(&reply.bytes);
    let types: Vec<u8> = frames.iter().map(|f| f.0).collect();
    assert_eq!(types, [SETTINGS, GOAWAY], "{frames:02x?}");
    let (_, _, stream, payload) = &frames[1];
    assert_eq!(*stream, 0, "GOAWAY is a connection frame");
    let last_stream = u32::from_be_bytes(payload[0..4].try_into().unwrap());
    let error = u32::from_be_bytes(payload[4..8].try_into().unwrap());
    assert_eq!((last_stream, error), (0, FRAME_SIZE_ERROR), "{frames:02x?}");
    assert_still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn stalled_clients_do_not_block_others() {
    // Slow clients that send half a request line and stop. Every connection
    // is its own task, so others are served meanwhile; and a stalled client
    // that resumes (well within the server's header read timeout) is served
    // too.
    let server = hello_server().await;
    let mut stalled = Vec::new();
    for _ in 0..16 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /hel").await.unwrap();
        stalled.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let client = http1();
    for _ in 0..5 {
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            client.get(server.url("/hello")).send(),
        )
        .await
        .expect("a GET /hello waited behind stalled clients")
        .unwrap();
        assert_eq!(response.status(), 200);
    }

    let mut stream = stalled.pop().unwrap();
    stream
        .write_all(b"lo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(EXCHANGE_TIMEOUT, stream.read_to_end(&mut bytes))
        .await
        .expect("the resumed client got no answer")
        .unwrap();
    let reply = Reply { bytes };
    assert_eq!(reply.status_line(), "HTTP/1.1 200 OK", "{}", reply.text());
    drop(stalled);
    drop(client);
    server.stop().await;
}
