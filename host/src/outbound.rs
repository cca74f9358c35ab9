//! Outbound HTTP from guests (`wasi:http/outgoing-handler`): denied.
//!
//! A handler gets no network unless the operator grants it. Every outgoing
//! request fails inside the guest with the wasi:http error code
//! `HTTP-request-denied`, an error the guest can handle rather than a trap,
//! and the host logs which route tried to reach which URL.

use crate::state::RequestTag;
use std::future::Future;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// The `WasiHttpHooks` of one request.
pub struct Outbound {
    tag: RequestTag,
}

impl Outbound {
    pub fn new(tag: RequestTag) -> Outbound {
        Outbound { tag }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        tracing::warn!(
            route = %self.tag.route,
            request_id = %self.tag.request_id,
            url = %request.uri(),
            "outbound request denied: no outbound hosts are allowed for this route"
        );
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
