//! Routes that end in `upstream = ...`, over the pooled keep-alive
//! connections the proxy keeps to each upstream: reuse, connections the
//! upstream closes, the keep-alive race, and a body that stalls mid-way.
//! In-process, over HTTP/1.1 and h2c from the client.

use crate::common::upstream::Upstream;
use crate::common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A route named `name` on `path` ending in `upstream`, behind `chain`.
fn proxied(path: &str, name: &str, chain: &[&str], upstream: &str, extra: &str) -> String {
    format!(
        "[[route]]\npath = \"{path}\"\nname = \"{name}\"\nmiddleware = {chain:?}\nupstream = \"{upstream}\"\n{extra}\n"
    )
}

/// The add-header middleware, declared.
fn add_header() -> String {
    format!(
        "[[middleware]]\nname = \"add-header\"\ncomponent = \"{}\"\n",
        component("add-header").display()
    )
}

#[tokio::test]
async fn sequential_requests_reach_the_upstream_over_one_kept_alive_connection() {
    let (bare, behind) = (Upstream::start().await, Upstream::start().await);
    let config = add_header()
        + &proxied("/up/...", "up", &["add-header"], &behind.url, "")
        + &proxied("/bare/...", "bare", &[], &bare.url, "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        for round in 0..3 {
            for path in ["/up/items", "/bare/items"] {
                let (status, body, want) = if round == 1 {
                    let (status, body) = get_text(&client, server.url(path)).await;
                    (status, body, String::new())
                } else {
                    let want = format!("payload {round}");
                    let (status, body) = post_text(&client, server.url(path), want.clone()).await;
                    (status, body, want)
                };
                assert_eq!(status, 200, "{protocol} {path} #{round}");
                assert_eq!(body, want, "{protocol} {path}");
            }
        }
    }
    for (name, upstream) in [("bare", &bare), ("behind a middleware", &behind)] {
        assert_eq!(upstream.calls(), 6, "{name}");
        assert_eq!(
            upstream.connections(),
            1,
            "{name}: 6 sequential requests should share one kept-alive connection"
        );
    }
    server.stop().await;
}

/// A raw HTTP/1.1 upstream that answers `body` to the first request on
/// each connection, then closes the connection without saying so (no
/// `Connection: close`): at once when `on_second_request` is false, else
/// only after reading the head of a second request, which it never answers
/// (the close crossing a request on the wire, as when an upstream's
/// keep-alive timeout fires just as the proxy reuses the connection). The
/// proxy learns only from the socket. Returns its URL and how many
/// connections it took.
async fn closing_upstream(
    body: &'static str,
    on_second_request: bool,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let heads = if on_second_request { 2 } else { 1 };
                for head in 0..heads {
                    let mut chunk = [0u8; 1024];
                    let end = loop {
                        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    buf.drain(..end);
                    if head == 0 && stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn an_upstream_that_closes_idle_connections_does_not_fail_the_next_request() {
    let restarting = Upstream::start().await;
    let (closing, accepted) = closing_upstream("closed", false).await;
    let config = proxied("/restarting/...", "restarting", &[], &restarting.url, "")
        + &proxied("/closing/...", "closing", &[], &closing, "");
    let server = TestServer::start(&config).await;
    let mut restarting = restarting;
    let mut requests = 0;
    for (protocol, client) in clients() {
        for round in 0..2 {
            requests += 1;
            let (status, body) = post_text(&client, server.url("/restarting/x"), "payload").await;
            assert_eq!(status, 200, "{protocol} #{round}");
            assert_eq!(body, "payload");
            assert_eq!(restarting.calls(), 1, "{protocol} #{round}");
            // Closes every connection, the one idle in the proxy's pool too.
            restarting = restarting.restart().await;

            let (status, body) = get_text(&client, server.url("/closing/x")).await;
            assert_eq!(status, 200, "{protocol} #{round}");
            assert_eq!(body, "closed");
            assert_eq!(accepted.load(Ordering::SeqCst), requests);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_bodiless_idempotent_request_is_retried_once_when_a_reused_connection_closes_under_it() {
    let (url, accepted) = closing_upstream("ok", true).await;
    let config = proxied("/racy/...", "racy", &[], &url, "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let before = accepted.load(Ordering::SeqCst);
        // A new connection (or a reused one that then closes: retried).
        let first = get_text(&client, server.url("/racy/a")).await;
        assert_eq!(first.0, 200, "{protocol}");
        assert_eq!(first.1, "ok");
        // The kept-alive connection closes under it; one retry on a new one.
        let second = get_text(&client, server.url("/racy/b")).await;
        assert_eq!(second.0, 200, "{protocol}");
        assert_eq!(second.1, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), before + 2, "{protocol}");
        // A POST may have been acted on: never sent twice, the client gets 502.
        let refused = post(&client, server.url("/racy/c"), "once").await;
        assert_eq!(refused.status(), 502, "{protocol}");
        let id = request_id(&refused);
        wait_for_log(&[&id, "route=racy", "upstream request failed"]).await;
        assert_eq!(accepted.load(Ordering::SeqCst), before + 2, "{protocol}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_body_that_stalls_midway_is_cut_after_the_between_bytes_timeout() {
    // Promises 10 bytes, sends 3, then holds the connection open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
                .await;
            held.push(stream);
        }
    });
    let config = proxied(
        "/stalls/...",
        "stalls",
        &[],
        &url,
        "outbound_between_bytes_timeout_ms = 300",
    );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/stalls/")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        let id = request_id(&response);
        let line = wait_for_log(&[&id, "route=stalls", "cutting it short"]).await;
        assert!(line.contains("connection read timeout"), "{line}");
        let body = response.bytes().await;
        assert!(
            body.is_err(),
            "{protocol}: a body cut short must not look complete: {body:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let upstream = Upstream::start().await;
    let routes = proxied("/up/...", "up", &[], &upstream.url, "") + &route("/echo", "echo");
    let trusting = "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n";
    for (server_table, forwarded) in [("", "127.0.0.1"), (trusting, "10.9.8.7, 127.0.0.1")] {
        let server = TestServer::start(&format!("{server_table}{routes}")).await;
        for (protocol, client) in clients() {
            let send = |path: &str| {
                client
                    .get(server.url(path))
                    .header("x-forwarded-for", "10.9.8.7")
                    .send()
            };
            let response = send("/up/x").await.unwrap();
            assert_eq!(response.status(), 200, "{protocol}");
            let seen = upstream.last();
            let header: Vec<_> = seen.headers.get_all("x-forwarded-for").iter().collect();
            assert_eq!(
                header,
                [forwarded],
                "{protocol}, trusting: {server_table:?}"
            );

            // A guest sees the client's header only when it came from a
            // trusted proxy, too.
            let echoed = send("/echo").await.unwrap();
            let echoed = echoed.headers().get("x-echo-x-forwarded-for");
            let want = (!server_table.is_empty()).then_some("10.9.8.7");
            assert_eq!(echoed.map(|v| v.to_str().unwrap()), want, "{protocol}");
        }
        server.stop().await;
    }
}
