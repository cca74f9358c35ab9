//! No handler can take the server down: every way the `misbehave` handler
//! fails gets a prompt, specific answer and a log line naming the route and
//! request, while a concurrent request to another route succeeds. Also the
//! request-size, concurrency and outbound limits.

use crate::common::*;
use futures::StreamExt;
use std::time::{Duration, Instant};

/// The misbehave route as the default config has it: 2 s, 64 MiB.
fn config() -> String {
    format!(
        "{}timeout_ms = 2000\nmemory_mb = 64\n{}",
        route("/misbehave", "misbehave"),
        route("/hello", "hello")
    )
}

/// What a client saw.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A complete response.
    Complete(u16),
    /// Headers with this status, then a body that broke off.
    Cut(u16),
}

/// Run one mode, with a request to /hello while it misbehaves; returns what
/// the client saw, how long it took, and the request id.
async fn misbehave(
    server: &TestServer,
    client: &reqwest::Client,
    mode: &str,
) -> (Seen, Duration, String) {
    let started = Instant::now();
    let url = server.url(&format!("/misbehave?mode={mode}"));
    let bad = async {
        let response = client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let id = request_id(&response);
        let mut body = response.bytes_stream();
        let mut seen = Seen::Complete(status);
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                seen = Seen::Cut(status);
                break;
            }
        }
        (seen, started.elapsed(), id)
    };
    let good = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = get(client, server.url("/hello")).await;
        expect_text(response, 200, &format!("/hello during mode={mode}")).await
    };
    let (outcome, hello) = tokio::join!(bad, good);
    assert!(hello.starts_with("Hello"), "{hello}");
    outcome
}

async fn expect(mode: &str, want: Seen, within: Duration, log: &[&str]) {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let (seen, took, id) = misbehave(&server, &client, mode).await;
        assert_eq!(seen, want, "{protocol} mode={mode}");
        assert!(took < within, "{protocol} mode={mode}: took {took:?}");
        let mut needles = vec![id.as_str(), "route=misbehave"];
        needles.extend_from_slice(log);
        wait_for_log(&needles).await;
    }
    // The server is still serving.
    let hello = get(&http1(), server.url("/hello")).await;
    assert_eq!(hello.status(), 200);
    server.stop().await;
}

const PROMPT: Duration = Duration::from_secs(1);
const DEADLINE: Duration = Duration::from_millis(3500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_gives_500() {
    expect("trap", Seen::Complete(500), PROMPT, &["guest trapped"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_at_the_deadline_with_504() {
    expect("loop", Seen::Complete(504), DEADLINE, &["deadline of 2s"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_memory_gives_500_and_says_so() {
    expect(
        "oom",
        Seen::Complete(500),
        PROMPT,
        &["ran out of memory", "64 MiB"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_overflow_gives_500() {
    expect("stack", Seen::Complete(500), PROMPT, &["guest trapped"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_gives_500() {
    expect(
        "noresponse",
        Seen::Complete(500),
        PROMPT,
        &["without setting a response"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_after_streaming_began_cuts_the_body() {
    expect(
        "late-trap",
        Seen::Cut(200),
        PROMPT,
        &["cutting the response short"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_huge_headers_give_500() {
    expect(
        "huge-headers",
        Seen::Complete(500),
        PROMPT,
        &["guest trapped"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drip_is_cut_off_at_the_deadline() {
    expect(
        "slow-drip",
        Seen::Cut(200),
        DEADLINE,
        &["cutting the response short"],
    )
    .await;
    let line = log_lines_with(&[
        "route=misbehave",
        "cutting the response short",
        "deadline of 2s",
    ]);
    assert!(!line.is_empty(), "the log says the deadline cut the drip");
}

#[tokio::test]
async fn an_oversized_body_gets_413_whether_declared_or_streamed() {
    let config = format!(
        "{}max_request_body_bytes = 1000\n",
        route("/c/sha256", "sha256")
    );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        assert_1000_byte_body_limit(&client, &server.url("/c/sha256"), protocol).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_route_answers_503_promptly_with_retry_after() {
    let config = format!(
        "[server]\nqueue_timeout_ms = 200\n{}max_concurrency = 1\n{}",
        route("/stream", "stream"),
        route("/hello", "hello")
    );
    let server = TestServer::start(&config).await;
    let client = http1();
    let busy = get(
        &client,
        server.url("/stream?bytes=3000&chunk=1000&delay_ms=400"),
    )
    .await;
    let started = Instant::now();
    let refused = get(&client, server.url("/stream?bytes=10")).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    // After waiting its queue_timeout_ms (200), not at once, nor forever.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(180) && waited < Duration::from_secs(1),
        "503 after {waited:?}, expected about 200 ms"
    );
    // Other routes are unaffected.
    assert_eq!(get(&client, server.url("/hello")).await.status(), 200);
    assert_eq!(busy.bytes().await.unwrap().len(), 3000);
    // The slot is free again.
    let again = get(&client, server.url("/stream?bytes=10")).await;
    assert_eq!(again.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_request_is_served_when_the_slot_frees() {
    let config = format!(
        "[server]\nqueue_timeout_ms = 5000\n{}max_concurrency = 1\n",
        route("/stream", "stream"),
    );
    let server = TestServer::start(&config).await;
    let client = http1();
    let busy = get(
        &client,
        server.url("/stream?bytes=3000&chunk=1000&delay_ms=300"),
    )
    .await;
    let started = Instant::now();
    let reading = tokio::spawn(async move { busy.bytes().await.unwrap().len() });
    let queued = get(&client, server.url("/stream?bytes=10")).await;
    let waited = started.elapsed();
    assert_eq!(queued.status(), 200, "the queued request was refused");
    assert_eq!(reading.await.unwrap(), 3000);
    // It waited for the busy stream (about 600 ms more), not the 5 s limit.
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(4),
        "served after {waited:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_wide_limit_answers_503_on_every_route() {
    let config = format!(
        "[server]\nmax_concurrent_requests = 1\nqueue_timeout_ms = 200\n{}{}",
        route("/stream", "stream"),
        route("/hello", "hello")
    );
    let server = TestServer::start(&config).await;
    let client = http1();
    let busy = get(
        &client,
        server.url("/stream?bytes=2000&chunk=1000&delay_ms=600"),
    )
    .await;
    // Another route, with slots of its own to spare: the server's one slot
    // is taken.
    let refused = get(&client, server.url("/hello")).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let id = request_id(&refused);
    wait_for_log(&[&id, "route=hello", "max_concurrent_requests"]).await;
    assert_eq!(busy.bytes().await.unwrap().len(), 2000);
    assert_eq!(get(&client, server.url("/hello")).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn more_headers_than_max_header_count_get_431_over_both_protocols() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = format!(
        "[server]\nmax_header_count = 10\n{}",
        route("/hello", "hello")
    );
    let server = TestServer::start(&config).await;
    let send = |count: usize| async move {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut request = String::from("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..count {
            request.push_str(&format!("X-Extra-{i}: {i}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
        read.await.expect("the server answers").unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    // 2 + 8 = 10 headers: served; 2 + 20: refused.
    assert!(send(8).await.starts_with("HTTP/1.1 200"));
    let refused = send(20).await;
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
    assert_eq!(get(&http1(), server.url("/hello")).await.status(), 200);

    // The same limit over HTTP/2, where hyper does not count headers.
    let h2 = |count: usize| {
        let mut request = http2().get(server.url("/hello"));
        for i in 0..count {
            request = request.header(format!("x-extra-{i}"), i.to_string());
        }
        request.send()
    };
    assert_eq!(h2(5).await.unwrap().status(), 200);
    let refused = h2(20).await.unwrap();
    assert_eq!(refused.status(), 431);
    assert!(
        request_id(&refused).len() > 1,
        "answered by the service, with an id"
    );
    server.stop().await;
}

#[tokio::test]
async fn fetch_reaches_allowed_hosts_and_is_denied_elsewhere() {
    // A server of the user's on 127.0.0.1 (not another switchyard: guests
    // never reach the listeners of their own host).
    let upstream = crate::common::upstream::Upstream::start().await;
    let config = format!(
        "{}allowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n",
        route("/fetch", "fetch")
    );
    let server = TestServer::start(&config).await;
    let port: u16 = upstream.url.rsplit(':').next().unwrap().parse().unwrap();
    for (protocol, client) in clients() {
        let allowed = get(
            &client,
            server.url(&format!("/fetch?url=http://127.0.0.1:{port}/hello")),
        )
        .await;
        expect_text(allowed, 200, protocol).await;
        assert_eq!(upstream.last().uri, "/hello", "{protocol}");

        let denied = get(
            &client,
            server.url(&format!("/fetch?url=http://127.0.0.2:{port}/hello")),
        )
        .await;
        let id = request_id(&denied);
        let body = expect_text(denied, 502, protocol).await;
        assert!(
            body.starts_with("HTTP-request-denied"),
            "{protocol}: {body}"
        );
        wait_for_log(&[&id, "route=fetch", "outbound request denied", "127.0.0.2"]).await;
    }
    assert_eq!(upstream.calls(), 2);
    server.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = format!(
        "[server]\nheader_read_timeout_ms = 300\n{}",
        route("/hello", "hello")
    );
    let server = TestServer::start(&config).await;
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server kept a stalled connection open");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "closed after {waited:?}, expected about 300 ms"
    );
    // An idle keep-alive connection is closed by the same timer.
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "an idle keep-alive connection stayed open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    server.stop().await;
}

/// `[server] guard_pages = true` (guard pages and signals-based traps, not
/// explicit bounds checks): the real binary still serves, and a guest that
/// runs out of memory, overflows its stack or traps still costs one 500.
#[tokio::test]
async fn with_guard_pages_the_guardrails_hold_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, format!("[server]\nguard_pages = true\n{}", config())).unwrap();
    let server = Process::spawn(&file, &[]);
    let client = http1();
    let hello = expect_text(get(&client, server.url("/hello")).await, 200, "/hello").await;
    assert!(hello.starts_with("Hello"), "{hello}");
    for mode in ["oom", "stack", "trap"] {
        let response = get(&client, server.url(&format!("/misbehave?mode={mode}"))).await;
        assert_eq!(response.status(), 500, "mode={mode}");
    }
    let again = get(&client, server.url("/hello")).await;
    assert_eq!(again.status(), 200);
}
