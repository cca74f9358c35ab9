//! Per-request store data: what one handler instance may see and do.
//!
//! A fresh [`RequestState`] backs every request's `Store`, so nothing leaks
//! between requests. It grants nothing by default: no preopened directories,
//! no sockets (wasmtime-wasi denies them unless allowed), no host environment
//! (only the route's configured `env`), stdin empty, stdout/stderr into the
//! server log tagged with route and request id, outbound HTTP only where the
//! route allows it, linear memory up to the route's budget, and host
//! memory (header maps, body buffers, table entries) up to [`HostBudget`]'s.
//! wasi:config answers the route's variables and wasi:keyvalue opens only
//! the stores it grants ([`Grants`]).

use super::budget::HostBudget;
use super::grants::Grants;
use super::keyvalue::{KeyValueAccess, KeyValueView};
use super::log::GuestLog;
use super::next::NextHop;
use super::outbound::{Outbound, OutboundGate};
use crate::request::RequestTag;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data for one request.
pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Outbound,
    config: Arc<WasiConfigVariables>,
    key_value: KeyValueAccess,
    /// The instance's memory budget; consulted by wasmtime on every grow.
    pub memory: MemoryBudget,
    /// What the instance may make the host allocate; checked before every
    /// `wasi:http` call.
    pub host: HostBudget,
}

impl RequestState {
    /// State for one request on a route.
    /// Store calls end by `deadline`, the request's.
    pub fn new(
        grants: &Grants,
        tag: &RequestTag,
        deadline: Instant,
        memory_limit: usize,
        outbound: Arc<OutboundGate>,
    ) -> RequestState {
        let wasi = WasiCtx::builder()
            .envs(&grants.env)
            .stdout(GuestLog::stdout(tag.clone()))
            .stderr(GuestLog::stderr(tag.clone()))
            .build();
        let hooks = Outbound::new(tag.clone(), outbound);
        let mut state = RequestState::assemble(wasi, hooks, grants, tag, memory_limit);
        state.key_value.retag(tag, Some(deadline));
        state
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
        grants: &Grants,
        current: &Arc<ArcSwap<RequestTag>>,
        memory_limit: usize,
        outbound: Arc<OutboundGate>,
    ) -> RequestState {
        let wasi = WasiCtx::builder()
            .envs(&grants.env)
            .stdout(GuestLog::stdout_of_current(current.clone()))
            .stderr(GuestLog::stderr_of_current(current.clone()))
            .build();
        let tag = (**current.load()).clone();
        let hooks = Outbound::new(tag.clone(), outbound);
        RequestState::assemble(wasi, hooks, grants, &tag, memory_limit)
    }

    fn assemble(
        wasi: WasiCtx,
        hooks: Outbound,
        grants: &Grants,
        tag: &RequestTag,
        memory_limit: usize,
    ) -> RequestState {
        let (mut table, mut http) = (ResourceTable::new(), WasiHttpCtx::new());
        HostBudget::prepare(&mut table, &mut http);
        RequestState {
            wasi,
            http,
            table,
            hooks,
            config: grants.config.clone(),
            key_value: KeyValueAccess::new(grants.key_value.clone(), tag.clone(), grants.timeout),
            memory: MemoryBudget::new(memory_limit),
            host: HostBudget::new(),
        }
    }

    /// A reused instance starts serving `tag`'s request, due at `deadline`
    /// (`None` when it serves several at once: store calls are then bounded
    /// by the route's timeout alone).
    pub fn retag(&mut self, tag: &RequestTag, deadline: Option<Instant>) {
        self.hooks.retag(tag.clone());
        self.key_value.retag(tag, deadline);
    }

    /// wasi:config's view: the route's variables.
    pub fn config(&mut self) -> WasiConfig<'_> {
        WasiConfig::from(&*self.config)
    }

    /// wasi:keyvalue's view: the route's stores, until the deadline.
    pub fn key_value(&mut self) -> KeyValueView<'_> {
        KeyValueView {
            access: &self.key_value,
            table: &mut self.table,
        }
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
