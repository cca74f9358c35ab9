//! Our own connect step for guest outbound requests: resolve the name,
//! check every address, connect to one that passed, speak HTTP/1.1 on it.
//!
//! wasmtime-wasi-http's default sender hands the authority to
//! `TcpStream::connect`, which resolves and connects with no say for the
//! host, so an allowed name could lead anywhere. Here the name is resolved
//! once, the way the system resolver reads it (`localhost`, `2130706433`
//! and `0x7f.1` all become 127.0.0.1), the gate judges the addresses
//! ([`super::address`]), and the connection goes to an address that was
//! judged: there is no second lookup for a rebinding DNS server to answer
//! differently. The guest's `Host` header and the TLS server name (SNI and
//! certificate check) stay the name the guest asked for.

use crate::body::Paced;
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wasmtime_wasi_http::{Error, WasiBody};

/// Where a request goes: the URL's host (an IPv6 address without its
/// brackets), port and scheme.
#[derive(Debug)]
pub(super) struct Destination {
    pub host: String,
    pub port: u16,
    pub https: bool,
}

impl Destination {
    pub fn of(uri: &http::Uri) -> Result<Destination, Error> {
        let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Destination {
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            https,
        })
    }

    /// Every address the system resolver gives for the host, in its order
    /// (an IP address is its own answer, with no lookup).
    pub async fn resolve(&self, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        let addrs = match tokio::time::timeout_at(deadline, lookup).await {
            Err(_) => return Err(Error::DnsTimeout),
            Ok(Err(error)) => return Err(dns_error(error.to_string())),
            Ok(Ok(addrs)) => addrs.collect::<Vec<_>>(),
        };
        match addrs.is_empty() {
            true => Err(dns_error("no addresses".into())),
            false => Ok(addrs),
        }
    }
}

fn dns_error(why: String) -> Error {
    Error::DnsError {
        rcode: Some(why),
        info_code: None,
    }
}

/// The response head, and the future that drives the connection while the
/// body streams (wasmtime-wasi-http runs it in a task of its own).
pub(super) type Sent = (
    http::Response<WasiBody>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
);

/// The time limits of one request, already capped by the route's.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timing {
    /// When connecting (TCP, TLS and the HTTP/1.1 handshake) must be done.
    pub connect_by: Instant,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

/// Connect to the first of `addrs` that answers, all of them checked
/// addresses of `to`, and send `request` over that connection.
pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    to: &Destination,
    addrs: &[SocketAddr],
    tls: &Arc<rustls::ClientConfig>,
    timing: Timing,
) -> Result<Sent, Error> {
    let tcp = tokio::time::timeout_at(timing.connect_by, connect_any(addrs))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let io: Box<dyn Stream> = match to.https {
        false => Box::new(tcp),
        true => {
            let name = server_name(&to.host)?;
            let handshake = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp);
            let stream = tokio::time::timeout_at(timing.connect_by, handshake)
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(Error::Tls)?;
            Box::new(stream)
        }
    };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(io));
    let (mut sender, connection) = tokio::time::timeout_at(timing.connect_by, handshake)
        .await
        .map_err(|_| Error::ConnectionTimeout)??;

    // On the wire, the request line carries only the path: the authority is
    // in the Host header the guest's request already has.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;

    // Drive the connection while waiting for the response head.
    let mut connection = Box::pin(connection);
    let mut head = pin!(tokio::time::timeout(
        timing.first_byte,
        sender.send_request(request)
    ));
    let (head, connection) = tokio::select! {
        head = &mut head => (head, Some(connection)),
        ended = &mut connection => {
            ended?;
            // It ended cleanly before the response: the head says why.
            (head.await, None)
        }
    };
    let response = head.map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response
        .map(|body| Paced::new(body, timing.between_bytes))
        .map(BodyExt::boxed_unsync);
    let io = async move {
        drop(sender);
        let Some(connection) = connection else {
            return Ok(());
        };
        connection.await.map_err(|error| match error.is_timeout() {
            true => Error::HttpResponseTimeout,
            false => Error::from(error),
        })
    };
    Ok((response, Box::new(io)))
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A TCP connection to the first of `addrs` that accepts one, or the last
/// address's error.
async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) => last = Some(error),
        }
    }
    Err(last.map_or(Error::DestinationNotFound, Error::Connect))
}

/// The name TLS checks the certificate against and sends as SNI: the URL's
/// host, an IP address for an address (which rustls sends no SNI for).
fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_string()).map_err(|_| Error::HttpRequestUriInvalid)
}

/// TLS for `https://` destinations: the webpki roots, as wasmtime-wasi-http
/// and the upstream client use, with the ring provider the host links.
pub(super) fn tls_config() -> Arc<rustls::ClientConfig> {
    use hyper_rustls::ConfigBuilderExt as _;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_webpki_roots()
    .with_no_client_auth();
    Arc::new(config)
}
