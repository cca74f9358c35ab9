//! The pooled HTTP/1.1 client each [`Upstream`](super::Upstream) owns, and
//! how its failures read as `wasi:http` errors.
//!
//! A new TCP connection per proxied request costs the upstream a handshake
//! (two round trips with TLS), leaves a socket in `TIME_WAIT` per request
//! and adds latency to every response, which is why nginx, Envoy and Spin
//! keep idle connections to their upstreams. hyper-util's legacy `Client`
//! does exactly that: it checks out an idle keep-alive connection when one
//! is open, opens one when none is, and puts it back once the response body
//! has been read to its end. A connection the upstream closed while it sat
//! idle is dropped from the pool when its close is seen, and a request that
//! was handed such a connection but never written to it is retried on a
//! fresh one. Its own module so `upstream.rs` stays about the request, not
//! the sockets.

use crate::config::Limits;
use hyper_rustls::{ConfigBuilderExt as _, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error, WasiBody};

/// How long an idle connection is kept: 90 s, as Go's `http.Transport` and
/// reqwest do. Long enough to carry any steady traffic (even one request a
/// minute) without a handshake, short enough that an upstream seeing no
/// traffic gets its sockets back soon. Upstreams that close idle connections
/// sooner are fine: the close is seen and the connection left out.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// At most this many idle connections per upstream. Connections in use are
/// already bounded by the route's `max_concurrency`; this caps what stays
/// open after a burst, so a burst of 100 does not keep 100 sockets (and 100
/// of the upstream's workers) around for the next 90 s.
const MAX_IDLE: usize = 32;

/// One upstream's pool of keep-alive connections.
pub(super) type Pool = Client<HttpsConnector<HttpConnector>, WasiBody>;

/// A pool for an upstream with the route's `limits`: `TCP_NODELAY` (a proxy
/// forwards what it has at once), the route's connect timeout, and
/// `https://` upstreams verified against the webpki roots, as guests'
/// outbound requests are.
pub(super) fn pool(limits: &Limits) -> Pool {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(limits.outbound_connect_timeout));
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_webpki_roots()
    .with_no_client_auth();
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE)
        .build(connector)
}

/// The `wasi:http` error for a request that got no response head, and the
/// whole chain of causes for the log.
pub(super) fn classify(error: &hyper_util::client::legacy::Error) -> (Error, String) {
    let why = causes(error);
    let io = sources(error).find_map(|e| e.downcast_ref::<io::Error>());
    let kind = io.map(io::Error::kind);
    let mapped = if kind == Some(io::ErrorKind::TimedOut) {
        Error::ConnectionTimeout
    } else if error.is_connect() {
        match kind {
            Some(io::ErrorKind::ConnectionRefused) => Error::ConnectionRefused,
            _ => Error::Connect(io::Error::other(why.clone())),
        }
    } else {
        match sources(error).find_map(|e| e.downcast_ref::<hyper::Error>()) {
            Some(hyper) if hyper.is_incomplete_message() => Error::HttpResponseIncomplete,
            Some(hyper) if hyper.is_parse() => Error::HttpProtocolError,
            _ => Error::ConnectionTerminated,
        }
    };
    (mapped, why)
}

/// `error` and every error under it.
fn sources<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// "client error (Connect): tcp connect error: Connection refused (os error 111)".
fn causes(error: &(dyn StdError + 'static)) -> String {
    sources(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt as _, Empty};

    #[tokio::test]
    async fn a_port_nobody_listens_on_reads_as_connection_refused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let request = http::Request::get(format!("http://127.0.0.1:{port}/"))
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .unwrap();
        let error = pool(&Limits::default()).request(request).await.unwrap_err();
        let (error, why) = classify(&error);
        assert!(matches!(error, Error::ConnectionRefused), "{error:?}");
        assert!(why.contains("tcp connect error"), "{why}");
    }
}
