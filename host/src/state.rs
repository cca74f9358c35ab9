//! Per-request store data: what one handler instance may see and do.
//!
//! A fresh [`RequestState`] backs every request's `Store`, so nothing leaks
//! between requests. It grants nothing by default: no preopened directories,
//! no sockets (wasmtime-wasi denies them unless allowed), no host environment
//! (only the route's configured `env`), stdin empty, stdout/stderr into the
//! server log tagged with route and request id, and outbound HTTP denied.

use crate::guest_log::GuestLog;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data for one request.
pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: crate::outbound::Outbound,
}

/// Who is asking: used to tag guest output and host log lines.
#[derive(Clone, Debug)]
pub struct RequestTag {
    pub route: Arc<str>,
    pub request_id: Arc<str>,
}

impl RequestState {
    /// State for one request on a route with the given environment.
    pub fn new(env: &[(String, String)], tag: &RequestTag) -> RequestState {
        let wasi = WasiCtx::builder()
            .envs(env)
            .stdout(GuestLog::stdout(tag.clone()))
            .stderr(GuestLog::stderr(tag.clone()))
            .build();
        RequestState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: crate::outbound::Outbound::new(tag.clone()),
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
