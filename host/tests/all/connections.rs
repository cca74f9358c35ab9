//! Connections that never become requests: raw sockets that stay silent,
//! send part of the HTTP/2 preface or part of a head, over cleartext and
//! TLS, are closed after `header_read_timeout_ms` while `/hello` answers; an
//! HTTP/2 connection with no request in flight is closed after
//! `idle_timeout_ms`; connections past `max_connections` are closed at once
//! and counted in `/metrics` while the admin listener (its own budget)
//! answers; at a low open-file limit the default cap keeps `/healthz`
//! answering; and the soft open-file limit is raised to the hard one.

use crate::common::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The full HTTP/2 connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: the client's half of the HTTP/2 handshake.
const EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// What the clients that never finish a request send before going quiet.
fn stalled_openings() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("nothing at all", Vec::new()),
        ("one byte of the HTTP/2 preface", b"P".to_vec()),
        ("the preface's first line", b"PRI * HTTP/2.0\r\n".to_vec()),
        (
            "the whole preface and SETTINGS, no request",
            [PREFACE, EMPTY_SETTINGS].concat(),
        ),
        (
            "half an HTTP/1.1 head",
            b"GET /hello HTTP/1.1\r\nHost: x\r\n".to_vec(),
        ),
    ]
}

/// Whether the server closes `stream` (end of stream or an error) within
/// `limit`, reading past whatever it sends first.
async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(limit, async {
        while let Ok(n) = stream.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

/// Every stalled opening on its own stream from `connect`, then: each is
/// closed no sooner than ~`timeout` after it connected and within 5 s,
/// while `/hello` answers.
async fn assert_openings_closed<S, F>(
    connect: impl Fn() -> F,
    timeout: Duration,
    hello: impl std::future::Future<Output = u16>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = S>,
{
    let mut streams = Vec::new();
    for (what, bytes) in stalled_openings() {
        let connected = Instant::now();
        let mut stream = connect().await;
        stream.write_all(&bytes).await.unwrap();
        stream.flush().await.unwrap();
        streams.push((what, stream, connected));
    }
    assert_eq!(hello.await, 200, "/hello while the stalled clients wait");
    let waits = streams
        .iter_mut()
        .map(|(what, stream, connected)| async move {
            let closed = closed_within(stream, Duration::from_secs(5)).await;
            (*what, closed, connected.elapsed())
        });
    for (what, closed, took) in futures::future::join_all(waits).await {
        assert!(closed, "{what}: still open 5 s later");
        assert!(
            took >= timeout.mul_f32(0.9),
            "{what}: closed after {took:?}, before the {timeout:?} timeout"
        );
    }
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_after_the_header_read_timeout() {
    let config = format!(
        "[server]\nheader_read_timeout_ms = 300\n{}",
        route("/hello", "hello")
    );
    let server = TestServer::start(&config).await;
    let addr = server.addr;
    let hello = async { get_text(&http1(), server.url("/hello")).await.0 };
    assert_openings_closed(
        || async move { TcpStream::connect(addr).await.unwrap() },
        Duration::from_millis(300),
        hello,
    )
    .await;
    // And the next client is served.
    assert_eq!(get_text(&http2(), server.url("/hello")).await.0, 200);
    server.stop().await;
}

/// A client trusting only `trusted`, offering `alpn`.
fn connector(trusted: &CertificateDer<'static>, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn handshake(addr: SocketAddr, connector: &tokio_rustls::TlsConnector) -> Tls {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn tls_clients_that_handshake_and_send_no_request_are_closed_after_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let config = dir.path().join("switchyard.toml");
    let text = format!(
        "[server]\nheader_read_timeout_ms = 500\n{}",
        route("/hello", "hello")
    );
    std::fs::write(&config, text).unwrap();
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Process::spawn(
        &config,
        &["--tls-cert", cert_arg, "--tls-key", key_arg, "--no-watch"],
    );
    let addr = server.addr;
    let trusted = generated.cert.der().clone();
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let tls = connector(&trusted, alpn);
        let hello = async {
            // A GET over a fresh TLS connection: the stalled ones do not
            // hold anyone up.
            let stream = handshake(addr, &connector(&trusted, b"http/1.1")).await;
            let (mut send, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = http::Request::get("/hello")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .unwrap();
            send.send_request(request).await.unwrap().status().as_u16()
        };
        assert_openings_closed(|| handshake(addr, &tls), Duration::from_millis(500), hello).await;
    }
}

#[tokio::test]
async fn an_http2_connection_with_no_request_in_flight_is_closed_after_the_idle_timeout() {
    // The header read timeout is long, so only the idle timer can close it;
    // the client answers the server's keep-alive pings, as h2 clients do.
    let config = format!(
        "[server]\nheader_read_timeout_ms = 20000\nidle_timeout_ms = 400\n{}",
        route("/hello", "hello")
    );
    let server = TestServer::start(&config).await;
    let (mut send, connection) = h2_connection(server.addr).await;
    let request = http::Request::get(server.url("/hello"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    let idle = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), connection).await;
    let took = idle.elapsed();
    assert!(
        ended.is_ok(),
        "the idle HTTP/2 connection is still open 5 s later"
    );
    assert!(
        took >= Duration::from_millis(300),
        "closed after {took:?}, before the 400 ms idle timeout"
    );
    server.stop().await;
}

/// The value of the `/metrics` line for `series` (name and labels), 0 if absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

const REFUSED_MAIN: &str = r#"switchyard_connections_refused_total{listener="main"}"#;
const REFUSED_ADMIN: &str = r#"switchyard_connections_refused_total{listener="admin"}"#;

#[tokio::test]
async fn connections_past_max_connections_are_closed_at_once_counted_and_healthz_answers() {
    let config = format!(
        "[server]\nmax_connections = 8\nheader_read_timeout_ms = 20000\n{}",
        route("/hello", "hello")
    );
    let server = TestServer::start_with_admin(&config, None).await;
    let client = http1();
    let before = get_text(&client, server.admin_url("/metrics")).await.1;

    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Held connections are served in their own tasks: wait until the
    // server has accepted all eight (a ninth is then refused).
    let mut flood = Vec::new();
    for _ in 0..20 {
        flood.push(TcpStream::connect(server.addr).await.unwrap());
    }
    for (i, stream) in flood.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "connection {} past max_connections was kept open",
            i + 9
        );
    }
    // The admin listener answers meanwhile, and counts exactly the refusals.
    let (status, body) = get_text(&client, server.admin_url("/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let after = get_text(&client, server.admin_url("/metrics")).await.1;
    assert_eq!(
        metric(&after, REFUSED_MAIN) - metric(&before, REFUSED_MAIN),
        20.0
    );
    // The held ones are still open: the cap, not the header timeout, closed the rest.
    let mut probe = [0u8; 1];
    let open = tokio::time::timeout(Duration::from_millis(100), held[0].read(&mut probe)).await;
    assert!(open.is_err(), "a held connection was closed: {open:?}");

    // Once they go, their slots are free again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match http1().get(server.url("/hello")).send().await {
            Ok(response) if response.status() == 200 => break,
            other => assert!(
                Instant::now() < deadline,
                "/hello not served after the held connections closed: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn the_admin_listener_has_its_own_connection_budget() {
    let server = TestServer::start_with_admin(&route("/hello", "hello"), None).await;
    let admin = server.admin.unwrap();
    let client = http1();
    // Nothing else in this test binary floods an admin listener, so the
    // count is this test's alone; and no request before the flood keeps an
    // admin connection of its own open.
    let mut held = Vec::new();
    for _ in 0..32 {
        held.push(TcpStream::connect(admin).await.unwrap());
    }
    let mut extra = Vec::new();
    for _ in 0..5 {
        extra.push(TcpStream::connect(admin).await.unwrap());
    }
    for stream in &mut extra {
        assert!(
            closed_within(stream, Duration::from_secs(3)).await,
            "an admin connection past its budget of 32 was kept open"
        );
    }
    // The main listener does not share that budget.
    assert_eq!(get_text(&client, server.url("/hello")).await.0, 200);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        if let Ok(response) = client.get(server.admin_url("/metrics")).send().await {
            break response.text().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the admin listener did not recover"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(metric(&after, REFUSED_ADMIN), 5.0);
    server.stop().await;
}

/// The real binary under `sh -c 'ulimit …'`, with an admin listener.
fn spawn_limited(ulimit: &str, config: &std::path::Path) -> Process {
    let script = format!("ulimit {ulimit} && exec \"$@\"");
    Process::spawn_wrapped(
        &["sh", "-c", &script, "sh"],
        config,
        &["--admin-listen", "127.0.0.1:0", "--no-watch"],
    )
}

#[tokio::test]
async fn a_flood_at_a_low_open_file_limit_leaves_healthz_answering() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/hello", "hello")).unwrap();
    // Soft and hard limit 256: the default max_connections is half of it.
    let server = spawn_limited("-n 256", &config);
    let admin = server.admin.unwrap();
    let mut flood = Vec::new();
    for i in 0..400 {
        let connect = TcpStream::connect(server.addr);
        let connected = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .unwrap_or_else(|_| {
                panic!("connection {i} of the flood: the server stopped accepting")
            });
        flood.push(connected.unwrap());
    }
    let client = http1();
    let healthz = tokio::time::timeout(
        Duration::from_secs(10),
        get_text(&client, format!("http://{admin}/healthz")),
    )
    .await
    .expect("/healthz did not answer during the flood");
    assert_eq!(healthz, (200, "ok\n".to_string()));
    // All 400 were accepted: 128 are held, the other 272 refused, once
    // the server has got to the last of them.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = get_text(&client, format!("http://{admin}/metrics")).await.1;
        let refused = metric(&metrics, REFUSED_MAIN);
        if refused == 272.0 {
            break;
        }
        assert!(
            refused < 272.0 && Instant::now() < deadline,
            "refused {refused}, expected 400 - 128 = 272"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stderr_line(&server, &["connection limit", "max_connections=128"]);
    drop(flood);
}

#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/hello", "hello")).unwrap();
    let server = spawn_limited("-Sn 256", &config);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert_ne!(numbers[0], "256", "the soft limit was not raised: {line}");
    assert_eq!(numbers[0], numbers[1], "soft is not the hard limit: {line}");
    stderr_line(&server, &["open-file limit raised", "from=256"]);
}
