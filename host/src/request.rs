//! What every layer knows about a request it is working on: who it is for
//! ([`RequestTag`], on every log line about it), where it came from
//! ([`ClientAddr`], [`OverTls`], put on it by the server), the body
//! length it declares, and the one spelling of its path everything after
//! the server sees ([`path`]).
//!
//! These sit at the bottom of the crate so that the guest's log, the
//! outbound hooks, the chain and the service can all name a request without
//! naming each other.

pub mod path;

use std::net::SocketAddr;
use std::sync::Arc;

/// Who is asking: the route and request id that tag guest output and host
/// log lines.
#[derive(Clone, Debug)]
pub struct RequestTag {
    pub route: Arc<str>,
    pub request_id: Arc<str>,
}

/// The client's address, put on each request by the server (for
/// `X-Forwarded-For` when a route ends in an upstream).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// Marks a request that arrived over TLS (set by the server), so the guest
/// sees the scheme `https`.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// The request's declared body length, if it declares a valid one.
pub fn content_length<B>(request: &http::Request<B>) -> Option<u64> {
    request
        .headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
