//! wasi:http 0.3 (p3) components, served beside 0.2 ones, as wasmtime's own
//! `serve` tests exercise them: hello (fresh, reused, concurrent), a body
//! written after `handle` returned, work after the response, a guest that
//! sleeps forever, echo with trailers, a trap mid-body, 413 and 503,
//! outbound, middleware, a hot swap under load, and `check`. Over HTTP/1.1
//! and h2c. The handlers are `handlers/rust/{hello,echo,counter,next}-p3`
//! and `handlers/python/hello-py3`.

use crate::common::upstream::Upstream;
use crate::common::*;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A route named `name` serving `handler` at `path`, plus `extra` keys.
fn named(path: &str, name: &str, handler: &str, extra: &str) -> String {
    format!(
        "[[route]]\npath = \"{path}\"\nname = \"{name}\"\ncomponent = \"{}\"\n{extra}",
        component(handler).display()
    )
}

/// The p3 routes most tests use, with a 2 s deadline.
fn config() -> String {
    [
        named("/p3/hello", "hello-p3", "hello-p3", "timeout_ms = 2000\n"),
        named("/p3/echo", "echo-p3", "echo-p3", ""),
        named("/p3/fresh-counter", "fresh-counter", "counter-p3", ""),
        named(
            "/p3/reused",
            "reused",
            "counter-p3",
            "instance_reuse = 1000\n",
        ),
        named(
            "/p3/concurrent",
            "concurrent",
            "counter-p3",
            "instance_reuse = 1000\ninstance_concurrency = 4\n",
        ),
        named("/hello", "hello", "hello", ""),
    ]
    .concat()
}

/// The `key=value` fields of a counter-p3 answer.
fn field(body: &str, key: &str) -> u64 {
    body.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {body:?}"))
}

#[tokio::test]
async fn hello_sees_the_full_url_and_its_body_is_written_after_handle_returns() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/p3/hello?x=1")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        let url = response.headers()["x-url"].to_str().unwrap().to_owned();
        assert_eq!(
            url,
            format!("http://{}/p3/hello?x=1", server.addr),
            "{protocol}: the guest sees scheme, authority, path and query"
        );
        let body = response.text().await.unwrap();
        assert_eq!(body, "Hello from p3! GET /p3/hello?x=1\n", "{protocol}");
        // A bigger body, also written by the guest's task after `handle`.
        let big = get(&client, server.url("/p3/hello?big=1048576")).await;
        assert_eq!(big.status(), 200);
        let bytes = big.bytes().await.unwrap();
        assert_eq!(bytes.len(), 1 << 20, "{protocol}");
        assert!(bytes.iter().all(|&b| b == b'x'));
    }
    server.stop().await;
}

#[tokio::test]
async fn fresh_by_default_reused_and_concurrent_on_request() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        for _ in 0..3 {
            let (status, body) = get_text(&client, server.url("/p3/fresh-counter")).await;
            assert_eq!(status, 200);
            assert_eq!(
                field(&body, "count"),
                1,
                "{protocol}: a fresh instance each time"
            );
        }
        let mut counts = Vec::new();
        for _ in 0..4 {
            let (status, body) = get_text(&client, server.url("/p3/reused")).await;
            assert_eq!(status, 200);
            counts.push(field(&body, "count"));
        }
        assert!(
            counts.windows(2).all(|w| w[1] == w[0] + 1),
            "{protocol}: one instance served them in turn: {counts:?}"
        );
    }
    // One request that waits 600 ms, then seven more while it waits: the
    // waiting instance takes up to three of them (instance_concurrency = 4);
    // a request that finds no instance free gets a new one.
    let client = http1();
    let started = Instant::now();
    let url = server.url("/p3/concurrent?wait=600");
    let first = get_text(&client, url.clone());
    let rest = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        futures::future::join_all((0..7).map(|_| get_text(&client, url.clone()))).await
    };
    let (first, mut answers) = tokio::join!(first, rest);
    answers.push(first);
    let took = started.elapsed();
    let mut most = 0;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let max = field(body, "max_inflight");
        assert!(max <= 4, "instance_concurrency = 4, yet {body}");
        most = most.max(max);
    }
    assert!(most >= 2, "no instance served two at once: {answers:?}");
    assert!(took < Duration::from_secs(3), "8 × 600 ms took {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn work_after_the_response_outlives_it_and_is_logged() {
    let server = TestServer::start(&config()).await;
    let response = get(&http1(), server.url("/p3/hello?post-return")).await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    assert_eq!(response.text().await.unwrap(), "");
    let line = wait_for_log(&[&id, "route=hello-p3", "please see me"]).await;
    assert!(line.contains("stdout"), "{line}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_sleeps_forever_gets_504_at_the_deadline() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let started = Instant::now();
        let response = get(&client, server.url("/p3/hello?sleep")).await;
        let took = started.elapsed();
        assert_eq!(response.status(), 504, "{protocol}");
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_millis(3500),
            "{protocol}: 504 after {took:?}, the deadline is 2 s"
        );
        let id = request_id(&response);
        wait_for_log(&[&id, "route=hello-p3", "deadline of 2s"]).await;
        // The next request gets a working instance.
        let (status, body) = get_text(&client, server.url("/p3/hello")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "Hello from p3! GET /p3/hello\n")
        );
    }
    server.stop().await;
}

/// GET `path`: its status and whether its body was cut short.
async fn cut(client: &reqwest::Client, url: String) -> (u16, bool, String, Duration) {
    let started = Instant::now();
    let response = get(client, url).await;
    let status = response.status().as_u16();
    let id = request_id(&response);
    let mut body = response.bytes_stream();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            failed = true;
            break;
        }
    }
    (status, failed, id, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_or_the_deadline_after_the_head_cuts_the_response() {
    let server = TestServer::start(&config()).await;
    for (protocol, client) in clients() {
        let (status, failed, id, took) = cut(&client, server.url("/p3/hello?trap-body")).await;
        assert_eq!(status, 200, "{protocol}: the head was sent");
        assert!(
            failed,
            "{protocol}: a trap mid-body must not end the body cleanly"
        );
        assert!(took < Duration::from_secs(1), "{protocol}: {took:?}");
        wait_for_log(&[&id, "route=hello-p3", "cutting the response short"]).await;

        let (status, failed, id, took) = cut(&client, server.url("/p3/hello?sleep-body")).await;
        assert_eq!(status, 200, "{protocol}");
        assert!(
            failed,
            "{protocol}: the deadline must cut the body, not end it"
        );
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_millis(3500),
            "{protocol}: cut after {took:?}, the deadline is 2 s"
        );
        wait_for_log(&[&id, "route=hello-p3", "cutting the response short"]).await;
    }
    // A trap before the head is a 500, and the route still serves.
    let response = get(&http1(), server.url("/p3/hello?trap")).await;
    assert_eq!(response.status(), 500);
    let id = request_id(&response);
    wait_for_log(&[&id, "route=hello-p3", "guest trapped"]).await;
    assert_eq!(get(&http1(), server.url("/p3/hello")).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn memory_over_the_route_budget_is_a_500_that_says_so() {
    let config = named("/p3/hello", "hungry", "hello-p3", "memory_mb = 32\n");
    let server = TestServer::start(&config).await;
    let (status, body) = get_text(&http1(), server.url("/p3/hello?alloc=8")).await;
    assert_eq!((status, body.as_str()), (200, "allocated 8 MiB\n"));
    let response = get(&http1(), server.url("/p3/hello?alloc=64")).await;
    assert_eq!(response.status(), 500);
    let id = request_id(&response);
    wait_for_log(&[&id, "route=hungry", "ran out of memory", "32 MiB"]).await;
    server.stop().await;
}

/// A request body of frames, as hyper's client sends it.
type Frames = http_body_util::StreamBody<
    futures::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, std::io::Error>>>,
>;

/// `chunks` × 256 KiB of a pattern, as frames, then `x-checksum` trailers.
fn body_with_trailers(chunks: usize) -> Frames {
    let mut frames: Vec<_> = (0..chunks)
        .map(|i| {
            Ok(http_body::Frame::data(Bytes::from(vec![
                (i % 251) as u8;
                256 << 10
            ])))
        })
        .collect();
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "abc123".parse().unwrap());
    frames.push(Ok(http_body::Frame::trailers(trailers)));
    http_body_util::StreamBody::new(futures::stream::iter(frames))
}

#[tokio::test]
async fn echo_streams_the_body_back_with_its_trailers() {
    let server = TestServer::start(&config()).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = http::Request::post(server.url("/p3/echo"))
        .header("x-echo-me", "yes")
        .body(body_with_trailers(16))
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-echo-me"], "yes");
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected
        .trailers()
        .cloned()
        .expect("the request's trailers came back");
    assert_eq!(trailers["x-checksum"], "abc123");
    let bytes = collected.to_bytes();
    assert_eq!(bytes.len(), 16 * (256 << 10));
    for (i, chunk) in bytes.chunks(256 << 10).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == (i % 251) as u8),
            "chunk {i} differs"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn echo_of_64_mib_is_identical_and_not_buffered() {
    const TOTAL: usize = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, named("/p3/echo", "echo-p3", "echo-p3", "")).unwrap();
    let server = Process::spawn(&file, &[]);
    let client = http1();
    let warm = post(&client, server.url("/p3/echo"), vec![7u8; 1 << 20]).await;
    assert_eq!(warm.bytes().await.unwrap().len(), 1 << 20);
    let (_, peak_before) = server.rss_kib();
    let response = post(&client, server.url("/p3/echo"), patterned_body(TOTAL)).await;
    assert_eq!(response.status(), 200);
    assert_patterned(response, TOTAL, "echo-p3").await;
    let (_, peak_after) = server.rss_kib();
    let growth = peak_after.saturating_sub(peak_before) as f64 / 1024.0;
    assert!(
        growth < 24.0,
        "peak RSS grew by {growth:.1} MiB echoing 64 MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_and_admission_hold_on_a_p3_route() {
    let config = format!(
        "[server]\nqueue_timeout_ms = 200\n{}{}",
        named(
            "/p3/echo",
            "echo-p3",
            "echo-p3",
            "max_request_body_bytes = 1000\n"
        ),
        named(
            "/p3/hello",
            "hello-p3",
            "hello-p3",
            "max_concurrency = 1\ntimeout_ms = 3000\n"
        ),
    );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let url = server.url("/p3/echo");
        let declared = post(&client, &url, vec![b'x'; 5000]).await;
        assert_eq!(
            declared.status(),
            413,
            "{protocol}: refused before the guest runs"
        );
        // echo-p3 answers before it reads: past the limit its head may be
        // out already, and then the echo must be cut, never end cleanly
        // after 1000 bytes.
        let streamed = post(&client, &url, chunked((0..5).map(|_| vec![b'y'; 1000]))).await;
        match streamed.status().as_u16() {
            413 => {}
            200 => assert!(
                streamed.bytes().await.is_err(),
                "{protocol}: an over-limit echo ended cleanly"
            ),
            other => panic!("{protocol}: {other} for an over-limit streamed body"),
        }
        let (status, body) = post_text(&client, &url, "abc").await;
        assert_eq!((status, body.as_str()), (200, "abc"), "{protocol}");
    }
    // A body still streaming after `handle` returned holds the route's slot.
    let client = http1();
    let busy = get(&client, server.url("/p3/hello?sleep-body")).await;
    assert_eq!(busy.status(), 200);
    let refused = get(&client, server.url("/p3/hello")).await;
    assert_eq!(
        refused.status(),
        503,
        "the streaming body still holds the slot"
    );
    drop(busy);
    let mut freed = false;
    for _ in 0..50 {
        if get(&client, server.url("/p3/hello")).await.status() == 200 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "the slot is free once the client dropped the body");
    server.stop().await;
}

#[tokio::test]
async fn outbound_from_a_p3_guest_goes_through_the_allow_list() {
    let upstream = Upstream::start().await;
    let host = upstream.url.trim_start_matches("http://").to_owned();
    let config = format!(
        "{}{}",
        named(
            "/p3/allowed",
            "allowed",
            "hello-p3",
            &format!(
                "allowed_outbound_hosts = [\"http://{host}\"]\nallow_private_networks = true\n"
            )
        ),
        named("/p3/denied", "denied", "hello-p3", ""),
    );
    let server = TestServer::start(&config).await;
    let target = format!("{}/from-p3", upstream.url);
    let (status, body) =
        get_text(&http1(), server.url(&format!("/p3/allowed?fetch={target}"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("fetched 200\n"), "{body}");
    assert_eq!(upstream.last().uri.path(), "/from-p3");
    let calls = upstream.calls();
    let (status, body) =
        get_text(&http1(), server.url(&format!("/p3/denied?fetch={target}"))).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert_eq!(upstream.calls(), calls, "a denied request never left");
    server.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn p3_components_in_middleware_chains() {
    let declare = |name: &str, handler: &str| {
        format!(
            "[[middleware]]\nname = \"{name}\"\ncomponent = \"{}\"\n",
            component(handler).display()
        )
    };
    let chained = |path: &str, name: &str, chain: &[&str], handler: &str| {
        format!(
            "[[route]]\npath = \"{path}\"\nname = \"{name}\"\nmiddleware = {chain:?}\ncomponent = \"{}\"\n",
            component(handler).display()
        )
    };
    let config = [
        declare("add-header", "add-header"),
        declare("next-p3", "next-p3"),
        // A 0.2 middleware in front of a 0.3 handler.
        chained("/a/...", "p2-before-p3", &["add-header"], "echo-p3"),
        // A 0.3 middleware in front of a 0.2 handler, and of a 0.3 one.
        chained("/b/...", "p3-before-p2", &["next-p3"], "hello"),
        chained(
            "/c/...",
            "p3-before-p3",
            &["next-p3", "add-header"],
            "echo-p3",
        ),
    ]
    .concat();
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let response = post(&client, server.url("/a/x"), "through a p2 middleware").await;
        assert_eq!(response.status(), 200, "{protocol}");
        // add-header's request header, echoed back by the 0.3 handler, and
        // its response header.
        assert_eq!(
            response.headers()["x-custom-header"],
            "FooBar",
            "{protocol}"
        );
        assert_eq!(response.headers()["x-middleware"], "add-header(FooBar)");
        assert_eq!(response.text().await.unwrap(), "through a p2 middleware");

        let response = get(&client, server.url("/b/y?q=1")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(response.headers()["x-p3-middleware"], "next-p3");
        assert_eq!(
            response.text().await.unwrap(),
            "Hello from Switchyard! GET /b/y?q=1\n",
            "{protocol}"
        );

        let response = post(&client, server.url("/c/z"), "two hops").await;
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(response.headers()["x-p3-middleware"], "next-p3");
        assert_eq!(response.headers()["x-middleware"], "add-header(FooBar)");
        assert_eq!(response.headers()["x-custom-header"], "FooBar");
        assert_eq!(response.text().await.unwrap(), "two hops", "{protocol}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_swap_under_load_fails_no_request() {
    const V1: &str = "Hello from p3!";
    const V2: &str = "Hello again from p3 (v2)!";
    let files = tempfile::tempdir().unwrap();
    let wasm = files.path().join("hello-p3.wasm");
    let v1 = std::fs::read(component("hello-p3")).unwrap();
    let v2 = std::fs::read(component("hello-p3-v2")).unwrap();
    std::fs::write(&wasm, &v1).unwrap();
    let config = format!(
        "[[route]]\npath = \"/p3/hello\"\nname = \"swap\"\ncomponent = \"{}\"\n",
        wasm.display()
    );
    let server = TestServer::start_watching(&config).await;
    let url = server.url("/p3/hello");
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|i| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
            tokio::spawn(async move {
                let client = if i % 2 == 0 { http1() } else { http2() };
                while !stop.load(Ordering::Relaxed) {
                    let good = match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => r
                            .text()
                            .await
                            .is_ok_and(|b| b.starts_with(V1) || b.starts_with(V2)),
                        _ => false,
                    };
                    if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for (round, (bytes, marker)) in [(&v2, V2), (&v1, V1), (&v2, V2)].into_iter().enumerate() {
        let tmp = wasm.with_extension("tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &wasm).unwrap();
        let started = Instant::now();
        loop {
            let (status, body) = get_text(&http1(), url.clone()).await;
            if status == 200 && body.starts_with(marker) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "round {round}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(ok > 50, "too light a load to mean anything: {ok}");
    server.stop().await;
}

#[tokio::test]
async fn p2_and_p3_side_by_side_and_the_admin_api_says_which() {
    let config = format!(
        "{}{}",
        config(),
        named("/py3/...", "hello-py3", "hello-py3", "")
    );
    let server = TestServer::start_with_admin(&config, Some("t0ken")).await;
    for (protocol, client) in clients() {
        let (status, body) = get_text(&client, server.url("/hello")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "Hello from Switchyard! GET /hello\n")
        );
        let (status, body) = get_text(&client, server.url("/p3/hello")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "Hello from p3! GET /p3/hello\n")
        );
        let (status, body) = get_text(&client, server.url("/py3/greet?name=x")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "Hello from Python p3! GET /py3/greet?name=x\n"),
            "{protocol}"
        );
    }
    let routes: serde_json::Value = http1()
        .get(server.admin_url("/admin/routes"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let world = |name: &str| {
        routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no route {name} in {routes}"))["world"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(world("hello-p3"), "wasi:http/service@0.3.0");
    assert_eq!(world("hello-py3"), "wasi:http/service@0.3.0");
    assert!(
        world("hello").starts_with("wasi:http/proxy@0.2."),
        "{}",
        world("hello")
    );
    let concurrent = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "concurrent")
        .unwrap();
    assert_eq!(concurrent["instance_concurrency"], 4);
    server.stop().await;
}

#[tokio::test]
async fn instance_concurrency_on_a_p2_component_is_refused_naming_the_route() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    let text = named(
        "/c",
        "p2-concurrent",
        "counter",
        "instance_reuse = 10\ninstance_concurrency = 4\n",
    );
    std::fs::write(&file, &text).unwrap();
    let config = switchyard::Config::load(&file).unwrap();
    let error = match switchyard::load(host(), &config) {
        Ok(_) => panic!("a 0.2 component with instance_concurrency = 4 was loaded"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("route 'p2-concurrent'")
            && error.contains("counter.wasm")
            && error.contains("needs a wasi:http 0.3 component")
            && error.contains("wasi:http/proxy@0.2"),
        "{error}"
    );
}

#[tokio::test]
async fn check_says_which_world_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.wasm");
    let mut bytes = std::fs::read(component("hello-p3")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&broken, bytes).unwrap();
    let (p2, p3) = (component("hello"), component("hello-p3"));
    let output = switchyard(run_cache_home())
        .args(["check"])
        .arg(&p2)
        .arg(&p3)
        .arg(&broken)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a broken file fails the check: {text}"
    );
    let report = |file: &std::path::Path| {
        let start = text
            .find(&format!("{}:", file.display()))
            .unwrap_or_else(|| panic!("no report for {}: {text}", file.display()));
        text[start..].lines().take(2).collect::<Vec<_>>().join("\n")
    };
    let hello = report(&p2);
    assert!(
        hello.contains("can be served") && hello.contains("wasi:http/proxy@0.2."),
        "{hello}"
    );
    let hello_p3 = report(&p3);
    assert!(
        hello_p3.contains("can be served")
            && hello_p3.contains("wasi:http/service@0.3.0")
            && hello_p3.contains("exports wasi:http/handler@0.3.0"),
        "{hello_p3}"
    );
    assert!(report(&broken).contains("cannot be served"), "{text}");
}
