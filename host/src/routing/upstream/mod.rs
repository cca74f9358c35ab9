//! The upstream step of a chain: a streaming reverse proxy to a real HTTP
//! server.
//!
//! A route may end in `upstream = "http://host:port"` instead of a
//! component. The request (as the client sent it, or as the last middleware
//! passed it on) goes to that server with the request's own path and query,
//! the body streaming in both directions. Hop-by-hop headers (RFC 9110
//! §7.6.1: `Connection`, every header it names, `Proxy-Connection`,
//! `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`) are dropped both ways;
//! `Host` becomes the upstream's and `X-Forwarded-For/-Proto/-Host` tell it
//! about the client. The route's `outbound_*` timeouts bound the connection,
//! the first byte and the gaps between bytes, and the route's deadline the
//! wait for the response head. An upstream that cannot be reached gives the
//! client `502`, one that is too slow `504`, each with a log line naming the
//! route and the upstream. A response body that stalls longer than the
//! between-bytes timeout is cut short, so the client sees an incomplete
//! response, not a complete one, and the cut is logged.
//!
//! Each upstream owns a pool of keep-alive HTTP/1.1 connections (see
//! `routing/upstream/client.rs`), so requests reuse an idle connection instead of
//! opening one each. The first-byte timeout counts from the moment the
//! request is handed to the pool, so it includes the connect when no idle
//! connection is ready.

mod client;

use super::origin::Origin;
use crate::body::{plain, Holding, Paced};
use crate::config::{Limits, RouteConfig};
use crate::invoke::Admission;
use crate::request::RequestTag;
use crate::telemetry::RouteMetrics;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, WasiBody};

/// One route's upstream server.
pub struct Upstream {
    /// `scheme://host[:port]`.
    pub uri: http::Uri,
    /// The route's name.
    pub route: Arc<str>,
    /// The route's metric handles, when the upstream is its first element.
    pub metrics: Arc<RouteMetrics>,
    limits: Limits,
    /// Instance slots of the route when the upstream is its first element.
    pub slots: Arc<Semaphore>,
    /// Keep-alive connections to the upstream, for this route only.
    pool: client::Pool,
}

impl Upstream {
    /// The upstream of `route`, which must have one.
    pub fn new(route: &RouteConfig) -> Upstream {
        Upstream {
            uri: route.upstream.clone().expect("the route has an upstream"),
            route: route.name.as_str().into(),
            metrics: RouteMetrics::new(&route.name),
            limits: route.limits.clone(),
            slots: Arc::new(Semaphore::new(route.limits.max_concurrency)),
            pool: client::pool(&route.limits),
        }
    }

    /// Whether this upstream was made from exactly `route`'s settings.
    pub fn matches(&self, route: &RouteConfig) -> bool {
        route.upstream.as_ref() == Some(&self.uri)
            && *self.route == *route.name
            && self.limits == route.limits
    }

    pub fn max_request_body(&self) -> u64 {
        self.limits.max_request_body
    }

    /// Send `request` to the upstream and return its response, or the `502`
    /// or `504` the client gets when that fails. `held` (the route's slot,
    /// when the upstream is the route's first element) is released when the
    /// response body ends.
    pub async fn forward(
        &self,
        request: http::Request<WasiBody>,
        tag: &RequestTag,
        origin: &Origin,
        arrived: Instant,
        held: Option<Admission>,
    ) -> http::Response<WasiBody> {
        let mut request = self.rewrite(request, origin);
        // The upstream joins the request's trace under this hop's span.
        let span = (tag.trace.as_ref()).map(|parent| {
            let span = parent.outgoing(request.method(), request.uri());
            span.inject(request.headers_mut());
            span
        });
        let deadline = arrived + self.limits.timeout;
        let first_byte = self.limits.outbound_first_byte_timeout;
        let send = tokio::time::timeout(first_byte, client::send(&self.pool, request));
        let (status, why) = match tokio::time::timeout_at(deadline.into(), send).await {
            Ok(Ok(Ok(response))) => {
                let (mut parts, body) = response.into_parts();
                if let Some(span) = &span {
                    span.answered(Ok(parts.status.as_u16()));
                }
                strip_hop_by_hop(&mut parts.headers);
                let gap = self.limits.outbound_between_bytes_timeout;
                let (tag, uri) = (tag.clone(), self.uri.clone());
                let body = Paced::new(body, gap).map_err(move |error| {
                    tracing::warn!(route = %tag.route, request_id = %tag.request_id,
                        trace_id = tag.trace_id(), upstream = %uri, "upstream response body failed, cutting it short: {error}");
                    error
                });
                let body = Holding { body, held }.boxed_unsync();
                return http::Response::from_parts(parts, body);
            }
            Ok(Ok(Err(error))) => {
                let (error, why) = client::classify(&error);
                match error {
                    Error::ConnectionTimeout => (StatusCode::GATEWAY_TIMEOUT, why),
                    _ => (StatusCode::BAD_GATEWAY, why),
                }
            }
            Ok(Err(_elapsed)) => (
                StatusCode::GATEWAY_TIMEOUT,
                format!("no response head within outbound_first_byte_timeout of {first_byte:?}"),
            ),
            Err(_elapsed) => (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "no response within the route's deadline of {:?}",
                    self.limits.timeout
                ),
            ),
        };
        tracing::warn!(route = %tag.route, request_id = %tag.request_id,
            trace_id = tag.trace_id(), upstream = %self.uri,
            status = status.as_u16(), "upstream request failed: {why}");
        if let Some(span) = &span {
            span.answered(Err(format!("upstream request failed: {why}")));
        }
        let message = match status {
            StatusCode::GATEWAY_TIMEOUT => "gateway timeout: the upstream did not answer in time\n",
            _ => "bad gateway: the upstream could not be reached\n",
        };
        plain(status, message)
    }

    /// The request as the upstream receives it.
    fn rewrite<B>(&self, request: http::Request<B>, origin: &Origin) -> http::Request<B> {
        let (mut parts, body) = request.into_parts();
        let mut uri = http::uri::Parts::default();
        uri.scheme = self.uri.scheme().cloned();
        uri.authority = self.uri.authority().cloned();
        uri.path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .or(Some(http::uri::PathAndQuery::from_static("/")));
        parts.uri = http::Uri::from_parts(uri).expect("an upstream URI with a path");
        // The client may have come over HTTP/2; the upstream hop is HTTP/1.1.
        parts.version = http::Version::HTTP_11;
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers);
        if let Some(authority) = self.uri.authority() {
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                headers.insert(header::HOST, host);
            }
        }
        forwarded(headers, origin);
        http::Request::from_parts(parts, body)
    }
}

/// Add the `X-Forwarded-*` headers: the client's address appended to any
/// `X-Forwarded-For` already present (the service keeps one only when it
/// came from a `trusted_proxies` peer), the scheme and the host it asked for.
fn forwarded(headers: &mut HeaderMap, origin: &Origin) {
    const FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    const HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
    if let Some(client) = origin.client {
        let earlier: Vec<&str> = headers
            .get_all(&FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut chain = earlier.join(", ");
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&client.to_string());
        if let Ok(value) = HeaderValue::from_str(&chain) {
            headers.insert(FOR, value);
        }
    }
    let proto = if origin.tls { "https" } else { "http" };
    headers.insert(PROTO, HeaderValue::from_static(proto));
    if let Some(value) = origin
        .authority
        .as_ref()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        headers.insert(HOST, value);
    }
}

/// Drop the headers that describe one connection rather than the message
/// (RFC 9110 §7.6.1), including every header `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("proxy-connection"),
        HeaderName::from_static("keep-alive"),
        header::TE,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-secret"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-connection", "keep-alive"),
            ("x-secret", "1"),
            ("x-kept", "2"),
            ("content-type", "text/plain"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-kept"]);
    }

    #[test]
    fn the_client_is_appended_to_x_forwarded_for() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        let origin = Origin {
            authority: Some("example.com:8080".parse().unwrap()),
            client: Some("127.0.0.1".parse().unwrap()),
            tls: false,
        };
        forwarded(&mut headers, &origin);
        assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "example.com:8080");
    }
}
