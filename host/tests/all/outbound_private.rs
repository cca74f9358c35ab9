//! Outbound requests to the host's own network by name: an allowed name or
//! wildcard that resolves to loopback, link-local or another non-public
//! address is refused (`HTTP-request-denied`, logged with the address and
//! its class, counted in `/metrics`) and nothing is sent; a pattern naming
//! the address, or `allow_private_networks = true`, still reaches it. The
//! server's own listeners are never reached, and nested calls through a
//! proxy back into the server stop after `MAX_HOPS`.

use crate::common::upstream::Upstream;
use crate::common::*;
use std::net::SocketAddr;

/// The `/fetch` route with `extra` lines (`allowed_outbound_hosts = ...`).
fn fetch_route(path: &str, name: &str, extra: &str) -> String {
    format!("{}name = \"{name}\"\n{extra}\n", route(path, "fetch"))
}

/// `server`'s `path` fetching `target` (brackets escaped for the query).
fn fetch_url(server: &TestServer, path: &str, target: &str) -> String {
    let target = target.replace('[', "%5B").replace(']', "%5D");
    server.url(&format!("{path}?url={target}"))
}

/// The port of an upstream's `http://127.0.0.1:PORT` URL.
fn port(upstream: &Upstream) -> u16 {
    upstream.url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Names and spellings of the upstream's loopback address, and the cloud
/// metadata address, each with the log's class for it.
fn private_targets(port: u16) -> Vec<(String, &'static str)> {
    vec![
        (format!("http://localhost:{port}/"), "loopback"),
        (format!("http://127.0.0.1:{port}/"), "loopback"),
        (format!("http://[::1]:{port}/"), "loopback"),
        (format!("http://[::ffff:127.0.0.1]:{port}/"), "loopback"),
        (format!("http://2130706433:{port}/"), "loopback"),
        (format!("http://0x7f.1:{port}/"), "loopback"),
        (format!("http://0.0.0.0:{port}/"), "this-network"),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "link-local",
        ),
    ]
}

#[tokio::test]
async fn a_wildcard_pattern_cannot_reach_private_addresses_by_any_name() {
    let upstream = Upstream::start().await;
    let config = fetch_route(
        "/fetch",
        "op-wildcard",
        "allowed_outbound_hosts = [\"http://*:*\"]",
    );
    let server = TestServer::start(&config).await;
    let client = http1();
    for (target, class) in private_targets(port(&upstream)) {
        let response = get(&client, fetch_url(&server, "/fetch", &target)).await;
        let id = request_id(&response);
        let body = expect_text(response, 502, &target).await;
        assert_eq!(body, "HTTP-request-denied\n", "{target}");
        let line = wait_for_log(&[&id, "route=op-wildcard", "outbound request refused"]).await;
        assert!(
            line.contains(&format!("a {class} address")),
            "{target}: {line}"
        );
    }
    assert_eq!(upstream.calls(), 0, "nothing reached the upstream");
    server.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn a_pattern_naming_a_host_is_not_a_grant_of_its_private_address() {
    let upstream = Upstream::start().await;
    let config = fetch_route(
        "/fetch",
        "op-named",
        "allowed_outbound_hosts = [\"http://localhost:*\", \"http://*.internal:*\"]",
    );
    let server = TestServer::start(&config).await;
    let target = format!("http://localhost:{}/", port(&upstream));
    let response = get(&http1(), fetch_url(&server, "/fetch", &target)).await;
    let id = request_id(&response);
    assert_eq!(
        expect_text(response, 502, "named").await,
        "HTTP-request-denied\n"
    );
    let line = wait_for_log(&[&id, "outbound request refused", "127.0.0.1"]).await;
    assert!(
        line.contains("localhost resolves to 127.0.0.1, a loopback address"),
        "{line}"
    );
    assert_eq!(upstream.calls(), 0);
    server.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn a_pattern_naming_the_address_still_reaches_it_with_the_guests_host_header() {
    let upstream = Upstream::start().await;
    let port = port(&upstream);
    let pattern = format!("allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]");
    let server = TestServer::start(&fetch_route("/fetch", "op-literal", &pattern)).await;
    for (protocol, client) in clients() {
        let target = format!("http://127.0.0.1:{port}/hello?x=1");
        let response = get(&client, fetch_url(&server, "/fetch", &target)).await;
        expect_text(response, 200, protocol).await;
        let seen = upstream.last();
        assert_eq!(seen.uri, "/hello?x=1", "{protocol}");
        assert_eq!(seen.headers["host"], format!("127.0.0.1:{port}"));
        assert_eq!(
            seen.headers["x-switchyard-hops"], "1",
            "the host counts the hop"
        );
    }
    assert_eq!(upstream.calls(), 2);
    server.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn allow_private_networks_lets_a_name_reach_a_private_address() {
    let upstream = Upstream::start().await;
    let extra = "allowed_outbound_hosts = [\"http://localhost:*\"]\nallow_private_networks = true";
    let server = TestServer::start(&fetch_route("/fetch", "op-private-ok", extra)).await;
    let port = port(&upstream);
    let target = format!("http://localhost:{port}/through-a-name");
    let response = get(&http1(), fetch_url(&server, "/fetch", &target)).await;
    expect_text(response, 200, "allow_private_networks").await;
    let seen = upstream.last();
    assert_eq!(seen.uri, "/through-a-name");
    assert_eq!(
        seen.headers["host"],
        format!("localhost:{port}"),
        "Host unchanged"
    );
    server.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn metrics_count_refusals_by_address_class() {
    let config = fetch_route(
        "/op/fetch",
        "op-metrics",
        "allowed_outbound_hosts = [\"http://*:*\"]",
    );
    let server = TestServer::start_with_admin(&config, None).await;
    let client = http1();
    for target in [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://169.254.169.254/",
    ] {
        let response = get(&client, fetch_url(&server, "/op/fetch", target)).await;
        assert_eq!(
            expect_text(response, 502, target).await,
            "HTTP-request-denied\n"
        );
    }
    let metrics = get_text(&client, server.admin_url("/metrics")).await.1;
    let count = |class: &str| {
        let line = metrics.lines().find(|l| {
            l.starts_with("switchyard_outbound_refused_total{")
                && l.contains("route=\"op-metrics\"")
                && l.contains(&format!("class=\"{class}\""))
        });
        let line = line.unwrap_or_else(|| panic!("no {class} count in:\n{metrics}"));
        line.rsplit(' ').next().unwrap().to_string()
    };
    assert_eq!(count("loopback"), "2");
    assert_eq!(count("link-local"), "1");
    server.stop().await;
}

/// A TCP proxy on 127.0.0.1 to `to`: how a guest could reach its own
/// server through something in between.
async fn forwarder(to: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_calls_back_into_the_server_stop_at_the_hop_limit() {
    let config = fetch_route(
        "/fetch",
        "op-hops",
        "allowed_outbound_hosts = [\"http://127.0.0.1:*\"]",
    ) + &route("/hello", "hello");
    let server = TestServer::start(&config).await;
    let proxy = forwarder(server.addr).await;
    // `/fetch?url=` through the proxy, `depth` times, then `/hello`
    // (the guest reads the whole rest of the query as the URL).
    let nested = |depth: usize| {
        let inner = format!("http://{proxy}/fetch?url=").repeat(depth - 1);
        server.url(&format!("/fetch?url={inner}http://{proxy}/hello"))
    };
    let client = http1();
    // Eight nested outbound requests are allowed ...
    let response = get(&client, nested(8)).await;
    let body = expect_text(response, 200, "8 deep").await;
    assert!(body.starts_with("Hello from Switchyard!"), "{body}");
    // ... a ninth is refused where it would be made, and every level passes
    // the refusal back out.
    let response = get(&client, nested(9)).await;
    assert_eq!(
        expect_text(response, 502, "9 deep").await,
        "loop-detected\n"
    );
    wait_for_log(&["route=op-hops", "outbound request refused", "nested 8 deep"]).await;
    server.stop().await;
}

#[tokio::test]
async fn the_default_configs_fetch_reaches_neither_the_server_nor_its_admin_port() {
    let upstream = Upstream::start().await;
    let process = Process::spawn(
        &repo_root().join("switchyard.toml"),
        &["--no-watch", "--admin-listen", "127.0.0.1:0"],
    );
    let admin = process.admin.expect("an admin listener");
    let (port, admin_port) = (process.addr.port(), admin.port());
    let client = http1();
    for target in [
        format!("http://127.0.0.1:{port}/hello"),
        format!("http://127.0.0.1:{admin_port}/metrics"),
    ] {
        let url = process.url(&format!("/fetch?url={target}"));
        let response = get(&client, url).await;
        assert_eq!(
            expect_text(response, 502, &target).await,
            "HTTP-request-denied\n"
        );
        let address = target
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap();
        stderr_line(
            &process,
            &["outbound request refused", address, "own listener"],
        );
    }
    // What the route is for still works: a server of the user's on 127.0.0.1.
    let target = format!("{}/mine", upstream.url);
    let response = get(&client, process.url(&format!("/fetch?url={target}"))).await;
    expect_text(response, 200, "a user's server on 127.0.0.1").await;
    assert_eq!(upstream.last().uri, "/mine");
    upstream.stop().await;
}
