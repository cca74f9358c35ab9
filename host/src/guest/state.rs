//! Per-request store data: what one handler instance may see and do.
//!
//! A fresh [`RequestState`] backs every request's `Store`, so nothing leaks
//! between requests. It grants nothing by default: no preopened directories,
//! no sockets (wasmtime-wasi denies them unless allowed), no host environment
//! (only the route's configured `env`), stdin empty, stdout/stderr into the
//! server log tagged with route and request id, outbound HTTP only where the
//! route allows it, linear memory up to the route's budget, and host
//! memory (header maps, body buffers, table entries) up to [`HostBudget`]'s.

use super::budget::HostBudget;
use super::log::GuestLog;
use super::next::NextHop;
use super::outbound::{Outbound, OutboundGate};
use crate::request::RequestTag;
use arc_swap::ArcSwap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data for one request.
pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Outbound,
    /// The instance's memory budget; consulted by wasmtime on every grow.
    pub memory: MemoryBudget,
    /// What the instance may make the host allocate; checked before every
    /// `wasi:http` call.
    pub host: HostBudget,
}

impl RequestState {
    /// State for one request on a route.
    pub fn new(
        env: &[(String, String)],
        tag: &RequestTag,
        memory_limit: usize,
        outbound: Arc<OutboundGate>,
    ) -> RequestState {
        let wasi = WasiCtx::builder()
            .envs(env)
            .stdout(GuestLog::stdout(tag.clone()))
            .stderr(GuestLog::stderr(tag.clone()))
            .build();
        RequestState::assemble(wasi, Outbound::new(tag.clone(), outbound), memory_limit)
    }

    /// Send the guest's requests to the reserved `next` authority to `next`
    /// (when this instance is a middleware).
    pub fn with_next(mut self, next: Option<Arc<dyn NextHop>>) -> RequestState {
        self.hooks.set_next(next);
        self
    }
}

impl RequestState {
    /// State for a reused instance of a route: guest output is tagged with
    /// whichever request `current` holds; [`RequestState::retag`] moves
    /// the rest (outbound log lines) to the next request. The memory budget
    /// is the instance's, so it spans every request the instance serves.
    pub fn for_reuse(
        env: &[(String, String)],
        current: &Arc<ArcSwap<RequestTag>>,
        memory_limit: usize,
        outbound: Arc<OutboundGate>,
    ) -> RequestState {
        let wasi = WasiCtx::builder()
            .envs(env)
            .stdout(GuestLog::stdout_of_current(current.clone()))
            .stderr(GuestLog::stderr_of_current(current.clone()))
            .build();
        let tag = (**current.load()).clone();
        RequestState::assemble(wasi, Outbound::new(tag, outbound), memory_limit)
    }

    fn assemble(wasi: WasiCtx, hooks: Outbound, memory_limit: usize) -> RequestState {
        let (mut table, mut http) = (ResourceTable::new(), WasiHttpCtx::new());
        HostBudget::prepare(&mut table, &mut http);
        RequestState {
            wasi,
            http,
            table,
            hooks,
            memory: MemoryBudget::new(memory_limit),
            host: HostBudget::new(),
        }
    }

    /// A reused instance starts serving `tag`'s request.
    pub fn retag(&mut self, tag: &RequestTag) {
        self.hooks.retag(tag.clone());
    }

    /// Where a pooled instance's requests to `next` go, for the request it
    /// starts serving (see [`RequestState::with_next`]).
    pub fn set_next(&mut self, next: Option<Arc<dyn NextHop>>) {
        self.hooks.set_next(next);
    }
}

/// Caps the linear memory of one instance, all its memories together (a
/// component may have several: its own and an adapter's), and remembers
/// whether the guest ran into the cap so the log can say so.
pub struct MemoryBudget {
    limit: usize,
    used: usize,
    /// Set when a grow was refused.
    pub exceeded: bool,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            limit,
            used: 0,
            exceeded: false,
        }
    }

    /// The cap in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl wasmtime::ResourceLimiter for MemoryBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used + desired.saturating_sub(current);
        if total > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
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
        self.host.check(&mut self.table, &mut self.http);
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
