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
//! fresh one. One race is left to us: the upstream closing a reused
//! connection just as our request crosses the close on the wire (its
//! keep-alive timeout firing). hyper cannot know whether the request was
//! acted on, so [`send`] retries it once on a new connection only when
//! repeating it is harmless: an idempotent method and no body, as nginx
//! does for its cached connections. Its own module so `upstream/mod.rs` stays
//! about the request, not the sockets.

use crate::config::Limits;
use http_body::Body as _;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
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

/// Send `request` on a pooled connection, retrying it once on a new one if
/// the upstream closed the connection under it and repeating it is harmless.
pub(super) async fn send(
    pool: &Pool,
    request: http::Request<WasiBody>,
) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
    let again = replayable(&request);
    match (pool.request(request).await, again) {
        (Err(error), Some(again)) if closed_under(&error) => {
            tracing::debug!(
                "upstream closed the connection under the request; retrying once: {}",
                causes(&error)
            );
            pool.request(again).await
        }
        (sent, _) => sent,
    }
}

/// A copy of `request` to send again, if it has an idempotent method (RFC
/// 9110 §9.2.2) and no body.
fn replayable(request: &http::Request<WasiBody>) -> Option<http::Request<WasiBody>> {
    let body = request.body();
    let empty = body.is_end_stream() || body.size_hint().exact() == Some(0);
    if !(empty && request.method().is_idempotent()) {
        return None;
    }
    let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
    let mut copy = http::Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

/// Whether the connection was closed (or reset) after the request went out
/// and before a whole response head came back.
fn closed_under(error: &hyper_util::client::legacy::Error) -> bool {
    !error.is_connect()
        && sources(error).any(|e| {
            e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_incomplete_message)
                || e.downcast_ref::<io::Error>().is_some_and(|e| {
                    matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::BrokenPipe
                    )
                })
        })
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
