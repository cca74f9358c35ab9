//! Unit tests of the outbound gate: pattern parsing, matching, limits, and
//! which resolved addresses a request may connect to.
use super::*;
use http_body_util::Empty;
use std::pin::Pin;

impl Default for OutboundLimits {
    /// The config's defaults: 16 at once, 5 s to connect, 30 s otherwise.
    fn default() -> OutboundLimits {
        OutboundLimits::from(&Limits::default())
    }
}

impl OutboundGate {
    /// A gate allowing nothing: what a route gets when it lists no hosts.
    fn deny_all() -> OutboundGate {
        OutboundGate::new(&[], OutboundLimits::default(), OwnAddresses::default())
            .expect("no patterns, nonzero concurrency")
    }

    /// How many requests this gate has denied since it was made.
    fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }
}

fn gate(patterns: &[&str], limits: OutboundLimits) -> Arc<OutboundGate> {
    let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    Arc::new(OutboundGate::new(&patterns, limits, OwnAddresses::default()).unwrap())
}

/// Asserts that `patterns` allow every URL in `allowed` and none in `denied`.
fn check(patterns: &[&str], allowed: &[&str], denied: &[&str]) {
    let gate = gate(patterns, OutboundLimits::default());
    for url in allowed {
        assert!(
            gate.allowed.grant(&url.parse().unwrap()).is_some(),
            "{patterns:?} denied {url}"
        );
    }
    for url in denied {
        assert!(
            gate.allowed.grant(&url.parse().unwrap()).is_none(),
            "{patterns:?} allowed {url}"
        );
    }
}

#[test]
fn wildcard_port_matches_any_port_but_only_that_host() {
    let denied = [
        "http://127.0.0.2:8081/",
        "http://localhost:8081/",
        "https://127.0.0.1/",
    ];
    check(
        &["http://127.0.0.1:*"],
        &["http://127.0.0.1:8081/x", "http://127.0.0.1/"],
        &denied,
    );
}

#[test]
fn star_dot_suffix_does_not_match_the_suffix_itself() {
    let allowed = ["http://db.internal:5984/", "http://a.b.internal/"];
    let denied = [
        "http://internal/",
        "http://evilinternal/",
        "http://db.internal.evil.com/",
    ];
    check(&["http://*.internal:*"], &allowed, &denied);
}

#[test]
fn omitted_port_means_the_scheme_default() {
    let patterns = ["https://api.example.com", "http://plain.example.com"];
    let allowed = [
        "https://api.example.com/v1",
        "https://api.example.com:443/",
        "http://plain.example.com:80/",
    ];
    check(
        &patterns,
        &allowed,
        &[
            "https://api.example.com:8443/",
            "http://plain.example.com:8080/",
        ],
    );
}

#[test]
fn https_pattern_does_not_allow_http() {
    check(
        &["https://api.example.com:*"],
        &[],
        &["http://api.example.com/"],
    );
    check(&["http://*:*"], &[], &["https://api.example.com/"]);
}

#[test]
fn star_host_matches_any_host_on_its_scheme_and_port() {
    check(
        &["https://*"],
        &["https://any.example/", "https://[::1]/"],
        &["https://any.example:444/"],
    );
}

#[test]
fn hosts_compare_without_case_and_ipv6_as_addresses() {
    check(
        &["HTTPS://API.Example.COM"],
        &["https://api.EXAMPLE.com/"],
        &[],
    );
    check(
        &["http://[::1]:8080"],
        &["http://[0:0::1]:8080/"],
        &["http://[::2]:8080/"],
    );
}

#[test]
fn a_request_with_userinfo_is_denied() {
    check(
        &["http://*:*"],
        &[],
        &["http://api.example.com@evil.example/"],
    );
}

#[test]
fn bad_patterns_are_rejected_with_a_reason() {
    for (pattern, why) in [
        ("api.example.com", "scheme://host[:port]"),
        ("ftp://api.example.com", "http or https"),
        ("https://api.example.com/v1", "no path"),
        ("https://user@api.example.com", "no path, query or user"),
        ("https://api.example.com:0", "1 to 65535"),
        ("https://api.example.com:http", "1 to 65535"),
        ("https://api.*.com", "leading '*.'"),
        ("https://*api.com", "leading '*.'"),
        ("https://:443", "host is empty"),
        ("http://::1", "in brackets"),
        ("http://[::1", "closing ']'"),
        ("http://[nope]", "not an IPv6 address"),
        ("http://a b", "not a valid name"),
    ] {
        let own = OwnAddresses::default();
        let err = OutboundGate::new(&[pattern.to_string()], OutboundLimits::default(), own).err();
        let err = err.unwrap_or_else(|| panic!("{pattern} was accepted"));
        assert!(
            err.contains(pattern) && err.contains(why),
            "{pattern}: {err}"
        );
    }
}

#[test]
fn route_limits_cap_the_guests_timeouts() {
    let limits = OutboundLimits::default();
    let asked = RequestOptions {
        connect_timeout: Some(Duration::from_secs(1)),
        first_byte_timeout: Some(Duration::from_secs(999)),
        between_bytes_timeout: None,
    };
    let got = gate(&[], limits).options(Some(asked));
    assert_eq!(got.connect_timeout, Some(Duration::from_secs(1)));
    assert_eq!(got.first_byte_timeout, Some(limits.first_byte_timeout));
    assert_eq!(
        got.between_bytes_timeout,
        Some(limits.between_bytes_timeout)
    );
}

async fn send(
    gate: &Arc<OutboundGate>,
    url: &str,
) -> wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)> {
    send_nested(gate, url, 0).await
}

/// [`send`] from a request that is nested `hops` deep.
async fn send_nested(
    gate: &Arc<OutboundGate>,
    url: &str,
    hops: u32,
) -> wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)> {
    let tag = RequestTag {
        route: "test".into(),
        request_id: "r1".into(),
        hops,
        metrics: crate::telemetry::RouteMetrics::new("test"),
        generation: 1,
        trace: None,
    };
    let request = http::Request::get(url).body(Empty::new().map_err(|e| match e {}).boxed_unsync());
    let mut outbound = Outbound::new(tag, gate.clone());
    Pin::from(outbound.send_request(request.unwrap(), None, Box::new(async { Ok(()) }))).await
}

/// An upstream on localhost that reads one request and answers `reply`.
async fn upstream(reply: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let _ = socket.read(&mut [0; 1024]).await.unwrap();
        socket.write_all(reply).await.unwrap();
        std::future::pending::<()>().await; // keep the connection open
    });
    url
}

#[tokio::test]
async fn denied_requests_fail_as_http_request_denied_and_are_counted() {
    let gate = Arc::new(OutboundGate::deny_all());
    assert!(matches!(
        send(&gate, "http://127.0.0.1:1/").await,
        Err(Error::HttpRequestDenied)
    ));
    assert_eq!(gate.denied(), 1);
}

#[tokio::test]
async fn a_full_route_fails_as_connection_limit_reached() {
    let limits = OutboundLimits {
        max_concurrency: 1,
        connect_timeout: Duration::from_millis(20),
        ..Default::default()
    };
    let gate = gate(&["http://127.0.0.1:*"], limits);
    let _held = gate.permits.clone().try_acquire_owned().unwrap();
    assert!(matches!(
        send(&gate, "http://127.0.0.1:1/").await,
        Err(Error::ConnectionLimitReached)
    ));
}

#[tokio::test]
async fn a_silent_upstream_fails_after_the_routes_first_byte_timeout() {
    let limits = OutboundLimits {
        first_byte_timeout: Duration::from_millis(50),
        ..Default::default()
    };
    let gate = gate(&["http://127.0.0.1:*"], limits);
    let url = upstream(b"").await;
    assert!(matches!(
        send(&gate, &url).await,
        Err(Error::ConnectionReadTimeout)
    ));
    assert_eq!(gate.permits.available_permits(), limits.max_concurrency);
}

#[tokio::test]
async fn a_response_holds_its_permit_until_its_body_ends() {
    let limits = OutboundLimits::default();
    let gate = gate(&["http://127.0.0.1:*"], limits);
    let url = upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await;
    let (response, io) = send(&gate, &url).await.unwrap();
    tokio::spawn(Pin::from(io));
    assert_eq!(gate.permits.available_permits(), limits.max_concurrency - 1);
    let mut body = response.into_body();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "hello"
    );
    assert!(body.frame().await.is_none());
    assert_eq!(gate.permits.available_permits(), limits.max_concurrency);
    drop(body);
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn a_name_grant_refuses_private_addresses_and_keeps_public_ones() {
    let gate = gate(&["http://*:*"], OutboundLimits::default());
    let loopback = addrs(&["127.0.0.1:80"]);
    assert_eq!(
        gate.check(Grant::Name, &loopback),
        Err(Refusal::Class(loopback[0], address::Class::Loopback))
    );
    // A rebinding answer with one public and one private address: only the public one.
    let mixed = addrs(&["10.0.0.5:80", "93.184.215.14:80", "[fe80::1]:80"]);
    assert_eq!(gate.check(Grant::Name, &mixed), Ok(vec![mixed[1]]));
}

#[test]
fn an_address_grant_or_allow_private_networks_accepts_private_addresses() {
    let private = addrs(&["127.0.0.1:80", "[::1]:80", "169.254.169.254:80"]);
    let gate_named = gate(&["http://*:*"], OutboundLimits::default());
    assert_eq!(
        gate_named.check(Grant::Address, &private),
        Ok(private.clone())
    );
    let open = OutboundLimits {
        allow_private_networks: true,
        ..Default::default()
    };
    assert_eq!(
        gate(&["http://*:*"], open).check(Grant::Name, &private),
        Ok(private)
    );
}

#[test]
fn own_listeners_are_refused_whatever_is_allowed() {
    let own = OwnAddresses::default();
    let limits = OutboundLimits {
        allow_private_networks: true,
        ..Default::default()
    };
    let gate = OutboundGate::new(&["http://127.0.0.1:*".into()], limits, own.clone()).unwrap();
    let ours = addrs(&["127.0.0.1:9091"]);
    let _admin = own.hold(ours[0]);
    assert_eq!(
        gate.check(Grant::Address, &ours),
        Err(Refusal::Own(ours[0]))
    );
}

#[tokio::test]
async fn a_wildcard_request_to_localhost_is_denied_before_connecting() {
    let gate = gate(&["http://*:*"], OutboundLimits::default());
    let url = upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
    let by_name = url.replace("127.0.0.1", "localhost");
    assert!(matches!(
        send(&gate, &by_name).await,
        Err(Error::HttpRequestDenied)
    ));
    assert!(matches!(
        send(&gate, "http://2130706433:9/").await,
        Err(Error::HttpRequestDenied)
    ));
    assert_eq!(
        gate.permits.available_permits(),
        OutboundLimits::default().max_concurrency
    );
}

#[tokio::test]
async fn a_request_nested_max_hops_deep_is_a_loop() {
    let gate = gate(&["http://127.0.0.1:*"], OutboundLimits::default());
    assert!(matches!(
        send_nested(&gate, "http://127.0.0.1:9/", MAX_HOPS).await,
        Err(Error::LoopDetected)
    ));
}
