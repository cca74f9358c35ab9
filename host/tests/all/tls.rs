//! HTTPS: the real binary with `--tls-cert/--tls-key` and a certificate
//! generated here (rcgen), spoken to over TLS by a client that trusts only
//! that certificate. The start-up line says `https`; ALPN picks HTTP/2 or
//! HTTP/1.1; TLS 1.2 and 1.3 clients are served; PKCS#8, PKCS#1 and SEC1
//! keys and a leaf-first chain work; guests (0.2 and 0.3) see the scheme
//! `https`; clients that fail the handshake (plaintext, untrusting, silent)
//! do not disturb anyone else, and one that never finishes it is closed after
//! `header_read_timeout_ms`; every bad certificate/key refuses to start with
//! one line naming the file.

use crate::common::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A certificate chain and its key, written as PEM files, and the
/// certificate a client must trust to accept it (for a self-signed
/// certificate, the certificate itself).
struct Cert {
    der: CertificateDer<'static>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// A self-signed certificate for `localhost` (ECDSA P-256, PKCS#8 key).
fn generate(dir: &Path, name: &str) -> Cert {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&cert_file, generated.cert.pem()).unwrap();
    std::fs::write(&key_file, generated.signing_key.serialize_pem()).unwrap();
    Cert {
        der: generated.cert.der().clone(),
        cert_file,
        key_file,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    cert: Cert,
    server: Process,
}

/// The real binary serving `/hello`, `/echo`, `/stream` and `/p3/hello` over TLS.
fn serve_tls() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cert = generate(dir.path(), "server");
    serve_cert(dir, cert, "")
}

/// The config of [`serve_tls`] in `dir`, with `extra` TOML after the routes.
fn tls_config(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "{}{}{}{}{extra}",
            route("/hello", "hello"),
            route("/echo", "echo"),
            route("/stream", "stream"),
            route("/p3/hello", "hello-p3")
        ),
    )
    .unwrap();
    config
}

/// [`serve_tls`] with `cert` (its files in `dir`) and `extra` config TOML.
fn serve_cert(dir: tempfile::TempDir, cert: Cert, extra: &str) -> Setup {
    let config = tls_config(dir.path(), extra);
    let server = Process::spawn(
        &config,
        &[
            "--tls-cert",
            cert.cert_file.to_str().unwrap(),
            "--tls-key",
            cert.key_file.to_str().unwrap(),
            "--no-watch",
        ],
    );
    Setup {
        _dir: dir,
        cert,
        server,
    }
}

fn connector(trusted: &CertificateDer<'static>, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    connector_for(trusted, alpn, rustls::DEFAULT_VERSIONS)
}

/// A client trusting only `trusted`, offering `alpn` and only `versions`.
fn connector_for(
    trusted: &CertificateDer<'static>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// What one GET over TLS saw.
#[derive(Debug)]
struct Answer {
    alpn: Option<String>,
    version: http::Version,
    status: u16,
    body: String,
}

/// GET `path` over a fresh TLS connection offering `alpn`.
async fn get(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
    alpn: &[&[u8]],
    path: &str,
) -> Answer {
    answer(open(addr, trusted, alpn, "GET", path, b"").await).await
}

/// What an [`open`]ed request saw, its body read whole.
async fn answer(
    (chosen, response): (Option<String>, hyper::Response<hyper::body::Incoming>),
) -> Answer {
    let version = response.version();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        alpn: chosen,
        version,
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Send one request over a fresh TLS connection offering `alpn`; return
/// the protocol the server chose and the response, its body still coming.
async fn open(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
    alpn: &[&[u8]],
    method: &str,
    path: &str,
    body: &'static [u8],
) -> (Option<String>, hyper::Response<hyper::body::Incoming>) {
    let tls = handshake(addr, &connector(trusted, alpn)).await;
    send(tls, "localhost", method, path, body).await
}

/// A TLS connection to `addr` (as `localhost`) through `connector`.
async fn handshake(addr: SocketAddr, connector: &tokio_rustls::TlsConnector) -> Tls {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    connector
        .connect(name, tcp)
        .await
        .unwrap_or_else(|error| panic!("TLS handshake with {addr}: {error}"))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// Send one request over `tls` to `authority`, in the protocol ALPN chose;
/// return that protocol and the response, its body still coming.
async fn send(
    tls: Tls,
    authority: &str,
    method: &str,
    path: &str,
    body: &'static [u8],
) -> (Option<String>, hyper::Response<hyper::body::Incoming>) {
    let chosen = tls
        .get_ref()
        .1
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    // HTTP/2 carries scheme and authority in the URI; HTTP/1.1 sends the
    // path and a Host header, as browsers do.
    let request = match chosen.as_deref() {
        Some("h2") => http::Request::builder().uri(format!("https://{authority}{path}")),
        _ => http::Request::builder().uri(path).header("host", authority),
    };
    let request = request.method(method);
    let request = request.body(Full::new(Bytes::from_static(body))).unwrap();
    let response = if chosen.as_deref() == Some("h2") {
        let (mut send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(connection);
        send.send_request(request).await.unwrap()
    } else {
        let (mut send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(connection);
        send.send_request(request).await.unwrap()
    };
    (chosen, response)
}

#[tokio::test]
async fn alpn_picks_h2_when_offered_and_http1_otherwise() {
    let setup = serve_tls();
    let addr = setup.server.addr;
    let der = &setup.cert.der;

    let h2 = get(addr, der, &[b"h2", b"http/1.1"], "/hello").await;
    assert_eq!(h2.alpn.as_deref(), Some("h2"), "{h2:?}");
    assert_eq!(h2.version, http::Version::HTTP_2);
    assert_eq!(
        (h2.status, h2.body.as_str()),
        (200, "Hello from Switchyard! GET /hello\n")
    );

    let http1 = get(addr, der, &[b"http/1.1"], "/hello?over=tls").await;
    assert_eq!(http1.alpn.as_deref(), Some("http/1.1"), "{http1:?}");
    assert_eq!(http1.version, http::Version::HTTP_11);
    assert_eq!(
        (http1.status, http1.body.as_str()),
        (200, "Hello from Switchyard! GET /hello?over=tls\n")
    );

    // A client that offers no ALPN at all still gets HTTP/1.1.
    let plain = get(addr, der, &[], "/hello").await;
    assert_eq!(plain.alpn, None);
    assert_eq!((plain.version, plain.status), (http::Version::HTTP_11, 200));

    // Request bodies cross TLS intact in both protocols.
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let echoed =
            answer(open(addr, der, &[alpn], "POST", "/echo", b"sent over TLS").await).await;
        assert_eq!(
            (echoed.status, echoed.body.as_str()),
            (200, "sent over TLS"),
            "{echoed:?}"
        );
    }
}

#[tokio::test]
async fn failed_handshakes_do_not_disturb_other_connections() {
    let setup = serve_tls();
    let addr = setup.server.addr;
    let der = &setup.cert.der;

    // A client that connects and never says anything: the handshake waits
    // in its own task, not in the accept loop.
    let _silent = TcpStream::connect(addr).await.unwrap();

    // A plaintext HTTP client on the TLS port gets no HTTP answer, only a
    // TLS alert and a closed connection.
    let mut plaintext = TcpStream::connect(addr).await.unwrap();
    plaintext
        .write_all(b"GET /hello HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    plaintext.read_to_end(&mut answer).await.unwrap();
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "plaintext got an HTTP answer: {answer:?}"
    );
    assert_eq!(
        answer.first(),
        Some(&0x15),
        "expected a TLS alert record: {answer:?}"
    );

    // A TLS client that does not trust the certificate aborts the handshake.
    let stranger = generate(setup._dir.path(), "stranger");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let refused = connector(&stranger.der, &[b"h2"])
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(
        refused.is_err(),
        "a client trusting another certificate connected"
    );

    // Meanwhile (the silent client still connected) both protocols answer.
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let answer = get(addr, der, &[alpn], "/hello").await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_tls_streams_finish() {
    let mut setup = serve_tls();
    let addr = setup.server.addr;
    let path = "/stream?bytes=8000&chunk=1000&delay_ms=200";
    let mut bodies = Vec::new();
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let (_, response) = open(addr, &setup.cert.der, &[alpn], "GET", path, b"").await;
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        bodies.push((body, first.len()));
    }

    setup.server.signal("TERM");
    for (mut body, mut received) in bodies {
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("the in-flight body must complete");
            received += frame.data_ref().map_or(0, |d| d.len());
        }
        assert_eq!(received, 8000);
    }
    let status = tokio::task::spawn_blocking(move || setup.server.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn the_start_up_line_says_https() {
    let dir = tempfile::tempdir().unwrap();
    let cert = generate(dir.path(), "server");
    let config = tls_config(dir.path(), "");
    let mut server = Started::command(|command| {
        command
            .args(["serve", "--no-watch", "--admin-listen", "none"])
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--tls-cert")
            .arg(&cert.cert_file)
            .arg("--tls-key")
            .arg(&cert.key_file);
    });
    // Exactly `listening on https://ADDR`, and HTTPS is served at ADDR.
    let addr = server.address_line("listening on https://");
    assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST, "{addr}");
    assert_ne!(addr.port(), 0);
    let answer = get(addr, &cert.der, &[b"h2"], "/hello").await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn tls_1_2_and_tls_1_3_clients_each_complete_requests() {
    let setup = serve_tls();
    let addr = setup.server.addr;
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        for alpn in [&b"h2"[..], b"http/1.1"] {
            let connector = connector_for(&setup.cert.der, &[alpn], &[version]);
            let tcp = TcpStream::connect(addr).await.unwrap();
            let tls = connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap_or_else(|error| panic!("a {expected:?}-only client: {error}"));
            assert_eq!(tls.get_ref().1.protocol_version(), Some(expected));
            let answer = answer(send(tls, "localhost", "GET", "/hello", b"").await).await;
            assert_eq!(
                (answer.status, answer.body.as_str()),
                (200, "Hello from Switchyard! GET /hello\n"),
                "{expected:?} {answer:?}"
            );
        }
    }
}

/// Run the `openssl` command-line tool, for key encodings rcgen (with
/// ring) cannot write and RSA keys it cannot generate.
fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("this test needs the `openssl` command-line tool to write PKCS#1 and SEC1 keys: {error}")
        });
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed `localhost` certificate for `key` and, as the server's
/// key file, `key_file` (the same key in the encoding under test), which
/// must begin with `pem_header`.
fn cert_with_key_file(
    dir: &Path,
    key: &rcgen::KeyPair,
    key_file: PathBuf,
    pem_header: &str,
) -> Cert {
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        key_text.starts_with(pem_header),
        "{} is not {pem_header}: {key_text}",
        key_file.display()
    );
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(key)
        .unwrap();
    let cert_file = dir.join("server.crt");
    std::fs::write(&cert_file, cert.pem()).unwrap();
    Cert {
        der: cert.der().clone(),
        cert_file,
        key_file,
    }
}

/// The server with `cert` answers `/hello` and presents that certificate.
async fn serves_with(dir: tempfile::TempDir, cert: Cert) {
    let setup = serve_cert(dir, cert, "");
    let tls = handshake(setup.server.addr, &connector(&setup.cert.der, &[b"h2"])).await;
    assert_eq!(
        tls.get_ref().1.peer_certificates(),
        Some(&[setup.cert.der.clone()][..])
    );
    let answer = answer(send(tls, "localhost", "GET", "/hello", b"").await).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn an_rsa_pkcs1_key_serves() {
    let dir = tempfile::tempdir().unwrap();
    let pkcs8 = dir.path().join("rsa-pkcs8.pem");
    let pkcs1 = dir.path().join("rsa.key");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &path(&pkcs8),
    ]);
    openssl(&[
        "rsa",
        "-in",
        &path(&pkcs8),
        "-traditional",
        "-out",
        &path(&pkcs1),
    ]);
    let key = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(
        &std::fs::read_to_string(&pkcs8).unwrap(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let cert = cert_with_key_file(dir.path(), &key, pkcs1, "-----BEGIN RSA PRIVATE KEY-----\n");
    serves_with(dir, cert).await;
}

#[tokio::test]
async fn an_ec_sec1_key_serves() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let pkcs8 = dir.path().join("ec-pkcs8.pem");
    std::fs::write(&pkcs8, key.serialize_pem()).unwrap();
    let sec1 = dir.path().join("ec.key");
    openssl(&[
        "ec",
        "-in",
        pkcs8.to_str().unwrap(),
        "-out",
        sec1.to_str().unwrap(),
    ]);
    let cert = cert_with_key_file(dir.path(), &key, sec1, "-----BEGIN EC PRIVATE KEY-----\n");
    serves_with(dir, cert).await;
}

/// Parameters for a CA certificate named `name`.
fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params
}

#[tokio::test]
async fn a_chain_leaf_first_reaches_a_client_that_trusts_only_the_root() {
    // root → intermediate → leaf; the file holds the leaf, then the
    // intermediate. A client that trusts only the root can verify the leaf
    // only if the server sends the intermediate too, after the leaf.
    let root = rcgen::CertifiedIssuer::self_signed(
        ca_params("test root"),
        rcgen::KeyPair::generate().unwrap(),
    )
    .unwrap();
    let intermediate = rcgen::CertifiedIssuer::signed_by(
        ca_params("test intermediate"),
        rcgen::KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &intermediate)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("chain.crt");
    std::fs::write(&cert_file, format!("{}{}", leaf.pem(), intermediate.pem())).unwrap();
    let key_file = dir.path().join("leaf.key");
    std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();
    let cert = Cert {
        der: root.der().clone(),
        cert_file,
        key_file,
    };
    let setup = serve_cert(dir, cert, "");
    let tls = handshake(setup.server.addr, &connector(&setup.cert.der, &[b"h2"])).await;
    assert_eq!(
        tls.get_ref().1.peer_certificates(),
        Some(&[leaf.der().clone(), intermediate.der().clone()][..]),
        "the server sends the file's chain, leaf first"
    );
    let answer = answer(send(tls, "localhost", "GET", "/hello", b"").await).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn guests_see_the_scheme_https_and_the_clients_authority() {
    let setup = serve_tls();
    let addr = setup.server.addr;
    let authority = format!("localhost:{}", addr.port());
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let tls = handshake(addr, &connector(&setup.cert.der, &[alpn])).await;
        let (chosen, response) = send(tls, &authority, "GET", "/echo?over=tls", b"").await;
        assert_eq!(response.status(), 200, "{chosen:?}");
        assert_eq!(
            response.headers()["x-echo-url"],
            format!("https://{authority}/echo?over=tls").as_str(),
            "{chosen:?}"
        );
        // A wasi:http 0.3 guest reads them from the URI the host builds.
        let tls = handshake(addr, &connector(&setup.cert.der, &[alpn])).await;
        let (chosen, response) = send(tls, &authority, "GET", "/p3/hello?over=tls", b"").await;
        assert_eq!(response.status(), 200, "{chosen:?}");
        assert_eq!(
            response.headers()["x-url"],
            format!("https://{authority}/p3/hello?over=tls").as_str(),
            "{chosen:?}: a 0.3 guest"
        );
    }
}

/// How long until the server closes `stream` (EOF or reset); fails after 5 s.
async fn closed_after(mut stream: TcpStream) -> Duration {
    let start = Instant::now();
    let mut buffer = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        // Anything it sends first (an alert) is read past.
        while let Ok(n) = stream.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection is still open 5 s later");
    start.elapsed()
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_closed_after_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cert = generate(dir.path(), "server");
    let setup = serve_cert(dir, cert, "[server]\nheader_read_timeout_ms = 500\n");
    let addr = setup.server.addr;
    let silent = async { closed_after(TcpStream::connect(addr).await.unwrap()).await };
    let partial = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // A handshake record header promising 512 bytes, then nothing.
        stream
            .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
            .await
            .unwrap();
        closed_after(stream).await
    };
    let (silent, partial) = tokio::join!(silent, partial);
    for (client, took) in [
        ("silent", silent),
        ("a record header, then nothing", partial),
    ] {
        assert!(
            took >= Duration::from_millis(450),
            "{client}: closed after {took:?}, before the 500 ms timeout"
        );
        assert!(
            took < Duration::from_secs(3),
            "{client}: closed only after {took:?}"
        );
    }
    let answer = get(addr, &setup.cert.der, &[b"h2"], "/hello").await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// Run `serve` with a valid route and the given TLS flags: exit code and
/// the `error:` line.
fn start_with_tls(flags: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, route("/hello", "hello")).unwrap();
    let mut args = vec![
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(flags);
    run_to_exit(&args)
}

/// A fresh folder holding a `server` certificate and key.
fn server_cert() -> (tempfile::TempDir, Cert) {
    let dir = tempfile::tempdir().unwrap();
    let cert = generate(dir.path(), "server");
    (dir, cert)
}

/// [`refuses`], the one line also naming `file`.
fn refuses_naming(cert: &Path, key: &Path, file: &Path, needles: &[&str]) {
    let file = file.display().to_string();
    refuses(cert, key, &[needles, &[file.as_str()]].concat());
}

/// The server refuses to start: exit 1 and exactly one line of output,
/// `error: ...` containing every needle.
fn refuses(cert: &Path, key: &Path, needles: &[&str]) {
    let (code, stderr) = start_with_tls(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "{needle:?} not in {stderr:?}");
    }
}

#[test]
fn missing_certificate_or_key_file() {
    let (dir, cert) = server_cert();
    let nowhere = dir.path().join("nowhere.pem");
    refuses_naming(
        &nowhere,
        &cert.key_file,
        &nowhere,
        &["cannot read TLS certificate", "No such file"],
    );
    refuses_naming(
        &cert.cert_file,
        &nowhere,
        &nowhere,
        &["cannot read TLS key", "No such file"],
    );
}

#[test]
fn certificate_that_is_not_pem() {
    let (dir, cert) = server_cert();
    // DER bytes, as some tools write them: no PEM block at all.
    let der = dir.path().join("server.der");
    std::fs::write(&der, cert.der.as_ref()).unwrap();
    refuses_naming(
        &der,
        &cert.key_file,
        &der,
        &["TLS certificate", "no certificate found"],
    );
    // A PEM block that never ends.
    let cut = dir.path().join("cut.pem");
    let pem = std::fs::read_to_string(&cert.cert_file).unwrap();
    std::fs::write(&cut, &pem[..pem.len() / 2]).unwrap();
    refuses_naming(
        &cut,
        &cert.key_file,
        &cut,
        &["TLS certificate", "not valid PEM"],
    );
}

#[test]
fn key_file_without_a_key() {
    let (_dir, cert) = server_cert();
    // The certificate given twice: the "key" file has no private key in it.
    refuses_naming(
        &cert.cert_file,
        &cert.cert_file,
        &cert.cert_file,
        &["TLS key", "no private key found"],
    );
}

#[test]
fn encrypted_key() {
    let (dir, cert) = server_cert();
    // What `openssl pkcs8 -topk8` writes with a passphrase (the body is not
    // looked at: rustls cannot decrypt keys at all).
    let encrypted = dir.path().join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    refuses_naming(
        &cert.cert_file,
        &encrypted,
        &encrypted,
        &["TLS key", "the private key is encrypted"],
    );
}

#[test]
fn key_that_belongs_to_another_certificate() {
    let (dir, server) = server_cert();
    let other = generate(dir.path(), "other");
    let cert_text = server.cert_file.display().to_string();
    refuses_naming(
        &server.cert_file,
        &other.key_file,
        &other.key_file,
        &["TLS key", "does not match certificate", &cert_text],
    );
}

#[test]
fn cert_and_key_flags_come_together() {
    let (code, stderr) = start_with_tls(&["--tls-cert", "server.crt"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let (code, stderr) = start_with_tls(&["--tls-key", "server.key"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-cert"), "{stderr}");
}
