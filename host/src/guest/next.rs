//! How a middleware passes a request on: the reserved authority `next`,
//! and the [`NextHop`] a middleware's instance hands such requests to.
//!
//! A middleware is an ordinary `wasi:http/proxy` component; it passes the
//! request on by sending an outgoing request to `http://next/<path>`. What
//! `next` leads to (the rest of the route's chain) is the routing layer's
//! business: it implements [`NextHop`] and gives one to the instance's
//! store, so the guest layer calls the chain without naming it, the shape of
//! wasmtime's `WasiHttpHooks` and axum's `Next`.

use crate::telemetry::trace::Span;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, WasiBody};

/// The authority a middleware sends a request to to pass it on.
pub const NEXT_AUTHORITY: &str = "next";

/// Whether `uri` addresses the next element of the chain.
pub fn is_next(uri: &http::Uri) -> bool {
    uri.authority()
        .is_some_and(|a| a.as_str().eq_ignore_ascii_case(NEXT_AUTHORITY))
}

/// What a middleware's response from `next` is on its way.
pub type NextResponse =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, Error>> + Send>>;

/// The rest of a middleware's chain, for one request: runs the next element
/// on the middleware's outgoing request and returns that element's response
/// as the middleware's incoming response.
pub trait NextHop: Send + Sync {
    /// `within` is the span of the element calling `next` (while tracing
    /// is on): the next element's span is its child.
    fn send(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        within: Option<Span>,
    ) -> NextResponse;
}
