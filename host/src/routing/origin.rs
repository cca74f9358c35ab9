//! Where the client's request came from, as the next element of a chain
//! and an upstream are told: the authority it asked for, its address, and
//! whether it came over TLS. Taken once from the request the server parsed,
//! before a middleware could rewrite any of it.

use crate::request::ClientAddr;
use std::net::IpAddr;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// Where the client's request came from, as the upstream is told.
pub struct Origin {
    pub authority: Option<http::uri::Authority>,
    pub client: Option<IpAddr>,
    /// Whether the client came over TLS: what `next` and the upstream's
    /// `X-Forwarded-Proto` say.
    pub tls: bool,
}

impl Origin {
    /// The client's authority and address, from the request the server
    /// parsed; `tls` when it came over TLS.
    pub fn of<B>(request: &http::Request<B>, tls: bool) -> Origin {
        let authority = request.uri().authority().cloned().or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|host| host.to_str().ok())
                .and_then(|host| host.parse().ok())
        });
        Origin {
            authority,
            client: request.extensions().get::<ClientAddr>().map(|a| a.0.ip()),
            tls,
        }
    }

    /// The scheme the next element sees.
    pub fn scheme(&self) -> Scheme {
        if self.tls {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }
}
