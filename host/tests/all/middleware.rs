//! Middleware chains: components in front of a handler or a real upstream
//! server, passing the request on through the reserved `next` authority,
//! in-process.

use crate::common::upstream::Upstream;
use crate::common::*;
use futures::StreamExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `[[middleware]]` tables for the add-header and auth handlers, plus two
/// add-header copies that tag the request with `a` and `b`, and a trap.
fn middleware() -> String {
    let declare = |name: &str, handler: &str, env: &str| {
        format!(
            "[[middleware]]\nname = \"{name}\"\ncomponent = \"{}\"\n{env}\n",
            component(handler).display()
        )
    };
    [
        declare("add-header", "add-header", ""),
        declare("auth", "auth", ""),
        declare("tag-a", "add-header", "env = { ADD_HEADER_VALUE = \"a\" }"),
        declare("tag-b", "add-header", "env = { ADD_HEADER_VALUE = \"b\" }"),
        declare("trap", "misbehave", ""),
        declare("fetch", "fetch", ""),
    ]
    .concat()
}

/// A route with a chain in front of a handler.
fn chained(path: &str, name: &str, chain: &[&str], handler: &str, extra: &str) -> String {
    format!(
        "[[route]]\npath = \"{path}\"\nname = \"{name}\"\nmiddleware = {chain:?}\ncomponent = \"{}\"\n{extra}\n",
        component(handler).display()
    )
}

/// A route with a chain in front of an upstream server.
fn proxied(path: &str, name: &str, chain: &[&str], upstream: &str, extra: &str) -> String {
    format!(
        "[[route]]\npath = \"{path}\"\nname = \"{name}\"\nmiddleware = {chain:?}\nupstream = \"{upstream}\"\n{extra}\n"
    )
}

/// Every value of header `name`, in order.
fn all(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_chain_runs_in_front_of_a_rust_handler() {
    let config = middleware()
        + &chained("/mw/echo/...", "mw-echo", &["add-header"], "echo", "")
        + &chained(
            "/private/...",
            "private",
            &["auth"],
            "hello",
            "env = { AUTH_TOKEN = \"demo-token\" }",
        );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let response = post(
            &client,
            server.url("/mw/echo/deep?x=1"),
            "through the chain",
        )
        .await;
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(
            all(&response, "x-echo-x-custom-header"),
            ["FooBar"],
            "{protocol}"
        );
        assert_eq!(
            all(&response, "x-middleware"),
            ["add-header(FooBar)"],
            "{protocol}"
        );
        assert_eq!(
            all(&response, "x-switchyard-generation"),
            ["1"],
            "{protocol}"
        );
        // The handler behind the middleware sees the client's scheme,
        // authority, path and query.
        assert_eq!(
            all(&response, "x-echo-url"),
            [format!("http://{}/mw/echo/deep?x=1", server.addr)],
            "{protocol}"
        );
        assert_eq!(
            response.text().await.unwrap(),
            "through the chain",
            "{protocol}"
        );

        // The handler sees the client's path and query.
        let response = client
            .get(server.url("/private/area?q=1"))
            .bearer_auth("demo-token")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{protocol}");
        let body = response.text().await.unwrap();
        assert!(body.contains("GET /private/area?q=1"), "{protocol}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn auth_short_circuits_with_401_and_the_upstream_is_never_called() {
    let upstream = Upstream::start().await;
    let config = middleware()
        + &proxied(
            "/private/...",
            "private",
            &["auth"],
            &upstream.url,
            "env = { AUTH_TOKEN = \"demo-token\" }",
        );
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        for token in [None, Some("wrong"), Some("demo-token-but-longer")] {
            let mut request = client.get(server.url("/private/x"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{protocol} {token:?}");
            assert_eq!(all(&response, "www-authenticate"), ["Bearer"], "{protocol}");
        }
    }
    assert_eq!(upstream.calls(), 0);
    let response = http1()
        .get(server.url("/private/x"))
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.calls(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_chain_runs_in_front_of_a_real_upstream() {
    let upstream = Upstream::start().await;
    let config = middleware()
        + &proxied("/up/...", "up", &["add-header"], &upstream.url, "")
        + &format!(
            "[[route]]\npath = \"/bare/...\"\nname = \"bare\"\nupstream = \"{}\"\n",
            upstream.url
        );
    let server = TestServer::start(&config).await;
    let upstream_authority = upstream.url.trim_start_matches("http://");
    for (protocol, client) in clients() {
        for path in ["/up/items?id=7", "/bare/items?id=7"] {
            let response = client
                .post(server.url(path))
                .header("connection", "x-client-hop")
                .header("x-client-hop", "1")
                .header("x-forwarded-for", "10.9.8.7")
                .body("payload")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{protocol} {path}");
            assert_eq!(all(&response, "x-upstream"), ["yes"], "{protocol} {path}");
            assert!(
                all(&response, "x-upstream-hop").is_empty(),
                "{protocol} {path}: hop-by-hop header passed"
            );
            assert!(all(&response, "x-request-id").len() == 1);
            let through_middleware = path.starts_with("/up");
            let want: &[&str] = if through_middleware {
                &["add-header(FooBar)"]
            } else {
                &[]
            };
            assert_eq!(all(&response, "x-middleware"), want, "{protocol} {path}");
            assert_eq!(
                response.text().await.unwrap(),
                "payload",
                "{protocol} {path}"
            );

            let seen = upstream.last();
            assert_eq!(seen.uri.to_string(), path, "{protocol}");
            assert_eq!(seen.method, "POST");
            let header = |name: &str| -> Vec<&str> {
                seen.headers
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap())
                    .collect()
            };
            let custom: &[&str] = if through_middleware { &["FooBar"] } else { &[] };
            assert_eq!(header("x-custom-header"), custom, "{protocol} {path}");
            assert_eq!(header("host"), [upstream_authority], "{protocol} {path}");
            // The client's own X-Forwarded-For is not believed (no
            // trusted_proxies): the upstream learns the real peer only.
            assert_eq!(
                header("x-forwarded-for"),
                ["127.0.0.1"],
                "{protocol} {path}"
            );
            assert_eq!(header("x-forwarded-proto"), ["http"], "{protocol} {path}");
            assert_eq!(
                header("x-forwarded-host"),
                [server.addr.to_string().as_str()],
                "{protocol} {path}"
            );
            assert!(
                header("x-client-hop").is_empty(),
                "{protocol} {path}: hop-by-hop header passed"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_order_of_the_chain_is_the_order_requests_pass_it() {
    let config = middleware()
        + &chained("/ab/...", "ab", &["tag-a", "tag-b"], "echo", "")
        + &chained("/ba/...", "ba", &["tag-b", "tag-a"], "echo", "")
        + &chained("/auth-first/...", "auth-first", &["auth", "tag-a"], "echo", "env = { AUTH_TOKEN = \"t\" }")
        + &chained("/auth-last/...", "auth-last", &["tag-a", "auth"], "echo", "env = { AUTH_TOKEN = \"t\" }")
        // A middleware without its own value sees the route's.
        + &chained("/route-env/...", "route-env", &["add-header"], "echo", "env = { ADD_HEADER_VALUE = \"from-route\" }");
    let server = TestServer::start(&config).await;
    let client = http2();
    let get = |path: &str| client.get(server.url(path)).send();

    let ab = get("/ab/").await.unwrap();
    assert_eq!(all(&ab, "x-echo-x-custom-header"), ["a", "b"]);
    assert_eq!(all(&ab, "x-middleware"), ["add-header(b)", "add-header(a)"]);
    let ba = get("/ba/").await.unwrap();
    assert_eq!(all(&ba, "x-echo-x-custom-header"), ["b", "a"]);
    assert_eq!(all(&ba, "x-middleware"), ["add-header(a)", "add-header(b)"]);

    // auth first: tag-a never runs. auth last: tag-a runs and marks the 401.
    let first = get("/auth-first/").await.unwrap();
    assert_eq!(first.status(), 401);
    assert!(all(&first, "x-middleware").is_empty());
    let last = get("/auth-last/").await.unwrap();
    assert_eq!(last.status(), 401);
    assert_eq!(all(&last, "x-middleware"), ["add-header(a)"]);

    let env = get("/route-env/").await.unwrap();
    assert_eq!(all(&env, "x-echo-x-custom-header"), ["from-route"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_32_mib_body_streams_through_two_middleware_to_the_upstream_and_back() {
    const TOTAL: usize = 32 * 1024 * 1024;
    let upstream = Upstream::start().await;
    let config = middleware() + &proxied("/big/...", "big", &["tag-a", "tag-b"], &upstream.url, "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let response = post(&client, server.url("/big/upload"), patterned_body(TOTAL)).await;
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(
            all(&response, "x-middleware"),
            ["add-header(b)", "add-header(a)"]
        );
        assert_patterned(response, TOTAL, protocol).await;
        let seen = upstream.last();
        let custom: Vec<_> = seen.headers.get_all("x-custom-header").iter().collect();
        assert_eq!(custom, ["a", "b"]);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_middleware_that_traps_gives_500_and_the_upstream_is_not_called() {
    let upstream = Upstream::start().await;
    let config = middleware() + &proxied("/trap/...", "trapping", &["trap"], &upstream.url, "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        let response = get(&client, server.url("/trap/?mode=trap")).await;
        assert_eq!(response.status(), 500, "{protocol}");
        let id = request_id(&response);
        wait_for_log(&[&id, "route=trapping", "guest trapped"]).await;
    }
    assert_eq!(upstream.calls(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_handler_that_fails_behind_a_middleware_hands_it_a_500() {
    let config = middleware() + &chained("/behind/...", "behind", &["add-header"], "misbehave", "");
    let server = TestServer::start(&config).await;
    let response = get(&http1(), server.url("/behind/?mode=trap")).await;
    // The middleware got the 500 as a response and passed it on, marked.
    assert_eq!(response.status(), 500);
    assert_eq!(all(&response, "x-middleware"), ["add-header(FooBar)"]);
    let id = request_id(&response);
    wait_for_log(&[&id, "route=behind", "guest trapped"]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_element_behind_a_middleware_keeps_the_deadline_and_the_request_id() {
    let config = middleware()
        + &chained(
            "/slow/...",
            "slow-behind",
            &["add-header"],
            "misbehave",
            "timeout_ms = 500",
        )
        + &chained("/count/...", "count-behind", &["add-header"], "counter", "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        // The route's deadline bounds the whole chain: the handler behind
        // the middleware is stopped at it, and the client gets 504 then.
        let started = Instant::now();
        let response = get(&client, server.url("/slow/?mode=loop")).await;
        assert_eq!(response.status(), 504, "{protocol}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{protocol}: 504 after {took:?}, expected the 500 ms deadline"
        );
        let id = request_id(&response);
        wait_for_log(&[&id, "route=slow-behind", "deadline"]).await;

        // The handler's own output carries the client's request id.
        let response = get(&client, server.url("/count/")).await;
        assert_eq!(response.status(), 200, "{protocol}");
        let id = request_id(&response);
        wait_for_log(&[&id, "route=count-behind", "stdout: counter: count=1"]).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_holds_one_route_slot_for_the_whole_chain() {
    let config = format!(
        "[server]\nqueue_timeout_ms = 200\n{}",
        middleware()
            + &chained(
                "/slot/...",
                "slot",
                &["tag-a", "tag-b"],
                "stream",
                "max_concurrency = 1"
            )
    );
    let server = TestServer::start(&config).await;
    let client = http1();
    // Streaming through both middleware: the one slot is held until the
    // stream ends, not only while the first element answers.
    let busy = get(
        &client,
        server.url("/slot/?bytes=2000&chunk=1000&delay_ms=600"),
    )
    .await;
    assert_eq!(busy.status(), 200);
    let refused = get(&client, server.url("/slot/?bytes=10")).await;
    assert_eq!(refused.status(), 503, "a second request got the slot");
    assert_eq!(busy.bytes().await.unwrap().len(), 2000);
    let again = get(&client, server.url("/slot/?bytes=10")).await;
    assert_eq!(again.status(), 200, "the slot was not given back");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways_through_a_chain() {
    use futures::SinkExt;
    let config = middleware() + &chained("/duplex/...", "duplex", &["tag-a", "tag-b"], "echo", "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        // The request body stays open until the client has read the echo of
        // its first part: a chain that buffered either body would never
        // answer, and the timeouts below would fail the test.
        let (mut sender, chunks) =
            futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        sender.send(Ok(b"first part;".to_vec())).await.unwrap();
        let request = client
            .post(server.url("/duplex/"))
            .body(reqwest::Body::wrap_stream(chunks))
            .send();
        let response = tokio::time::timeout(Duration::from_secs(10), request)
            .await
            .unwrap_or_else(|_| panic!("{protocol}: no response head while the body is open"))
            .unwrap();
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(
            all(&response, "x-middleware"),
            ["add-header(b)", "add-header(a)"]
        );
        let mut body = response.bytes_stream();
        let mut echoed = Vec::new();
        while echoed.len() < b"first part;".len() {
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("{protocol}: the first part was not echoed while the body is open")
                })
                .expect("the body ended early")
                .unwrap();
            echoed.extend_from_slice(&chunk);
        }
        assert_eq!(echoed, b"first part;", "{protocol}");
        sender.send(Ok(b"second part".to_vec())).await.unwrap();
        drop(sender);
        while let Some(chunk) = body.next().await {
            echoed.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(echoed, b"first part;second part", "{protocol}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_that_is_down_gives_502_and_one_that_stalls_gives_504() {
    // A port nobody listens on: bind, note the port, close.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    // A server that accepts and never answers.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_url = format!("http://{}", stalled.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = stalled.accept().await.unwrap();
            keep.lock().unwrap().push(stream);
        }
    });
    let config = middleware()
        + &proxied("/down/...", "down", &["add-header"], &down, "")
        + &proxied(
            "/stalled/...",
            "stalled",
            &[],
            &stalled_url,
            "outbound_first_byte_timeout_ms = 300",
        );
    let server = TestServer::start(&config).await;

    let response = get(&http1(), server.url("/down/")).await;
    assert_eq!(response.status(), 502);
    let id = request_id(&response);
    let line = wait_for_log(&[&id, "route=down", "upstream request failed"]).await;
    assert!(line.contains(&down), "{line}");

    // outbound_first_byte_timeout_ms (300 ms), well before the route's
    // 30 s deadline.
    let started = Instant::now();
    let response = get(&http1(), server.url("/stalled/")).await;
    assert_eq!(response.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the 504 took {:?}: outbound_first_byte_timeout_ms was not applied",
        started.elapsed()
    );
    let id = request_id(&response);
    let line = wait_for_log(&[&id, "route=stalled", "upstream request failed"]).await;
    assert!(line.contains(&stalled_url), "{line}");
    assert!(
        line.contains("within outbound_first_byte_timeout of 300ms"),
        "{line}"
    );
    server.stop().await;
}

#[tokio::test]
async fn only_next_bypasses_the_outbound_allow_list() {
    let elsewhere = TestServer::start(&route("/hello", "hello")).await;
    // `fetch` as a middleware: it fetches whatever ?url= says.
    let config = middleware()
        + &chained("/mw-fetch/...", "mw-fetch", &["fetch"], "hello", "")
        + &route("/fetch", "fetch");
    let server = TestServer::start(&config).await;
    let client = http1();

    let through = get(
        &client,
        server.url("/mw-fetch/?url=http://next/mw-fetch/inner"),
    )
    .await;
    assert_eq!(through.status(), 200);
    assert!(through
        .text()
        .await
        .unwrap()
        .contains("GET /mw-fetch/inner"));

    let target = elsewhere.url("/hello");
    let denied = get(&client, server.url(&format!("/mw-fetch/?url={target}"))).await;
    assert_eq!(denied.status(), 502);
    let id = request_id(&denied);
    assert!(denied
        .text()
        .await
        .unwrap()
        .starts_with("HTTP-request-denied"));
    wait_for_log(&[&id, "route=mw-fetch", "outbound request denied"]).await;

    // A handler that is not a middleware has no `next`.
    let alone = get(&client, server.url("/fetch?url=http://next/hello")).await;
    assert!(alone
        .text()
        .await
        .unwrap()
        .starts_with("HTTP-request-denied"));
    server.stop().await;
    elsewhere.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_middleware_is_swapped_in_like_a_handler() {
    let files = tempfile::tempdir().unwrap();
    let wasm = files.path().join("guard.wasm");
    std::fs::copy(component("add-header"), &wasm).unwrap();
    let config = format!(
        "[[middleware]]\nname = \"guard\"\ncomponent = \"{}\"\n",
        wasm.display()
    ) + &chained(
        "/guarded/...",
        "guarded",
        &["guard"],
        "hello",
        "env = { AUTH_TOKEN = \"t\" }",
    );
    let server = TestServer::start_watching(&config).await;
    let client = http1();
    let response = get(&client, server.url("/guarded/")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(all(&response, "x-middleware"), ["add-header(FooBar)"]);
    assert_eq!(all(&response, "x-switchyard-generation"), ["1"]);

    // "Rebuild" the middleware: the guard becomes auth.
    write_over(&wasm, &component("auth"));
    let started = Instant::now();
    loop {
        let response = get(&client, server.url("/guarded/")).await;
        if response.status() == 401 {
            assert_eq!(all(&response, "x-switchyard-generation"), ["2"]);
            break;
        }
        assert_eq!(
            response.status(),
            200,
            "only the old or the new version answers"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the new middleware was never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for_log(&["route 'guarded' reloaded", "generation 1 → 2"]).await;

    // A broken rebuild keeps the last good middleware: auth still guards
    // the route (no token: 401), and lets the token through.
    std::fs::write(&wasm, b"not a component").unwrap();
    wait_for_log(&["route=guarded", "guard.wasm", "still serving generation 2"]).await;
    let refused = get(&client, server.url("/guarded/")).await;
    assert_eq!(refused.status(), 401, "the broken write dropped auth");
    assert_eq!(all(&refused, "x-switchyard-generation"), ["2"]);
    let response = client
        .get(server.url("/guarded/"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

fn write_over(path: &Path, from: &Path) {
    let tmp = path.with_extension("wasm.tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn the_default_config_shows_both_demo_chains() {
    let server = Process::spawn(&repo_root().join("switchyard.toml"), &["--no-watch"]);
    let client = http1();
    let response = get(&client, server.url("/mw/echo/anything")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(all(&response, "x-echo-x-custom-header"), ["FooBar"]);

    let refused = get(&client, server.url("/private/")).await;
    assert_eq!(refused.status(), 401);
    let allowed = client
        .get(server.url("/private/"))
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.text().await.unwrap().contains("GET /private/"));
}

#[tokio::test]
async fn a_javascript_middleware_answers_preflights_and_passes_the_rest_on() {
    let config = format!(
        "[[middleware]]\nname = \"cors\"\ncomponent = \"{}\"\n",
        component("cors").display()
    ) + &chained("/cors/...", "cors-echo", &["cors"], "echo", "");
    let server = TestServer::start(&config).await;
    for (protocol, client) in clients() {
        // A preflight is answered by the middleware itself: echo never runs.
        let preflight = client
            .request(reqwest::Method::OPTIONS, server.url("/cors/items"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "x-token")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{protocol}");
        assert_eq!(
            all(&preflight, "access-control-allow-origin"),
            ["*"],
            "{protocol}"
        );
        assert_eq!(
            all(&preflight, "access-control-allow-headers"),
            ["x-token"],
            "{protocol}"
        );
        assert!(
            all(&preflight, "x-echo-origin").is_empty(),
            "{protocol}: echo ran"
        );

        let response = client
            .post(server.url("/cors/items?page=2"))
            .header("origin", "https://app.example")
            .body("posted through JavaScript")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{protocol}");
        assert_eq!(
            all(&response, "access-control-allow-origin"),
            ["*"],
            "{protocol}"
        );
        assert_eq!(all(&response, "x-middleware"), ["cors"], "{protocol}");
        assert_eq!(
            all(&response, "x-echo-origin"),
            ["https://app.example"],
            "{protocol}"
        );
        assert_eq!(
            response.text().await.unwrap(),
            "posted through JavaScript",
            "{protocol}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_edits_add_and_remove_middleware_and_a_bad_chain_changes_nothing() {
    let plain = route("/edited/...", "hello");
    let server = TestServer::start_watching(&plain).await;
    let client = http1();
    let marked = |response: &reqwest::Response| !all(response, "x-middleware").is_empty();
    let wait_until = |want: bool| {
        let (client, url) = (client.clone(), server.url("/edited/"));
        async move {
            let started = Instant::now();
            loop {
                let response = get(&client, &url).await;
                assert_eq!(response.status(), 200);
                if marked(&response) == want {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the edit was never served"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_until(false).await;

    let with_chain = middleware() + &chained("/edited/...", "hello", &["add-header"], "hello", "");
    std::fs::write(&server.config_file, &with_chain).unwrap();
    wait_until(true).await;

    // An undeclared middleware: the whole edit is refused, the chain stays.
    let broken = chained("/edited/...", "hello", &["nope"], "hello", "");
    std::fs::write(&server.config_file, &broken).unwrap();
    wait_for_log(&["reload failed", "'nope' is not declared"]).await;
    wait_until(true).await;

    std::fs::write(&server.config_file, &plain).unwrap();
    wait_until(false).await;
    server.stop().await;
}
